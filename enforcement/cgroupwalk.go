package enforcement

// Cgroup ids back to paths, for `krsi status`: the kernel's maps key
// cgroups by id, a person reads paths.

import (
	"os"
	"path/filepath"
	"syscall"

	"github.com/krsi-dev/krsi/cgroup"
)

// CgroupWalk says how ResolveCgroupPaths looked for the bound cgroups.
type CgroupWalk struct {
	Mount string `json:"mount"`
	// Visited directories, at most Limit.
	Visited int `json:"visited"`
	Limit   int `json:"limit"`
	// Unresolved bound cgroups: outside this mount (a cgroup namespace),
	// removed meanwhile, or not reached before the limit (Truncated).
	Unresolved int  `json:"unresolved"`
	Truncated  bool `json:"truncated"`
}

// ResolveCgroupPaths fills the Path of each bound cgroup by walking the
// cgroup2 mount breadth first (a cgroup's id is its directory's inode
// number). The work is bounded: it stops once every bound cgroup is found or
// after limit directories, one getdents and one lstat each.
func (s *Status) ResolveCgroupPaths(m cgroup.Mount, limit int) {
	walk := &CgroupWalk{Mount: m.Dir, Limit: limit}
	s.CgroupWalk = walk
	want := map[uint64][]int{}
	for i, b := range s.Bindings {
		want[b.CgroupID] = append(want[b.CgroupID], i)
	}
	left := len(want)
	found := func(dir string, ino uint64) {
		idx, ok := want[ino]
		if !ok {
			return
		}
		delete(want, ino)
		left--
		path, err := m.Path(dir)
		if err != nil {
			return
		}
		for _, i := range idx {
			s.Bindings[i].Path = path
		}
	}
	if st, err := os.Stat(m.Dir); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			found(m.Dir, sys.Ino)
		}
	}
	queue := []string{m.Dir}
	for len(queue) > 0 && left > 0 {
		if walk.Visited >= limit {
			walk.Truncated = true
			break
		}
		dir := queue[0]
		queue = queue[1:]
		walk.Visited++
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // removed meanwhile
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			sub := filepath.Join(dir, e.Name())
			queue = append(queue, sub)
			if info, err := e.Info(); err == nil {
				if sys, ok := info.Sys().(*syscall.Stat_t); ok {
					found(sub, sys.Ino)
				}
			}
		}
	}
	walk.Unresolved = 0
	for _, b := range s.Bindings {
		if b.Path == "" {
			walk.Unresolved++
		}
	}
}
