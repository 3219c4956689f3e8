package cgroup

import (
	"fmt"
	"path"
	"strings"
)

// FromCgroupsPath turns an OCI linux.cgroupsPath, as the runtime gives it to
// NRI, into the cgroup v2 hierarchy path the kernel will create, which is
// what krsi stages. Two forms exist:
//
//   - cgroupfs driver: a path, "/kubepods/besteffort/pod<uid>/<id>" or
//     "/k8s.io/<id>";
//   - systemd driver: "slice:prefix:name", e.g.
//     "kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>", which runc
//     and crun turn into
//     "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope".
func FromCgroupsPath(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("empty cgroupsPath: the runtime gave the container no cgroup")
	}
	if strings.HasPrefix(p, "/") || !strings.Contains(p, ":") {
		raw := "/" + strings.TrimPrefix(p, "/")
		clean := path.Clean(raw)
		if clean == "/" {
			// Binding the root cgroup would confine every process on the node.
			return "", fmt.Errorf("cgroupsPath %q names the root cgroup, not a container's", clip(p))
		}
		if clean != strings.TrimSuffix(raw, "/") {
			return "", fmt.Errorf("cgroupsPath %q is not a clean path (no . or .. or //)", clip(p))
		}
		return clean, nil
	}
	parts := strings.Split(p, ":")
	if len(parts) != 3 {
		return "", fmt.Errorf("cgroupsPath %q: want a path or slice:prefix:name", clip(p))
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice" // as runc does
	}
	dir, err := expandSlice(slice)
	if err != nil {
		return "", fmt.Errorf("cgroupsPath %q: %w", clip(p), err)
	}
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("cgroupsPath %q: invalid unit name %q", clip(p), clip(name))
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		if prefix != "" {
			unit = prefix + "-" + name
		}
		unit += ".scope"
	}
	return path.Join(dir, unit), nil
}

// expandSlice turns "a-b-c.slice" into "/a.slice/a-b.slice/a-b-c.slice", the
// way systemd nests slices ("-.slice" is the root).
func expandSlice(slice string) (string, error) {
	name, ok := strings.CutSuffix(slice, ".slice")
	if !ok || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid slice %q: want NAME.slice", clip(slice))
	}
	if name == "-" {
		return "/", nil
	}
	if name == "" || strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") || strings.Contains(name, "--") {
		return "", fmt.Errorf("invalid slice %q", clip(slice))
	}
	var b strings.Builder
	prefix := ""
	for _, comp := range strings.Split(name, "-") {
		prefix += comp
		b.WriteString("/" + prefix + ".slice")
		prefix += "-"
	}
	return b.String(), nil
}

// clip shortens what a runtime sent for an error message: a cgroupsPath can
// be as long as the runtime lets it be, and errors travel back to it and
// into logs.
func clip(s string) string {
	const max = 128
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s…(%d bytes)", strings.ToValidUTF8(s[:max], ""), len(s))
}
