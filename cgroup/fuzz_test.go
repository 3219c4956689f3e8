package cgroup

import (
	"path"
	"strings"
	"testing"
)

// FuzzFromCgroupsPath feeds FromCgroupsPath whatever a runtime could put in
// linux.cgroupsPath. It must not panic; what it accepts is a clean absolute
// hierarchy path without NUL (what krsi stages and the kernel reports),
// which taken as a cgroupfs path again gives itself; and its errors stay
// short (a bound that does not grow with the input).
func FuzzFromCgroupsPath(f *testing.F) {
	for _, s := range []string{
		"/kubepods/besteffort/pod1234/abcd",
		"/k8s.io/0123456789abcdef",
		"kubepods-besteffort-pod1234.slice:cri-containerd:abcd",
		"kubepods.slice:crio:abcd",
		":cri-containerd:abcd",
		"-.slice:p:n",
		"system.slice:docker:x.slice",
		"a--b.slice:p:n",
		"/a/../b",
		"//a",
		"//", // once taken as the root cgroup
		"a:b",
		"a:b:c:d",
		"",
		"/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := FromCgroupsPath(p)
		if err != nil {
			if got != "" {
				t.Fatalf("error %v came with path %q", err, got)
			}
			if len(err.Error()) > 4096 {
				t.Fatalf("error is %d bytes long for a %d-byte input", len(err.Error()), len(p))
			}
			return
		}
		if !strings.HasPrefix(got, "/") || path.Clean(got) != got || strings.IndexByte(got, 0) >= 0 && strings.IndexByte(p, 0) < 0 {
			t.Fatalf("FromCgroupsPath(%q) = %q: not a clean absolute path", p, got)
		}
		if again, err := FromCgroupsPath(got); err != nil || again != got {
			t.Fatalf("FromCgroupsPath(%q) = %q, but that path gives %q, %v", p, got, again, err)
		}
	})
}

// A runtime that puts a container in the root cgroup must not get the
// whole node confined by that container's profile (found by the fuzzer).
func TestFromCgroupsPathRefusesTheRootCgroup(t *testing.T) {
	for _, p := range []string{"/", "//", "///", "/.", "/a/.."} {
		if got, err := FromCgroupsPath(p); err == nil {
			t.Errorf("FromCgroupsPath(%q) = %q; want an error", p, got)
		}
	}
}
