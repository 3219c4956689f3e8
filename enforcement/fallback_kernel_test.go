package enforcement_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// Fail closed, in the kernel alone: nothing here plays the plugin after the
// parents are marked. The cgroup trees are laid out as the kubelet and the
// runtimes lay them out, under krsi-test/ instead of the hierarchy's root.

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func binding(t *testing.T, e *enforcement.Enforcer, dir string) (enforced.Binding, bool) {
	t.Helper()
	b, ok, err := e.Lookup(kerneltest.ID(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return b, ok
}

func TestFallbackConfinesContainerCgroupNobodyStaged(t *testing.T) {
	kerneltest.Require(t)
	e := open(t, enforcement.Options{})
	fb := setProfile(t, e, "fallback", wx)
	qos, qosPath := kerneltest.Cgroup(t, "fb-besteffort") // as /kubepods/besteffort
	if err := e.SetFallback([]enforced.Parent{{Path: qosPath, Kind: enforced.ParentOfPods, ID: kerneltest.ID(t, qos)}},
		fb, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ClearFallback() })

	pod := filepath.Join(qos, "pod0000e2e0-0000-4000-8000-000000000001")
	ctr := filepath.Join(pod, "4f0c1a2b3c4d5e6f4f0c1a2b3c4d5e6f4f0c1a2b3c4d5e6f4f0c1a2b3c4d5e6f")
	before := time.Now()
	mkdirs(t, pod, ctr)

	if b, ok := binding(t, e, pod); ok {
		t.Fatalf("pod-level cgroup got bound: %+v", b)
	}
	b, ok := binding(t, e, ctr)
	if !ok || !b.Fallback || b.Staged || b.Profile != fb || b.Mode != profiles.ModeEnforce {
		t.Fatalf("container cgroup: binding %+v, %v; want a fallback binding to %d", b, ok, fb)
	}
	if r := probe(t, ctr, "mprotect-rw-rx"); !r.Denied() {
		t.Fatalf("first process in a container cgroup nobody staged: %s", r)
	}
	recs, err := e.Fallbacks()
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := recs[kerneltest.ID(t, ctr)]
	if !ok || rec.ParentID != kerneltest.ID(t, qos) || rec.Since.Before(before.Add(-time.Second)) || rec.Since.After(time.Now().Add(time.Second)) {
		t.Fatalf("fallback record of the container = %+v, %v; want bound between %v and now, under %d",
			rec, ok, before, kerneltest.ID(t, qos))
	}

	// A cgroup nested in it inherits the binding and the flag.
	nested := filepath.Join(ctr, "nested")
	mkdirs(t, nested)
	if b, ok := binding(t, e, nested); !ok || !b.Inherited || !b.Fallback || b.Profile != fb {
		t.Fatalf("nested cgroup: %+v, %v; want the inherited fallback", b, ok)
	}

	// The kubelet's other QoS level, a runtime's helper next to containers,
	// and a child of a directory that is not a pod: never bound.
	conmon := filepath.Join(pod, "crio-conmon-4f0c1a2b")
	notPod := filepath.Join(qos, "besteffort-extra")
	notPodChild := filepath.Join(notPod, "ctr")
	mkdirs(t, conmon, notPod, notPodChild)
	for _, dir := range []string{conmon, notPod, notPodChild} {
		if b, ok := binding(t, e, dir); ok {
			t.Fatalf("%s got bound: %+v", dir, b)
		}
	}
	if r := probe(t, conmon, "mprotect-rw-rx"); !r.OK() {
		t.Fatalf("process in CRI-O's conmon cgroup: %s", r)
	}

	// When krsi binds it, the record goes: it is no longer a fallback binding.
	if err := e.Bind(kerneltest.ID(t, ctr), fb, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	if recs, _ := e.Fallbacks(); len(recs) != 0 {
		t.Fatalf("fallback records after krsi bound the container: %v", recs)
	}
	if b, _ := binding(t, e, ctr); b.Fallback {
		t.Fatalf("binding still flagged fallback after Bind: %+v", b)
	}
}

func TestFallbackUnderSystemdSlices(t *testing.T) {
	kerneltest.Require(t)
	e := open(t, enforcement.Options{})
	fb := setProfile(t, e, "fallback-slices", wx)
	qos, qosPath := kerneltest.Cgroup(t, "fb-kubepods-burstable.slice")
	if err := e.SetFallback([]enforced.Parent{{Path: qosPath, Kind: enforced.ParentOfPods, ID: kerneltest.ID(t, qos)}},
		fb, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ClearFallback() })
	pod := filepath.Join(qos, "kubepods-burstable-pod0000e2e0_0000_4000_8000_000000000002.slice")
	containerd := filepath.Join(pod, "cri-containerd-4f0c1a2b.scope")
	crio := filepath.Join(pod, "crio-9a8b7c6d.scope")
	conmon := filepath.Join(pod, "crio-conmon-9a8b7c6d.scope")
	mkdirs(t, pod, containerd, crio, conmon)
	if _, ok := binding(t, e, pod); ok {
		t.Fatal("pod slice got bound")
	}
	for _, dir := range []string{containerd, crio} {
		if b, ok := binding(t, e, dir); !ok || !b.Fallback || b.Profile != fb {
			t.Fatalf("%s: %+v, %v; want the fallback", dir, b, ok)
		}
	}
	if _, ok := binding(t, e, conmon); ok {
		t.Fatal("conmon's scope got bound")
	}
	if r := probe(t, crio, "mprotect-rw-rx"); !r.Denied() {
		t.Fatalf("process in a CRI-O container scope: %s", r)
	}
}

func TestStagedBindingWinsOverFallback(t *testing.T) {
	kerneltest.Require(t)
	e := open(t, enforcement.Options{})
	fb := setProfile(t, e, "fallback-staged", wx)
	audit := setProfile(t, e, "staged-audit", wx)
	qos, qosPath := kerneltest.Cgroup(t, "fb-staged-qos")
	if err := e.SetFallback([]enforced.Parent{{Path: qosPath, Kind: enforced.ParentOfPods, ID: kerneltest.ID(t, qos)}},
		fb, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ClearFallback() })
	pod := filepath.Join(qos, "pod-staged")
	staged := filepath.Join(pod, "staged")
	unconfined := filepath.Join(pod, "unconfined")
	mkdirs(t, pod)
	m := mountOf(t)
	stagedPath, _ := m.Path(staged)
	unconfinedPath, _ := m.Path(unconfined)
	if err := e.Stage(stagedPath, audit, profiles.ModeAudit); err != nil {
		t.Fatal(err)
	}
	if err := e.StageUnconfined(unconfinedPath); err != nil {
		t.Fatal(err)
	}
	mkdirs(t, staged, unconfined)
	if b, ok := binding(t, e, staged); !ok || !b.Staged || b.Fallback || b.Profile != audit || b.Mode != profiles.ModeAudit {
		t.Fatalf("staged container: %+v, %v; want its staged audit binding to %d", b, ok, audit)
	}
	if r := probe(t, staged, "mprotect-rw-rx"); !r.OK() {
		t.Fatalf("staged audit container (the fallback would deny): %s", r)
	}
	if b, ok := binding(t, e, unconfined); ok {
		t.Fatalf("container staged unconfined got bound: %+v", b)
	}
	if r := probe(t, unconfined, "mprotect-rw-rx"); !r.OK() {
		t.Fatalf("container staged unconfined: %s", r)
	}
}

