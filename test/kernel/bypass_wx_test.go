package kernel_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/profiles"
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
			check(t, confinedRun(t, "builtin/wx", tt.args(t.TempDir())...), denied,
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
	check(t, confinedRun(t, "builtin/wx", "map-rx-then-write", f), denied,
		"hook=file_open", "reason=wx-exec-mapped")
	check(t, kerneltest.Run(t, "", kerneltest.Env(t, "KRSI_PROBE"), "map-rx-then-write", f), allowed)
}

// process_vm_writev honours page protections: the kernel refuses it with
// EFAULT whether krsi runs or not, so it is no route around W^X.
func TestBypassWXProcessVMWritevIsRefusedByTheKernel(t *testing.T) {
	kerneltest.Require(t)
	for _, r := range []kerneltest.Result{
		confinedRun(t, "builtin/wx", "process-vm-writev"),
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
	check(t, confinedRun(t, "builtin/wx", "open", filepath.Join(d, "data"), "c"), allowed)
	if r := confinedRun(t, "builtin/wx", "exec", kerneltest.Env(t, "KRSI_DYN_TRUE")); r.Exit != 0 {
		t.Fatalf("a dynamic program under W^X: %s", r)
	}
	if r := confinedRun(t, "builtin/wx", "exec", "/bin/sh", "-c", "echo x > "+filepath.Join(d, "f")+" && cat "+filepath.Join(d, "f")); r.Exit != 0 {
		t.Fatalf("a shell writing and reading a file under W^X: %s", r)
	}
	if r := confinedRun(t, "builtin/wx", "memfd-exec", kerneltest.Env(t, "KRSI_DYN_TRUE")); r.Exit != 0 {
		t.Fatalf("a program run from a memfd under W^X alone: %s", r)
	}
}

// Kernel objects mapped twice, writable and executable: memory the kernel
// shares through a file no user mounted (io_uring's rings, an AF_PACKET
// ring), and a character device mapped shared and executable. Under W^X none
// is made executable (reason wx-kernel-object); without krsi each works.
func TestBypassWXKernelObjects(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	for _, tt := range []struct{ name, cmd string }{
		{"io_uring SQEs mapped RW and RX", "io-uring-rw-rx"},
		{"AF_PACKET ring mapped RW and RX", "packet-ring-rw-rx"},
		{"/dev/zero mapped shared RX", "devzero-shared-rx"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check(t, confinedRun(t, "builtin/wx", tt.cmd), denied,
				"action=denied", "hook=mmap_file", "reason=wx-kernel-object")
			check(t, kerneltest.Run(t, "", probe, tt.cmd), allowed)
		})
	}
}

// memfd_secret: a regular file (S_IFREG) on an internal mount. 6.1 offers it
// only when booted with secretmem.enable=1 (ENOSYS otherwise, with or without
// krsi); 6.5 and later offer it by default, and 6.12 refuses to map it
// executable by itself (EPERM without krsi: its mount is noexec). Wherever
// the kernel lets it be mapped RX, W^X must refuse it.
func TestBypassWXMemfdSecret(t *testing.T) {
	kerneltest.Require(t)
	control := kerneltest.Run(t, "", kerneltest.Env(t, "KRSI_PROBE"), "memfd-secret-rw-rx")
	r := confinedRun(t, "builtin/wx", "memfd-secret-rw-rx")
	if strings.Contains(control.Stdout, "function not implemented") {
		if !strings.Contains(r.Stdout, "memfd_secret: function not implemented") {
			t.Fatalf("the kernel refuses memfd_secret without krsi, but not under it: %s", r)
		}
		t.Logf("this kernel refuses memfd_secret (ENOSYS): %s", control.Stdout)
		return
	}
	if control.Denied() {
		if !r.Denied() {
			t.Fatalf("the kernel refuses an executable secret mapping without krsi, but not under it: %s", r)
		}
		t.Logf("this kernel refuses an executable secret mapping by itself: %s", control.Stdout)
		return
	}
	check(t, control, allowed)
	check(t, r, denied, "hook=mmap_file", "reason=wx-kernel-object")
}

// withInterp writes a copy of the dynamic program prog whose PT_INTERP names
// interp (it must fit in prog's own), and returns it and prog's interpreter.
func withInterp(t *testing.T, prog, interp string) (string, string) {
	t.Helper()
	data, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		orig := string(bytes.TrimRight(data[p.Off:p.Off+p.Filesz], "\x00"))
		if uint64(len(interp)) >= p.Filesz {
			t.Fatalf("interpreter %q longer than %s's (%d bytes)", interp, prog, p.Filesz-1)
		}
		field := make([]byte, p.Filesz)
		copy(field, interp)
		copy(data[p.Off:], field)
		out := filepath.Join(t.TempDir(), "prog")
		if err := os.WriteFile(out, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return out, orig
	}
	t.Fatalf("%s has no PT_INTERP", prog)
	return "", ""
}

