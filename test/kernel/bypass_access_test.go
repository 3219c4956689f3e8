package kernel_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/test/kerneltest"
)

// The access-mode bypass suite (issue 13, class 5): a descriptor opened for
// appending to a file whose path allows append but not write must not change
// the file anywhere but at its end, and a read-only file's attributes must not
// change through a read-only descriptor. Each attack runs under krsi (denied,
// with its event) and without (the control: it works, or the kernel itself
// refuses it, which the row says). docs/threat-model.md lists them.

// appendTree makes dir/ro/log (append allowed, write denied), dir/ro/f
// (read-only) and dir/rw/f (writable), each two pages long with different
// first and second pages, and the profile that says so.
func appendTree(t *testing.T) (dir, profile string) {
	t.Helper()
	dir = t.TempDir()
	page := os.Getpagesize()
	content := append(bytes.Repeat([]byte{'x'}, page), bytes.Repeat([]byte{'y'}, page)...)
	for _, f := range []string{"ro/log", "ro/f", "rw/f"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, writeProfile(t, fmt.Sprintf("files:\n  rules:\n    - path: %s/ro/**\n      deny: [write]\n"+
		"    - path: %s/ro/log\n      allow: [append]\n", dir, dir))
}

// kernelAtLeast says whether the running kernel is major.minor or newer.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatal(err)
	}
	return ma > major || ma == major && mi >= minor
}

// refused asserts that the kernel refused the operation with errText (not an
// LSM's EPERM): a route this kernel or file system does not offer.
func refused(t *testing.T, r kerneltest.Result, errText string) {
	t.Helper()
	if r.OK() || r.Denied() || !strings.Contains(r.Stdout, errText) {
		t.Fatalf("want the kernel's own refusal (%s); got %s", errText, r)
	}
}

func TestBypassAccessAppendOnlyOverwrite(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	// RWF_NOAPPEND (pwritev2, io_uring, aio) exists from 6.9 on. On older
	// kernels pwritev2 still meets file_permission before the kernel checks
	// its flags, so krsi answers first; io_uring and aio check flags first.
	noappend := kernelAtLeast(t, 6, 9)
	const unsupported = "operation not supported"
	// tmpfs (the VM's /tmp) offers only PUNCH_HOLE among the modes that
	// change contents; the others reach krsi first and tmpfs then refuses.
	tests := []struct {
		route string
		hook  string // "": the kernel refuses before any hook, with and without krsi
		// control: "" works without krsi, else the kernel's refusal
		control string
	}{
		{"fcntl", "file_fcntl", ""},
		{"mmap-shared", "mmap_file", ""},
		{"mmap-shared-mprotect", "mmap_file", ""},
		{"punch-hole", "file_permission", ""},
		{"zero-range", "file_permission", unsupported},
		{"collapse-range", "file_permission", unsupported},
		{"insert-range", "file_permission", unsupported},
		{"pwritev2-noappend", "file_permission", map[bool]string{true: "", false: unsupported}[noappend]},
		{"uring-write-noappend", map[bool]string{true: "file_permission", false: ""}[noappend],
			map[bool]string{true: "", false: unsupported}[noappend]},
		{"uring-linked-write-noappend", map[bool]string{true: "file_permission", false: ""}[noappend],
			map[bool]string{true: "", false: unsupported}[noappend]},
		{"uring-fallocate", "file_permission", ""},
		{"aio-noappend", map[bool]string{true: "file_permission", false: ""}[noappend],
			map[bool]string{true: "", false: unsupported}[noappend]},
		{"copy-file-range", "", "bad file descriptor"},
		{"splice", "", "invalid argument"},
		// sendfile checks the output's access (file_permission) before it refuses O_APPEND.
		{"sendfile", "file_permission", "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.route, func(t *testing.T) {
			t.Parallel()
			dir, p := appendTree(t)
			log := dir + "/ro/log"
			r := confinedRun(t, p, "append-overwrite", log, tt.route)
			if tt.hook == "" {
				refused(t, r, tt.control)
			} else {
				check(t, r, denied, "hook="+tt.hook, "reason=rule", "access=write", "path="+log)
			}
			ctl := kerneltest.Run(t, "", probe, "append-overwrite", log, tt.route)
			if tt.control == "" {
				check(t, ctl, allowed)
			} else {
				refused(t, ctl, tt.control)
			}
		})
	}
}

