package kernel_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/test/kerneltest"
)

// The files bypass suite: a read-only rule (deny: [write]) must hold against
// every change that does not go through open(2), and against every way into
// the file other than a plain path lookup. Each denial is paired with the same
// operation on a writable folder under the same profile, which succeeds.

// roTree makes dir/ro and dir/rw, each with a file f, a folder d and a file
// g, and a profile that makes dir/ro read-only.
func roTree(t *testing.T) (dir, profile string) {
	t.Helper()
	dir = t.TempDir()
	for _, sub := range []string{"ro", "rw"} {
		if err := os.MkdirAll(filepath.Join(dir, sub, "d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, sub, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"f", "g"} {
			if err := os.WriteFile(filepath.Join(dir, sub, f), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir, writeProfile(t, fmt.Sprintf("files:\n  rules:\n    - path: %s/ro/**\n      deny: [write]\n", dir))
}

func TestBypassFilesChangesWithoutOpen(t *testing.T) {
	kerneltest.Require(t)
	tests := []struct {
		name string
		// args in tree x ("ro" or "rw") of dir; other is the other tree.
		args func(x, other string) []string
		hook string
		path func(x, other string) string // the path the event names
	}{
		{"unlink", func(x, _ string) []string { return []string{"unlink", x + "/f"} }, "path_unlink", func(x, _ string) string { return x + "/f" }},
		{"rmdir", func(x, _ string) []string { return []string{"rmdir", x + "/d"} }, "path_rmdir", func(x, _ string) string { return x + "/d" }},
		{"mkdir", func(x, _ string) []string { return []string{"mkdir", x + "/new"} }, "path_mkdir", func(x, _ string) string { return x + "/new" }},
		{"mknod (fifo)", func(x, _ string) []string { return []string{"mkfifo", x + "/new"} }, "path_mknod", func(x, _ string) string { return x + "/new" }},
		{"symlink", func(x, _ string) []string { return []string{"symlink", "/etc/passwd", x + "/new"} }, "path_symlink", func(x, _ string) string { return x + "/new" }},
		{"truncate", func(x, _ string) []string { return []string{"truncate", x + "/f"} }, "path_truncate", func(x, _ string) string { return x + "/f" }},
		{"chmod", func(x, _ string) []string { return []string{"chmod", x + "/f"} }, "path_chmod", func(x, _ string) string { return x + "/f" }},
		{"fchmod of a read-only descriptor", func(x, _ string) []string { return []string{"fchmod", x + "/f"} }, "path_chmod", func(x, _ string) string { return x + "/f" }},
		{"chown", func(x, _ string) []string { return []string{"chown", x + "/f"} }, "path_chown", func(x, _ string) string { return x + "/f" }},
		{"rename out of it", func(x, o string) []string { return []string{"rename", x + "/f", o + "/moved"} }, "path_rename", func(x, _ string) string { return x + "/f" }},
		{"rename into it", func(x, o string) []string { return []string{"rename", o + "/g", x + "/new"} }, "path_rename", func(x, _ string) string { return x + "/new" }},
		{"rename over a file in it", func(x, o string) []string { return []string{"rename", o + "/f", x + "/g"} }, "path_rename", func(x, _ string) string { return x + "/g" }},
		{"rename exchange", func(x, _ string) []string { return []string{"rename-exchange", x + "/f", x + "/g"} }, "path_rename", func(x, _ string) string { return x + "/f" }},
		{"hard link into it", func(x, o string) []string { return []string{"link", o + "/g", x + "/new"} }, "path_link", func(x, _ string) string { return x + "/new" }},
		{"hard link of its file elsewhere", func(x, o string) []string { return []string{"link", x + "/f", o + "/alias"} }, "path_link", func(x, _ string) string { return x + "/f" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Parallel: each krsi run loads and verifies its profile's programs, which
			// takes seconds under TCG; the VM has two CPUs.
			t.Parallel()
			dir, p := roTree(t)
			ro, rw := dir+"/ro", dir+"/rw"
			check(t, confinedRun(t, p, tt.args(ro, rw)...), denied, "hook="+tt.hook, "reason=rule",
				"path="+tt.path(ro, rw))
			// The control: the same change with both ends writable.
			dir, p = roTree(t)
			rw = dir + "/rw"
			check(t, confinedRun(t, p, tt.args(rw, rw)...), allowed)
		})
	}
}

func TestBypassFilesOtherWaysIn(t *testing.T) {
	kerneltest.Require(t)
	// Held open by this test (outside the container) for /proc/PID/fd.
	tests := []struct {
		name string
		args func(x string, held int) []string
	}{
		{".. traversal", func(x string, _ int) []string { return []string{"open", x + "/sub/../f", "w"} }},
		{"a symlink from elsewhere", func(x string, _ int) []string {
			return []string{"open", filepath.Dir(x) + "/link-" + filepath.Base(x), "w"}
		}},
		{"/proc/self/root", func(x string, _ int) []string { return []string{"open", "/proc/self/root" + x + "/f", "w"} }},
		{"openat2 RESOLVE_BENEATH", func(x string, _ int) []string { return []string{"openat2-beneath", x, "f", "w"} }},
		{"open_by_handle_at", func(x string, _ int) []string { return []string{"open-by-handle", x + "/f", "w"} }},
		{"/proc/PID/fd of another process", func(_ string, held int) []string {
			return []string{"open", fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), held), "w"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Parallel: each krsi run loads and verifies its profile's programs, which
			// takes seconds under TCG; the VM has two CPUs.
			t.Parallel()
			dir, p := roTree(t)
			for _, x := range []string{"ro", "rw"} {
				symlink(t, filepath.Join(dir, x, "f"), filepath.Join(dir, "link-"+x))
			}
			for _, x := range []string{"ro", "rw"} {
				f, err := os.Open(filepath.Join(dir, x, "f"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				want, ev := denied, []string{"hook=file_open", "path=" + dir + "/ro/f"}
				if x == "rw" {
					want, ev = allowed, nil
				}
				check(t, confinedRun(t, p, tt.args(filepath.Join(dir, x), int(f.Fd()))...), want, ev...)
			}
		})
	}
}

// A descriptor passed over a unix socket is not opened by the receiver:
// file_receive holds it to the rules by the access it was opened with.
func TestBypassFilesDescriptorPassing(t *testing.T) {
	kerneltest.Require(t)
	dir, p := roTree(t)
	for _, x := range []string{"ro", "rw"} {
		sock := filepath.Join(t.TempDir(), "s")
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(dir, x, "f"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			defer c.Close()
			c.WriteMsgUnix([]byte("fd"), unix.UnixRights(int(f.Fd())), nil)
		}()
		r := confinedRun(t, p, "recv-fd", sock)
		l.Close()
		f.Close()
		if x == "ro" {
			check(t, r, denied, "hook=file_receive", "path="+dir+"/ro/f")
		} else {
			check(t, r, allowed)
		}
	}
}

var eventPath = regexp.MustCompile(`path=("(?:[^"\\]|\\.)*"|[^ )]+)`)

func pathOfEvent(t *testing.T, r kerneltest.Result) string {
	t.Helper()
	m := eventPath.FindStringSubmatch(r.Stderr)
	if m == nil {
		t.Fatalf("no path in krsi's event: %s", r)
	}
	if strings.HasPrefix(m[1], `"`) {
		s, err := strconv.Unquote(m[1])
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return m[1]
}

// On 6.1 the path_* hooks cannot call bpf_d_path; krsi walks the dentries and
// mounts itself. The walk must name every file as bpf_d_path does (file_open
// uses bpf_d_path on both kernels): across mounts, through bind mounts, on
// the root file system, deep down, and with names that need quoting.
func TestBypassFilesPathWalkEqualsDPath(t *testing.T) {
	kerneltest.Require(t)
	tmp := t.TempDir()
	deep := tmp
	for i := 0; i < 40; i++ {
		deep = filepath.Join(deep, fmt.Sprintf("level-%02d", i))
	}
	bind := filepath.Join(tmp, "bind")
	rootDir := "/krsi-walk-test"
	for _, d := range []string{deep, bind, rootDir, filepath.Join(tmp, "sp ace")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(rootDir) })
	src := filepath.Join(tmp, "src")
	os.Mkdir(src, 0o755)
	if err := unix.Mount(src, bind, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(bind, unix.MNT_DETACH) })

	p := writeProfile(t, "files:\n  rules:\n    - path: /**\n      deny: [write]\n")
	for _, f := range []string{
		filepath.Join(tmp, "f"),
		filepath.Join(deep, "f"),
		filepath.Join(bind, "f"),
		filepath.Join(rootDir, "f"),
		filepath.Join(tmp, "sp ace", "f"),
	} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Run(f, func(t *testing.T) {
			open := confinedRun(t, p, "open", f, "w")
			check(t, open, denied, "hook=file_open")
			chmod := confinedRun(t, p, "chmod", f)
			check(t, chmod, denied, "hook=path_chmod")
			if a, b := pathOfEvent(t, open), pathOfEvent(t, chmod); a != f || b != f {
				t.Fatalf("bpf_d_path (file_open) gave %q, the walk (path_chmod) %q; want both %q", a, b, f)
			}
		})
	}
}

// open(O_CREAT) of a new name is decided before the kernel creates the file
// (path_mknod): a denied create leaves nothing behind.
func TestBypassFilesDeniedCreateLeavesNoFile(t *testing.T) {
	kerneltest.Require(t)
	dir, p := roTree(t)
	f := dir + "/ro/new"
	check(t, confinedRun(t, p, "open", f, "c"), denied, "hook=path_mknod", "path="+f)
	if _, err := os.Lstat(f); !os.IsNotExist(err) {
		t.Fatalf("a denied create left %s behind (lstat: %v)", f, err)
	}
	check(t, confinedRun(t, p, "open", dir+"/rw/new", "c"), allowed)
}

// The builtin read-only root now holds against unlink, rename and chmod too,
// and still lets the scratch folders change.
func TestBypassFilesBuiltinReadonlyRoot(t *testing.T) {
	kerneltest.Require(t)
	f := "/krsi-readonly-unlink"
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f) })
	check(t, confinedRun(t, "builtin/readonly-root", "unlink", f), denied, "hook=path_unlink", "path="+f)
	check(t, confinedRun(t, "builtin/readonly-root", "rename", f, f+"-moved"), denied, "hook=path_rename")
	check(t, confinedRun(t, "builtin/readonly-root", "chmod", f), denied, "hook=path_chmod")
	scratch := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(scratch, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	check(t, confinedRun(t, "builtin/readonly-root", "unlink", scratch), allowed)
}
