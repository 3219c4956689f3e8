package kernel_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/test/kerneltest"
)

// The exec bypass suite: other names and other ways to run a program an exec
// rule denies. A deny list names paths, so a route that gives the program a
// new name is closed where the name is made (link, rename) or left to an
// allow list (a copy): docs/threat-model.md.

// copyFile makes a copy of src at dst, outside any container.
func copyFile(t *testing.T, src, dst string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dst) })
	return dst
}

// allowList is an exec allow list with the probe, the loader and its
// libraries, plus extra.
func allowList(t *testing.T, extra ...string) string {
	list := append([]string{kerneltest.Env(t, "KRSI_PROBE"), "/lib/**", "/lib64/**", "/usr/lib/**"}, extra...)
	return writeProfile(t, fmt.Sprintf("exec:\n  allow: [%s]\n", strings.Join(list, ", ")))
}

func TestBypassExec(t *testing.T) {
	kerneltest.Require(t)
	tru := kerneltest.Env(t, "KRSI_DYN_TRUE")
	// Copies on the same file system as true (hard links cannot cross mounts).
	victim := copyFile(t, tru, "/usr/local/dyn/victim")
	denyTrue := writeProfile(t, fmt.Sprintf("exec:\n  deny: [%s, %s]\n", tru, victim))
	lax := writeProfile(t, "exec:\n  deny: [/nonexistent]\n")
	allowTrue := allowList(t, tru)
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!"+tru+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		profile string
		args    func(dir string) []string
		event   []string
		// control is a profile under which the same attempt succeeds ("" for none).
		control string
	}{
		{"via /proc/self/fd/N", denyTrue, func(string) []string { return []string{"exec-procfd", tru} },
			[]string{"hook=bprm_check_security", "path=" + tru}, lax},
		{"via execveat(AT_EMPTY_PATH)", denyTrue, func(string) []string { return []string{"execveat", tru} },
			[]string{"hook=bprm_check_security", "path=" + tru}, lax},
		{"a #! script whose interpreter is denied", denyTrue, func(string) []string { return []string{"exec", script} },
			[]string{"hook=bprm_check_security", "path=" + tru}, lax},
		{"a hard link made inside", denyTrue, func(string) []string {
			return []string{"link", victim, "/usr/local/dyn/victim-link"}
		}, []string{"hook=path_link", "reason=rule", "path=" + victim}, lax},
		{"a rename made inside", denyTrue, func(string) []string {
			return []string{"rename", victim, "/usr/local/dyn/victim-renamed"}
		}, []string{"hook=path_rename", "reason=rule", "path=" + victim}, ""},
		{"a copy, under an allow list", allowTrue, func(d string) []string {
			return []string{"copy-exec", tru, filepath.Join(d, "copy")}
		}, []string{"hook=bprm_check_security", "reason=default", "/copy"}, allowList(t, tru, "/tmp/**")},
		{"a memfd copy, under an allow list", allowTrue, func(string) []string { return []string{"memfd-exec", tru} },
			[]string{"hook=bprm_check_security", "memfd:krsi-probe"}, ""},
		{"ld.so loading the program", denyTrue, func(string) []string {
			return []string{"exec", kerneltest.Env(t, "KRSI_LDSO"), tru}
		}, []string{"hook=mmap_file", "path=" + tru}, lax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Parallel: each krsi run loads and verifies its profile's programs, which
			// takes seconds under TCG; the VM has two CPUs.
			t.Parallel()
			r := confinedRun(t, tt.profile, tt.args(t.TempDir())...)
			if !strings.HasPrefix(r.Stdout, "denied:") && !strings.Contains(r.Stderr, "action=denied") {
				t.Fatalf("want the attempt denied; got %s", r)
			}
			for _, f := range append([]string{"action=denied"}, tt.event...) {
				if !strings.Contains(r.Stderr, f) {
					t.Fatalf("krsi's event lacks %q: %s", f, r.Stderr)
				}
			}
			if tt.control == "" {
				return
			}
			if r := confinedRun(t, tt.control, tt.args(t.TempDir())...); r.Exit != 0 {
				t.Fatalf("control: the same attempt under a profile that allows it failed: %s", r)
			}
			os.Remove("/usr/local/dyn/victim-link")
		})
	}
}

// A bind mount gives a file a second path; exec rules match the path the
// process used, as the kernel resolves it (what bpf_d_path gives), so an
// allow list denies the unlisted mount path while the listed one runs.
func TestBypassExecFromABindMount(t *testing.T) {
	kerneltest.Require(t)
	tru := kerneltest.Env(t, "KRSI_DYN_TRUE")
	mnt := filepath.Join(t.TempDir(), "bind")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(filepath.Dir(tru), mnt, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	via := filepath.Join(mnt, filepath.Base(tru))

	p := allowList(t, tru)
	r := confinedRun(t, p, "exec", via)
	if r.Exit == 0 || !strings.Contains(r.Stderr, "reason=default") || !strings.Contains(r.Stderr, "path="+via) {
		t.Fatalf("want exec through the bind mount denied as %s; got %s", via, r)
	}
	if r := confinedRun(t, p, "exec", tru); r.Exit != 0 {
		t.Fatalf("the listed path: %s", r)
	}
	// And a rule on the mount's path holds there.
	deny := writeProfile(t, fmt.Sprintf("exec:\n  deny: [%s/**]\n", mnt))
	if r := confinedRun(t, deny, "exec", via); r.Exit == 0 || !strings.Contains(r.Stderr, "path="+via) {
		t.Fatalf("want a deny on %s/** to hold: %s", mnt, r)
	}
}

// After chroot(DIR), DIR/usr/bin/app would be /usr/bin/app to every path
// rule: a process under path rules may not change its root.
func TestBypassExecChroot(t *testing.T) {
	kerneltest.Require(t)
	d := t.TempDir()
	check(t, confinedRun(t, allowList(t), "chroot", d), denied, "hook=path_chroot", "reason=reroot", "path="+d)
	check(t, kerneltest.Run(t, "", kerneltest.Env(t, "KRSI_PROBE"), "chroot", d), allowed)
	// W^X alone has no path rule for a new root to change.
	check(t, confinedRun(t, "builtin/wx", "chroot", d), allowed)
}