// What an append-only path must keep allowing, and a writable path everything.
func TestBypassAccessBenign(t *testing.T) {
	kerneltest.Require(t)
	tests := [][]string{
		{"append-write", "ro/log", "write"},
		{"append-write", "ro/log", "writev"},
		{"append-write", "ro/log", "pwrite"},
		{"append-write", "ro/log", "pwritev2"},
		{"append-write", "ro/log", "mmap-private"}, // a private read-only mapping, then write(2)
		{"rw-change", "rw/f", "punch-hole"},
		{"rw-change", "rw/f", "mmap-shared"},
		{"rw-change", "rw/f", "append-then-punch-hole"},
		{"append-overwrite", "rw/f", "fcntl"},
		{"append-overwrite", "rw/f", "uring-fallocate"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt, " "), func(t *testing.T) {
			t.Parallel()
			dir, p := appendTree(t)
			args := append([]string{tt[0], filepath.Join(dir, tt[1])}, tt[2:]...)
			check(t, confinedRun(t, p, args...), allowed)
		})
	}
}

// A read-only file's attributes through a descriptor opened read-only.
func TestBypassAccessAttributesThroughReadOnlyDescriptor(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	tests := []struct{ route, hook string }{
		{"chattr", "file_ioctl"},
		{"fssetxattr", "file_ioctl"},
		{"fchmod", "path_chmod"},
		{"fchown", "path_chown"},
	}
	for _, tt := range tests {
		t.Run(tt.route, func(t *testing.T) {
			t.Parallel()
			dir, p := appendTree(t)
			f := dir + "/ro/f"
			check(t, confinedRun(t, p, "fd-attr", f, tt.route), denied, "hook="+tt.hook, "reason=rule",
				"access=write", "path="+f)
			check(t, confinedRun(t, p, "fd-attr", dir+"/rw/f", tt.route), allowed)
			check(t, kerneltest.Run(t, "", probe, "fd-attr", f, tt.route), allowed)
		})
	}
}

// Times, extended attributes and ACLs meet only inode hooks (a dentry, no
// mount): krsi decides them by every path the file has in the caller's mount
// namespace. By name and through a read-only descriptor, on the read-only
// file (denied), on a writable one (allowed), and without krsi (the control).
func TestBypassAccessTimesAndExtendedAttributes(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	tests := [][]string{
		{"fd-attr", "futimens"},
		{"fd-attr", "fsetxattr"},
		{"fd-attr", "fremovexattr"},
		{"path-attr", "utimes"},
		{"path-attr", "touch"},
		{"path-attr", "setxattr"},
		{"path-attr", "removexattr"},
		{"path-attr", "setfacl"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt, " "), func(t *testing.T) {
			t.Parallel()
			dir, p := appendTree(t)
			for _, f := range []string{"ro/f", "rw/f"} {
				if err := unix.Setxattr(filepath.Join(dir, f), "trusted.krsi", []byte("x"), 0); err != nil {
					t.Fatal(err)
				}
			}
			f := dir + "/ro/f"
			check(t, confinedRun(t, p, tt[0], f, tt[1]), denied, "hook=inode_attr", "reason=rule", "access=write", "path="+f)
			if tt[0] == "fd-attr" || tt[1] == "setfacl" { // one writable-file run per hook
				check(t, confinedRun(t, p, tt[0], dir+"/rw/f", tt[1]), allowed)
			}
			check(t, kerneltest.Run(t, "", probe, tt[0], f, tt[1]), allowed)
		})
	}
}

// A file with two paths (a bind mount makes the read-only folder appear
// under the writable one) is decided by both: the read-only one wins,
// whichever name the caller used.
func TestBypassAccessTimesByEveryPath(t *testing.T) {
	kerneltest.Require(t)
	dir, p := appendTree(t)
	bind := dir + "/rw/bind"
	if err := os.Mkdir(bind, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(dir+"/ro", bind, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(bind, unix.MNT_DETACH) })
	check(t, confinedRun(t, p, "path-attr", bind+"/f", "utimes"), denied, "hook=inode_attr", "path="+dir+"/ro/f")
	// The writable file has one path, under no deny.
	check(t, confinedRun(t, p, "path-attr", dir+"/rw/f", "utimes"), allowed)
}