// shortDir is a new folder with a path short enough for a PT_INTERP.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "i")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// The kernel's ELF loader opens and maps a program's interpreter (PT_INTERP)
// itself: no bprm_check_security runs for it. A program the container did
// not write, whose PT_INTERP names a file it did write (or a memfd, or a copy
// of a program its rules deny), must not run; nor may the interpreter of a
// program it ran be rewritten afterwards. Each works without krsi.
func TestBypassWXInterpreter(t *testing.T) {
	kerneltest.Require(t)
	tru := kerneltest.Env(t, "KRSI_DYN_TRUE")
	probe := kerneltest.Env(t, "KRSI_PROBE")

	t.Run("interpreter the container wrote", func(t *testing.T) {
		t.Parallel()
		d := shortDir(t)
		prog, interp := withInterp(t, tru, filepath.Join(d, "ld"))
		check(t, confinedRun(t, "builtin/wx", "copy-then-exec", interp, filepath.Join(d, "ld"), prog), denied,
			"action=denied", "hook=elf_interp", "reason=wx-written")
		if r := kerneltest.Run(t, "", probe, "copy-then-exec", interp, filepath.Join(d, "ld"), prog); r.Exit != 0 {
			t.Fatalf("without krsi: %s", r)
		}
	})
	t.Run("interpreter with no name (a memfd)", func(t *testing.T) {
		t.Parallel()
		prog, interp := withInterp(t, tru, "/proc/self/fd/9")
		check(t, confinedRun(t, "builtin/wx", "memfd-interp-exec", interp, prog), denied,
			"action=denied", "hook=elf_interp", "reason=wx-fileless")
		if r := kerneltest.Run(t, "", probe, "memfd-interp-exec", interp, prog); r.Exit != 0 {
			t.Fatalf("without krsi: %s", r)
		}
	})
	t.Run("interpreter denied by an exec rule", func(t *testing.T) {
		t.Parallel()
		d := shortDir(t)
		prog, interp := withInterp(t, tru, filepath.Join(d, "ld"))
		data, err := os.ReadFile(interp)
		if err != nil {
			t.Fatal(err)
		}
		// Written here, outside the container: only the rule can deny it.
		if err := os.WriteFile(filepath.Join(d, "ld"), data, 0o755); err != nil {
			t.Fatal(err)
		}
		p := writeProfile(t, "exec:\n  deny: [\""+filepath.Join(d, "ld")+"\"]\n")
		check(t, confinedRun(t, p, "exec", prog), denied,
			"action=denied", "hook=elf_interp", "reason=rule", "path="+filepath.Join(d, "ld"))
		if r := kerneltest.Run(t, "", probe, "exec", prog); r.Exit != 0 {
			t.Fatalf("without krsi: %s", r)
		}
	})
	t.Run("interpreter of a program that ran, opened for writing", func(t *testing.T) {
		t.Parallel()
		d := shortDir(t)
		prog, interp := withInterp(t, tru, filepath.Join(d, "ld"))
		data, err := os.ReadFile(interp)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "ld"), data, 0o755); err != nil {
			t.Fatal(err)
		}
		check(t, confinedRun(t, "builtin/wx", "run-then-open-w", prog, filepath.Join(d, "ld")), denied,
			"action=denied", "hook=file_open", "reason=wx-exec-mapped")
		check(t, kerneltest.Run(t, "", probe, "run-then-open-w", prog, filepath.Join(d, "ld")), allowed)
	})
}

// Mapping a file executable and opening it for writing, from two threads at
// once: each side marks the file, then looks for the other's mark, with
// atomic operations, so they cannot both pass.
func TestBypassWXMapAndWriteRace(t *testing.T) {
	kerneltest.Require(t)
	f := filepath.Join(t.TempDir(), "lib.so")
	// Made outside the container: neither written nor mapped by it.
	if err := os.WriteFile(f, make([]byte, 4096), 0o755); err != nil {
		t.Fatal(err)
	}
	check(t, confinedRun(t, "builtin/wx", "race-map-write", f), denied, "action=denied")
	check(t, kerneltest.Run(t, "", kerneltest.Env(t, "KRSI_PROBE"), "race-map-write", f), allowed)
}

