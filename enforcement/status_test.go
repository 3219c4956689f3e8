package enforcement_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// tree makes directories standing in for a cgroup2 mount.
func tree(t *testing.T, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Files beside the directories, as cgroupfs has: not walked.
	if err := os.WriteFile(filepath.Join(root, "a", "cgroup.procs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestResolveCgroupPathsFindsBoundCgroupsByInode(t *testing.T) {
	root := tree(t, "a/b/c", "a/d", "e")
	st := &enforcement.Status{Bindings: []enforcement.BoundCgroup{
		{CgroupID: inode(t, filepath.Join(root, "a/b/c"))},
		{CgroupID: inode(t, filepath.Join(root, "e"))},
		{CgroupID: 1 << 62}, // not in this mount
	}}
	st.ResolveCgroupPaths(cgroup.Mount{Dir: root, Root: "/kubepods"}, 100)
	if st.Bindings[0].Path != "/kubepods/a/b/c" || st.Bindings[1].Path != "/kubepods/e" || st.Bindings[2].Path != "" {
		t.Fatalf("paths = %q, %q, %q", st.Bindings[0].Path, st.Bindings[1].Path, st.Bindings[2].Path)
	}
	// Not all found: every directory (root, a, e, a/b, a/d, a/b/c) was read.
	want := enforcement.CgroupWalk{Mount: root, Visited: 6, Limit: 100, Unresolved: 1}
	if *st.CgroupWalk != want {
		t.Fatalf("walk = %+v, want %+v", *st.CgroupWalk, want)
	}
}

func TestResolveCgroupPathsStopsWhenAllAreFound(t *testing.T) {
	root := tree(t, "a/b/c", "e/f/g")
	st := &enforcement.Status{Bindings: []enforcement.BoundCgroup{{CgroupID: inode(t, filepath.Join(root, "a"))}}}
	st.ResolveCgroupPaths(cgroup.Mount{Dir: root, Root: "/"}, 100)
	if st.Bindings[0].Path != "/a" || st.CgroupWalk.Visited != 1 || st.CgroupWalk.Unresolved != 0 {
		t.Fatalf("path %q, walk %+v: want /a found reading only the root", st.Bindings[0].Path, *st.CgroupWalk)
	}
}

func TestResolveCgroupPathsStopsAtTheLimit(t *testing.T) {
	root := tree(t, "a/b/c/d")
	st := &enforcement.Status{Bindings: []enforcement.BoundCgroup{{CgroupID: inode(t, filepath.Join(root, "a/b/c/d"))}}}
	st.ResolveCgroupPaths(cgroup.Mount{Dir: root, Root: "/"}, 2)
	want := enforcement.CgroupWalk{Mount: root, Visited: 2, Limit: 2, Unresolved: 1, Truncated: true}
	if st.Bindings[0].Path != "" || *st.CgroupWalk != want {
		t.Fatalf("path %q, walk %+v; want %+v", st.Bindings[0].Path, *st.CgroupWalk, want)
	}
}

func TestReadStatusWithoutPinsSaysKrsiIsNotLoaded(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "krsi")
	_, err := enforcement.ReadStatus(missing)
	if !errors.Is(err, enforcement.ErrNotLoaded) || err.Error() != "krsi is not loaded on this node (no pins in "+missing+")" {
		t.Fatalf("ReadStatus of a missing dir: %v", err)
	}
	plain := t.TempDir() // exists, but not on bpffs: nothing can be pinned there
	_, err = enforcement.ReadStatus(plain)
	if !errors.Is(err, enforcement.ErrNotLoaded) || !strings.Contains(err.Error(), "not on a BPF filesystem") {
		t.Fatalf("ReadStatus of a dir outside bpffs: %v", err)
	}
}

func TestMapUsagePercent(t *testing.T) {
	for _, c := range []struct {
		u    enforced.MapUsage
		want float64
	}{
		{enforced.MapUsage{Entries: 16384, MaxEntries: 65536}, 25},
		{enforced.MapUsage{Entries: 0, MaxEntries: 4096}, 0},
		{enforced.MapUsage{Entries: 3}, 0},
	} {
		if got := c.u.Percent(); got != c.want {
			t.Errorf("%+v: Percent() = %v, want %v", c.u, got, c.want)
		}
	}
}
