// Package cgroup finds the cgroup v2 hierarchy and turns cgroup directories
// into the ids and paths the kernel side keys on. Step in the pipeline: the
// container's cgroup → the key of its binding.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is a mounted cgroup v2 hierarchy.
type Mount struct {
	// Dir is the mount point, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified.
	Dir string
	// Root is the hierarchy path of the mount's root ("/" unless the
	// hierarchy was mounted from a sub-cgroup or within a cgroup namespace).
	Root string
}

// ErrNoCgroup2 means no cgroup v2 hierarchy is mounted.
var ErrNoCgroup2 = errors.New("no cgroup v2 hierarchy is mounted")

// Find returns the cgroup v2 mount, preferring /sys/fs/cgroup.
func Find() (Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Mount{}, fmt.Errorf("find cgroup2 mount: %w", err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

func parseMountinfo(r io.Reader) (Mount, error) {
	var found []Mount
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		// 36 35 0:30 / /sys/fs/cgroup rw,... shared:9 - cgroup2 cgroup2 rw
		fields := strings.Fields(s.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) || fields[sep+1] != "cgroup2" {
			continue
		}
		found = append(found, Mount{Dir: unescape(fields[4]), Root: unescape(fields[3])})
	}
	if err := s.Err(); err != nil {
		return Mount{}, fmt.Errorf("read mountinfo: %w", err)
	}
	if len(found) == 0 {
		return Mount{}, fmt.Errorf("%w: mount it with `mount -t cgroup2 none /sys/fs/cgroup`", ErrNoCgroup2)
	}
	for _, m := range found {
		if m.Dir == "/sys/fs/cgroup" {
			return m, nil
		}
	}
	return found[0], nil
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Path turns a directory under the mount into the hierarchy path that the
// kernel's cgroup_mkdir tracepoint reports for it ("/krsi/run-1").
func (m Mount) Path(dir string) (string, error) {
	rel, err := filepath.Rel(m.Dir, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%s is not under the cgroup2 mount %s", dir, m.Dir)
	}
	if rel == "." {
		rel = ""
	}
	return filepath.Join("/", m.Root, rel), nil
}

// ID returns the cgroup v2 id of a cgroup directory: the inode number of the
// directory, which is what bpf_get_current_cgroup_id() gives in the kernel.
func ID(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, fmt.Errorf("cgroup id of %s: %w", dir, err)
	}
	return st.Ino, nil
}

// ProcessPath returns the cgroup v2 path of a process ("0::/path" in
// /proc/PID/cgroup).
func ProcessPath(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", fmt.Errorf("cgroup of pid %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("pid %d is in no cgroup v2 (no 0:: line in /proc/%d/cgroup)", pid, pid)
}
