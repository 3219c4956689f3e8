package kernel_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/test/kerneltest"
)

// The W^X bypass suite: every route to executable memory holding bytes the
// process wrote, tried under builtin/wx (denied) and without krsi (the same
// operation works, so the denial is krsi's). docs/threat-model.md lists them.

func devShm(t *testing.T) string {
	t.Helper()
	if err := os.MkdirAll("/dev/shm", 0o1777); err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", 0, ""); err != nil {
			t.Fatalf("mount tmpfs on /dev/shm: %v", err)
		}
	}
	return "/dev/shm"
}

func TestBypassWX(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	tru := kerneltest.Env(t, "KRSI_DYN_TRUE")
	shm := devShm(t)

	tests := []struct {
		name string
		// args gives the probe's arguments, in a fresh folder for files.
		args  func(dir string) []string
		event []string
		// execs: success is the target's run (exit 0), not the probe's "ok".
		execs bool
	}{
		{"pkey_mprotect RW to RX", func(string) []string { return []string{"pkey-mprotect-rw-rx"} },
			[]string{"hook=file_mprotect", "reason=wx-anonymous"}, false},
		{"main thread stack made executable", func(string) []string { return []string{"stack-mprotect-x"} },
			[]string{"hook=file_mprotect", "reason=wx-writable"}, false},
		{"memfd mapped RW and RX at once", func(string) []string { return []string{"memfd-rw-rx"} },
			[]string{"hook=mmap_file", "reason=wx-fileless"}, false},
		{"/dev/shm file mapped RW and RX at once", func(d string) []string {
			return []string{"shared-rw-rx", filepath.Join(shm, "krsi-"+filepath.Base(d))}
		}, []string{"hook=mmap_file", "reason=wx-open-for-write"}, false},
		{"tmpfs file mapped RW and RX at once", func(d string) []string {
			return []string{"shared-rw-rx", filepath.Join(d, "code")}
		}, []string{"hook=mmap_file", "reason=wx-open-for-write"}, false},
		{"file written then mapped executable", func(d string) []string {
			return []string{"write-map-rx", filepath.Join(d, "lib.so")}
		}, []string{"hook=mmap_file", "reason=wx-written"}, false},
		{"memfd reopened read-only then mapped executable", func(string) []string { return []string{"memfd-reopen-rx"} },
			[]string{"hook=mmap_file", "reason=wx-fileless"}, false},
		{"memfd mapped read-only then mprotect RX", func(string) []string { return []string{"memfd-mprotect-rx"} },
			[]string{"hook=file_mprotect", "reason=wx-fileless"}, false},
		{"write into code through /proc/self/mem", func(string) []string { return []string{"procmem-write"} },
			[]string{"hook=file_open", "reason=wx-code-write"}, false},
		{"ptrace attach (POKETEXT)", func(string) []string { return []string{"ptrace-attach"} },
			[]string{"hook=ptrace", "reason=wx-code-write"}, false},
		{"ptrace traceme", func(string) []string { return []string{"ptrace-traceme", "/bin/true"} },
			[]string{"hook=ptrace", "reason=wx-code-write"}, false},
		{"System V shm attached SHM_EXEC", func(string) []string { return []string{"shm-exec"} },
			[]string{"hook=shm_shmat", "reason=wx-code-write"}, false},
		{"userfaultfd (UFFDIO_COPY into code)", func(string) []string { return []string{"userfaultfd"} },
			[]string{"hook=userfaultfd", "reason=wx-code-write"}, false},
		{"dropped ELF executed", func(d string) []string {
			return []string{"copy-exec", tru, filepath.Join(d, "dropped")}
		}, []string{"hook=bprm_check_security", "reason=wx-written"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Parallel: each krsi run loads and verifies its profile's programs, which
			// takes seconds under TCG; the VM has two CPUs.
			t.Parallel()
			check(t, krsiRun(t, "builtin/wx", nil, tt.args(t.TempDir())...), denied,
				append([]string{"action=denied", "profile=builtin/wx"}, tt.event...)...)

			r := kerneltest.Run(t, "", append([]string{probe}, tt.args(t.TempDir())...)...)
			if tt.execs {
				if r.Exit != 0 {
					t.Fatalf("without krsi: %s", r)
				}
				return
			}
			check(t, r, allowed)
		})
	}
}

func TestBypassWXFileMappedExecutableCannotBeRewritten(t *testing.T) {
	kerneltest.Require(t)
	// Made outside the container: not written under W^X, so it may be mapped.
	f := filepath.Join(t.TempDir(), "lib.so")
	if err := os.WriteFile(f, make([]byte, 4096), 0o755); err != nil {
		t.Fatal(err)
	}
	check(t, krsiRun(t, "builtin/wx", nil, "map-rx-then-write", f), denied,
		"hook=file_open", "reason=wx-exec-mapped")
	check(t, kerneltest.Run(t, "", kerneltest.Env(t, "KRSI_PROBE"), "map-rx-then-write", f), allowed)
}

// process_vm_writev honours page protections: the kernel refuses it with
// EFAULT whether krsi runs or not, so it is no route around W^X.
func TestBypassWXProcessVMWritevIsRefusedByTheKernel(t *testing.T) {
	kerneltest.Require(t)
	for _, r := range []kerneltest.Result{
		krsiRun(t, "builtin/wx", nil, "process-vm-writev"),
		kerneltest.Run(t, "", kerneltest.Env(t, "KRSI_PROBE"), "process-vm-writev"),
	} {
		if r.Exit != 2 || !strings.Contains(r.Stdout, "bad address") {
			t.Fatalf("want EFAULT from the kernel; got %s", r)
		}
	}
}

// What W^X must leave alone: loading programs and libraries, files the
// container writes but never executes, and running a program from a memfd,
// which is exec.fileless's decision (runtimes do it: runc's sealed copy of
// itself, inside the container's cgroup).
func TestBypassWXLeavesOrdinaryWorkAlone(t *testing.T) {
	kerneltest.Require(t)
	d := t.TempDir()
	check(t, krsiRun(t, "builtin/wx", nil, "open", filepath.Join(d, "data"), "c"), allowed)
	if r := krsiRun(t, "builtin/wx", nil, "exec", kerneltest.Env(t, "KRSI_DYN_TRUE")); r.Exit != 0 {
		t.Fatalf("a dynamic program under W^X: %s", r)
	}
	if r := krsiRun(t, "builtin/wx", nil, "exec", "/bin/sh", "-c", "echo x > "+filepath.Join(d, "f")+" && cat "+filepath.Join(d, "f")); r.Exit != 0 {
		t.Fatalf("a shell writing and reading a file under W^X: %s", r)
	}
	if r := krsiRun(t, "builtin/wx", nil, "memfd-exec", kerneltest.Env(t, "KRSI_DYN_TRUE")); r.Exit != 0 {
		t.Fatalf("a program run from a memfd under W^X alone: %s", r)
	}
}
