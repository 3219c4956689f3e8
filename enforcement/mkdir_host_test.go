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
	"github.com/krsi-dev/krsi/enforced"
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
	e, m, _ := loadMkdirOnlyB(t)
	return e, m
}

func loadMkdirOnlyB(t testing.TB) (*Enforcer, cgroup.Mount, *ebpf.Program) {
	t.Helper()
	return loadMkdirOnlyC(t, Capacity{})
}

func loadMkdirOnlyC(t testing.TB, c Capacity) (*Enforcer, cgroup.Mount, *ebpf.Program) {
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
	if err := c.apply(spec); err != nil {
		t.Fatal(err)
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
	e := &Enforcer{maps: objs.bpfMaps, rulesets: map[enforced.ProfileID]ruleset{}}
	// A profile entry so that SetFallback's check passes; no rules needed.
	if err := e.maps.KrsiProfiles.Update(uint32(7), &bpfKrsiProfile{Flags: pfDenyWX}, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	return e, m, objs.Mkdir
}

func tempCgroup(t testing.TB, m cgroup.Mount, name string) string {
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
	if err := e.SetFallback([]enforced.Parent{{Path: qosPath, Kind: enforced.ParentOfPods, ID: qosID}, {Path: k8sPath, Kind: enforced.ParentOfContainers}},
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

// BenchmarkCgroupMkdir times mkdir + rmdir of one cgroup, the work
// cgroup_mkdir and cgroup_rmdir add to it, on the host (tracing programs load
// there; they are not LSM programs):
//
//	go test -run '^$' -bench CgroupMkdir -count 5 ./enforcement
//
// no-program: nothing attached. unmarked: programs attached, nothing marked
// (fail closed off). elsewhere: the default seven parents marked, the cgroup
// outside them (every host cgroup). container: the cgroup is a container
// under a marked QoS level and gets the fallback binding (and its record).
// staged: a staged path, as with krsi up (the path hash lookup that was
// there before fail closed).
func BenchmarkCgroupMkdir(b *testing.B) {
	m, err := cgroup.Find()
	if err != nil {
		b.Skip(err)
	}
	bench := func(b *testing.B, dir string, before func(string)) {
		b.Helper()
		for i := 0; i < b.N; i++ {
			if before != nil {
				before(dir)
			}
			if err := unix.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			if err := unix.Rmdir(dir); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("no-program", func(b *testing.B) {
		root := benchCgroup(b, m, "krsi-bench-none")
		bench(b, filepath.Join(root, "c"), nil)
	})
	for _, tt := range []string{"unmarked", "elsewhere", "container", "staged"} {
		b.Run(tt, func(b *testing.B) {
			e, _, prog := loadMkdirOnlyB(b)
			stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
			if err != nil {
				b.Fatalf("enable BPF run-time stats: %v", err)
			}
			defer stats.Close()
			defer reportProgTime(b, prog)()
			root := benchCgroup(b, m, "krsi-bench-"+tt)
			qos := filepath.Join(root, "besteffort")
			pod := filepath.Join(qos, "pod1")
			if err := os.MkdirAll(pod, 0o755); err != nil {
				b.Fatal(err)
			}
			var parents []enforced.Parent
			if tt != "unmarked" {
				for _, p := range []string{"/kubepods", "/kubepods/burstable", "/kubepods.slice",
					"/kubepods.slice/kubepods-besteffort.slice", "/kubepods.slice/kubepods-burstable.slice", "/k8s.io"} {
					parents = append(parents, enforced.Parent{Path: p, Kind: enforced.ParentOfPods})
				}
				qp, _ := m.Path(qos)
				qid, _ := cgroup.ID(qos)
				parents = append(parents, enforced.Parent{Path: qp, Kind: enforced.ParentOfPods, ID: qid})
				if err := e.SetFallback(parents, 7, profiles.ModeEnforce); err != nil {
					b.Fatal(err)
				}
			}
			switch tt {
			case "unmarked", "elsewhere":
				bench(b, filepath.Join(root, "c"), nil)
			case "container":
				bench(b, filepath.Join(pod, "c"), nil)
			case "staged":
				path, _ := m.Path(filepath.Join(pod, "c"))
				bench(b, filepath.Join(pod, "c"), func(string) {
					if err := e.Stage(path, 7, profiles.ModeEnforce); err != nil {
						b.Fatal(err)
					}
				})
			}
		})
	}
}

// reportProgTime reports the mkdir program's own mean run time per call
// (the kernel's BPF_STATS_RUN_TIME), which the wall time of mkdir hides in
// its noise.
func reportProgTime(b *testing.B, p *ebpf.Program) func() {
	s0, err := p.Stats()
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		s1, err := p.Stats()
		if err != nil {
			b.Fatal(err)
		}
		if n := s1.RunCount - s0.RunCount; n > 0 {
			b.ReportMetric(float64(s1.Runtime-s0.Runtime)/float64(n), "prog-ns/call")
		}
	}
}

func benchCgroup(b *testing.B, m cgroup.Mount, name string) string {
	b.Helper()
	dir := filepath.Join(m.Dir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Skipf("cannot create cgroups here: %v", err)
	}
	b.Cleanup(func() { rmTree(dir) })
	return dir
}