// A writable descriptor of a file the container mapped executable, received
// over a unix socket (no open in the receiver): refused like an open.
func TestBypassWXReceivedWritableDescriptor(t *testing.T) {
	kerneltest.Require(t)
	for _, withKrsi := range []bool{true, false} {
		f := filepath.Join(t.TempDir(), "lib.so")
		if err := os.WriteFile(f, make([]byte, 4096), 0o755); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(t.TempDir(), "s")
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		// Opened once the probe connects, after its mapping: a writer open
		// before would make the mapping itself fail (wx-open-for-write).
		go func() {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			defer c.Close()
			w, err := os.OpenFile(f, os.O_RDWR, 0)
			if err != nil {
				return
			}
			defer w.Close()
			c.WriteMsgUnix([]byte("fd"), unix.UnixRights(int(w.Fd())), nil)
		}()
		var r kerneltest.Result
		if withKrsi {
			r = confinedRun(t, "builtin/wx", "map-rx-recv-fd", f, sock)
		} else {
			r = kerneltest.Run(t, "", kerneltest.Env(t, "KRSI_PROBE"), "map-rx-recv-fd", f, sock)
		}
		l.Close()
		if withKrsi {
			check(t, r, denied, "action=denied", "hook=file_receive", "reason=wx-exec-mapped")
		} else {
			check(t, r, allowed)
		}
	}
}

// The marks are the container's: a file one W^X container wrote (an init
// container filling a shared volume) runs in another W^X container, not in
// the one that wrote it nor in a cgroup nested in it; a file one container
// mapped executable may be written by another, not by itself.
func TestBypassWXMarksAreTheContainers(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	tru := kerneltest.Env(t, "KRSI_DYN_TRUE")
	p, err := profiles.Builtin("wx")
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Compile()
	if err != nil {
		t.Fatal(err)
	}
	e, err := enforcement.Open(enforcement.Options{For: []*profiles.Compiled{c}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	id, err := e.SetProfile(c)
	if err != nil {
		t.Fatal(err)
	}
	bound := func(name string) string {
		dir, _ := kerneltest.Cgroup(t, name)
		if err := e.Bind(kerneltest.ID(t, dir), id, profiles.ModeEnforce); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	initC, app := bound("wx-init"), bound("wx-app")
	prog := filepath.Join(t.TempDir(), "prog")

	check(t, kerneltest.Run(t, initC, probe, "copy", tru, prog), allowed)
	check(t, kerneltest.Run(t, app, probe, "map-rx", prog), allowed)
	if r := kerneltest.Run(t, app, prog); r.Exit != 0 {
		t.Fatalf("another W^X container runs what the init container wrote: %s", r)
	}
	check(t, kerneltest.Run(t, initC, probe, "map-rx", prog), denied)
	check(t, kerneltest.Run(t, initC, probe, "exec", prog), denied)
	nested := filepath.Join(initC, "nested")
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	check(t, kerneltest.Run(t, nested, probe, "map-rx", prog), denied)

	check(t, kerneltest.Run(t, app, probe, "open", prog, "w"), denied)
	check(t, kerneltest.Run(t, initC, probe, "open", prog, "w"), allowed)
}

// A program whose PT_GNU_STACK asks for an executable stack gets one from the
// ELF loader during execve, without mmap or mprotect. krsi tells it at the
// loader's first mapping of the program, after the point of no return: the
// exec cannot fail with EPERM there, the process is killed instead.
func TestBypassWXExecutableStackFromELFHeader(t *testing.T) {
	kerneltest.Require(t)
	tru := kerneltest.Env(t, "KRSI_DYN_TRUE")
	data, err := os.ReadFile(tru)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	patched := false
	for i, p := range f.Progs {
		if p.Type == elf.PT_GNU_STACK {
			// p_flags is the second word of an Elf64_Phdr (e_phoff at 0x20, e_phentsize at 0x36).
			phoff := binary.LittleEndian.Uint64(data[0x20:])
			phentsize := uint64(binary.LittleEndian.Uint16(data[0x36:]))
			binary.LittleEndian.PutUint32(data[phoff+uint64(i)*phentsize+4:], uint32(elf.PF_R|elf.PF_W|elf.PF_X))
			patched = true
		}
	}
	if !patched {
		t.Fatalf("%s has no PT_GNU_STACK", tru)
	}
	prog := filepath.Join(t.TempDir(), "xstack")
	if err := os.WriteFile(prog, data, 0o755); err != nil {
		t.Fatal(err)
	}
	r := confinedRun(t, "builtin/wx", "exec", prog)
	if r.Exit == 0 || !strings.Contains(r.Stderr, "reason=wx-exec-stack") || !strings.Contains(r.Stderr, "hook=mmap_file") {
		t.Fatalf("want the program killed at its first mapping and an event: %s", r)
	}
	if r := kerneltest.Run(t, "", kerneltest.Env(t, "KRSI_PROBE"), "exec", prog); r.Exit != 0 {
		t.Fatalf("without krsi: %s", r)
	}
}