func TestFallbackLeavesUnmarkedCgroupsAlone(t *testing.T) {
	kerneltest.Require(t)
	e := open(t, enforcement.Options{})
	fb := setProfile(t, e, "fallback-unmarked", wx)
	marked, markedPath := kerneltest.Cgroup(t, "fb-marked")
	if err := e.SetFallback([]enforced.Parent{{Path: markedPath, Kind: enforced.ParentOfPods, ID: kerneltest.ID(t, marked)}},
		fb, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ClearFallback() })
	// Same shape, unmarked parent: a host service tree, say.
	other, _ := kerneltest.Cgroup(t, "fb-unmarked")
	pod := filepath.Join(other, "pod1")
	ctr := filepath.Join(pod, "ctr")
	top := filepath.Join(other, "ctr")
	mkdirs(t, pod, ctr, top)
	for _, dir := range []string{pod, ctr, top} {
		if b, ok := binding(t, e, dir); ok {
			t.Fatalf("%s under an unmarked parent got bound: %+v", dir, b)
		}
	}
	if r := probe(t, ctr, "mprotect-rw-rx"); !r.OK() {
		t.Fatalf("process under an unmarked parent: %s", r)
	}
	if r := probe(t, "", "mprotect-rw-rx"); !r.OK() {
		t.Fatalf("process in the test's own cgroup: %s", r)
	}

	// Unmarked, the marked tree is ordinary again.
	if err := e.ClearFallback(); err != nil {
		t.Fatal(err)
	}
	later := filepath.Join(marked, "pod2")
	mkdirs(t, later, filepath.Join(later, "ctr"))
	if b, ok := binding(t, e, filepath.Join(later, "ctr")); ok {
		t.Fatalf("container under a parent unmarked by ClearFallback got bound: %+v", b)
	}
}

func TestFallbackParentCreatedAfterMarking(t *testing.T) {
	kerneltest.Require(t)
	e := open(t, enforcement.Options{})
	fb := setProfile(t, e, "fallback-late", wx)
	// As /k8s.io, which containerd creates with its first container.
	dir, path := kerneltest.CgroupPath(t, "fb-k8s.io")
	if err := e.SetFallback([]enforced.Parent{{Path: path, Kind: enforced.ParentOfContainers}}, fb, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ClearFallback() })
	ctr := filepath.Join(dir, "4f0c1a2b")
	mkdirs(t, dir, ctr)
	if _, ok := binding(t, e, dir); ok {
		t.Fatal("the marked parent itself got bound")
	}
	if b, ok := binding(t, e, ctr); !ok || !b.Fallback || b.Profile != fb {
		t.Fatalf("container under a parent created after marking: %+v, %v", b, ok)
	}
	if r := probe(t, ctr, "mprotect-rw-rx"); !r.Denied() {
		t.Fatalf("process in it: %s", r)
	}
	parents, err := e.MarkedParents()
	if err != nil {
		t.Fatal(err)
	}
	byID := false
	for _, p := range parents {
		byID = byID || p.ID == kerneltest.ID(t, dir)
	}
	if !byID {
		t.Fatalf("the kernel did not mark %s by id when it was created: %+v", dir, parents)
	}
	// rmdir drops both the container's record and the parent's mark.
	id := kerneltest.ID(t, dir)
	if err := os.Remove(ctr); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if recs, _ := e.Fallbacks(); len(recs) != 0 {
		t.Fatalf("fallback records after rmdir: %v", recs)
	}
	parents, _ = e.MarkedParents()
	for _, p := range parents {
		if p.ID == id {
			t.Fatalf("removed parent still marked by id: %+v", parents)
		}
	}
}

func mountOf(t *testing.T) cgroup.Mount {
	t.Helper()
	m, err := cgroup.Find()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
