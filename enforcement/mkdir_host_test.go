package enforcement

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/profiles"
)

// The cgroup_mkdir program is a tracing program, which kernels that refuse
// LSM programs (this project's hosts) still load: its fail-closed decisions
// are tested here without a VM, with the program and its maps only. The VM
// suite (fallback_kernel_test.go) tests the same with enforcement.

// mkdirOnly is the cgroup_mkdir/rmdir programs and the maps they use.
type mkdirOnly struct {
	Mkdir *ebpf.Program `ebpf:"krsi_cgroup_mkdir"`
	Rmdir *ebpf.Program `ebpf:"krsi_cgroup_rmdir"`
	bpfMaps
}

func loadMkdirOnly(t *testing.T) (*Enforcer, cgroup.Mount) {
	t.Helper()
	m, err := cgroup.Find()
	if err != nil {
		t.Skipf("no cgroup2 here: %v", err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	spec, err := loadBpf()
	if err != nil {
		t.Fatal(err)
	}
	for _, ms := range spec.Maps {
		ms.Pinning = ebpf.PinNone
	}
	var objs mkdirOnly
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("this kernel refuses even tracing programs (run as root): %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Mkdir.Close(); objs.Rmdir.Close(); objs.bpfMaps.Close() })
	for _, p := range []*ebpf.Program{objs.Mkdir, objs.Rmdir} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			t.Skipf("attach tracing program: %v", err)
		}
		t.Cleanup(func() { l.Close() })
	}
	e := &Enforcer{maps: objs.bpfMaps, rulesets: map[ProfileID]ruleset{}}
	// A profile entry so that SetFallback's check passes; no rules needed.
	if err := e.maps.KrsiProfiles.Update(uint32(7), &bpfKrsiProfile{Flags: pfDenyWX}, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	return e, m
}

func tempCgroup(t *testing.T, m cgroup.Mount, name string) string {
	t.Helper()
	dir := filepath.Join(m.Dir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create cgroups here: %v", err)
	}
	t.Cleanup(func() { rmTree(dir) })
	return dir
}

func rmTree(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			rmTree(filepath.Join(dir, e.Name()))
		}
	}
	_ = unix.Rmdir(dir)
}

func TestMkdirFallbackDecisionsOnTheHost(t *testing.T) {
	e, m := loadMkdirOnly(t)
	root := tempCgroup(t, m, "krsi-host-fallback")
	qos := filepath.Join(root, "besteffort")
	k8s := filepath.Join(root, "k8s.io")
	if err := os.Mkdir(qos, 0o755); err != nil {
		t.Fatal(err)
	}
	qosPath, _ := m.Path(qos)
	k8sPath, _ := m.Path(k8s)
	qosID, _ := cgroup.ID(qos)
	if err := e.SetFallback([]Parent{{Path: qosPath, Kind: ParentOfPods, ID: qosID}, {Path: k8sPath, Kind: ParentOfContainers}},
		7, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(qos, "pod1", "staged")
	unconf := filepath.Join(qos, "pod1", "unconfined")
	sp, _ := m.Path(staged)
	up, _ := m.Path(unconf)
	if err := e.Stage(sp, 7, profiles.ModeAudit); err != nil {
		t.Fatal(err)
	}
	if err := e.StageUnconfined(up); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		dir  string
		want string // "fallback", "staged", "inherited", "" (none)
	}{
		{filepath.Join(qos, "pod1"), ""},
		{filepath.Join(qos, "pod1", "ctr"), "fallback"},
		{filepath.Join(qos, "pod1", "ctr", "nested"), "inherited"},
		{filepath.Join(qos, "pod1", "crio-conmon-1"), ""},
		{staged, "staged"},
		{unconf, ""},
		{filepath.Join(qos, "kubepods-besteffort-pod2.slice"), ""},
		{filepath.Join(qos, "kubepods-besteffort-pod2.slice", "cri-containerd-2.scope"), "fallback"},
		{filepath.Join(qos, "guaranteed"), ""},
		{filepath.Join(qos, "guaranteed", "ctr"), ""},
		{k8s, ""},
		{filepath.Join(k8s, "ctr"), "fallback"},
		{filepath.Join(root, "pod3"), ""},
		{filepath.Join(root, "pod3", "ctr"), ""},
	} {
		if err := os.Mkdir(tt.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		id, _ := cgroup.ID(tt.dir)
		b, ok, err := e.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		switch {
		case !ok:
		case b.Inherited:
			got = "inherited"
		case b.Fallback:
			got = "fallback"
		case b.Staged:
			got = "staged"
		default:
			got = "other"
		}
		rel, _ := filepath.Rel(root, tt.dir)
		if got != tt.want {
			t.Errorf("%s: bound %q (%+v), want %q", rel, got, b, tt.want)
		}
		if got == "inherited" && !b.Fallback {
			t.Errorf("%s: inherited a fallback binding without the flag", rel)
		}
	}
	recs, err := e.Fallbacks()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Errorf("fallback records: %d, want 3 (the container cgroups)", len(recs))
	}
	var stat uint64
	if err := e.maps.KrsiStats.Lookup(uint32(2), &stat); err != nil || stat != 3 {
		t.Errorf("fallback counter = %d, %v; want 3", stat, err)
	}
}
