package enforcement_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

func TestStatusReadsThePinnedStateWithTheLoaderGone(t *testing.T) {
	kerneltest.Require(t)
	pinDir := filepath.Join("/sys/fs/bpf", "krsi-test-"+filepath.Base(t.TempDir()))
	t.Cleanup(func() { enforcement.Unload(pinDir) })

	e, err := enforcement.Open(enforcement.Options{PinDir: pinDir})
	if err != nil {
		t.Fatal(err)
	}
	c := compile(t, "status", wx+"exec:\n  deny: [/usr/bin/nc, /usr/bin/wget]\n"+
		"files:\n  rules:\n    - {path: /etc/shadow, deny: [read]}\n    - {path: /data/**, deny: [write]}\n")
	id, err := e.SetProfile(c)
	if err != nil {
		t.Fatal(err)
	}
	cg, cgPath := kerneltest.Cgroup(t, "status")
	if err := e.Bind(kerneltest.ID(t, cg), id, profiles.ModeAudit); err != nil {
		t.Fatal(err)
	}
	child := filepath.Join(cg, "child")
	if err := os.Mkdir(child, 0o755); err != nil {
		t.Fatal(err)
	}
	_, stagedPath := kerneltest.CgroupPath(t, "status-staged")
	if err := e.Stage(stagedPath, id, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	usage, err := e.MapUsage()
	if err != nil {
		t.Fatal(err)
	}
	wantMaps := []enforced.MapUsage{
		{Name: "krsi_bindings", Entries: 2, MaxEntries: 1 << 18},
		{Name: "krsi_staged", Entries: 1, MaxEntries: 16384},
		{Name: "krsi_profiles", Entries: 1, MaxEntries: 4096},
		{Name: "krsi_names", Entries: 1, MaxEntries: 4096},
		{Name: "krsi_rules", Entries: len(c.Entries) + len(c.AncestorKeys()), MaxEntries: 1 << 20}, // ancestor keys: renames
		{Name: "krsi_fallback", Entries: 0, MaxEntries: 16384},
	}
	checkMaps := func(who string, got []enforced.MapUsage) {
		t.Helper()
		if len(got) != len(wantMaps) {
			t.Fatalf("%s: map usage %+v, want %+v", who, got, wantMaps)
		}
		for i := range got {
			if got[i] != wantMaps[i] {
				t.Fatalf("%s: map usage %+v, want %+v", who, got, wantMaps)
			}
		}
	}
	checkMaps("Enforcer.MapUsage", usage)

	// Beside a running daemon, then with it gone: the same state.
	beside, err := enforcement.ReadStatus(pinDir)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	st, err := enforcement.ReadStatus(pinDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(beside.Bindings) != len(st.Bindings) || len(beside.Staged) != len(st.Staged) {
		t.Fatalf("status beside the loader %+v differs from status after it %+v", beside, st)
	}

	// Enforcing: as many programs pinned and attached as krsi has (the set
	// grows; the count is not this test's business).
	if !st.Enforcing() || len(st.Programs) == 0 {
		t.Fatalf("programs = %+v, want every one pinned and attached", st.Programs)
	}
	for _, p := range st.Programs {
		if !p.Pinned || !p.Attached || p.LinkID == 0 || p.ProgramID == 0 || p.Unknown || p.Error != "" {
			t.Fatalf("program %+v, want pinned and attached", p)
		}
	}
	wantBound := []enforcement.BoundCgroup{
		{CgroupID: kerneltest.ID(t, cg), ProfileID: id, ProfileName: "status", Mode: profiles.ModeAudit},
		{CgroupID: kerneltest.ID(t, child), ProfileID: id, ProfileName: "status", Mode: profiles.ModeAudit, Inherited: true},
	}
	if len(st.Bindings) != 2 || st.Bindings[0] != wantBound[0] || st.Bindings[1] != wantBound[1] {
		t.Fatalf("bindings = %+v, want %+v", st.Bindings, wantBound)
	}
	wantStaged := enforcement.StagedCgroup{Path: stagedPath, ProfileID: id, ProfileName: "status", Mode: profiles.ModeEnforce}
	if len(st.Staged) != 1 || st.Staged[0] != wantStaged {
		t.Fatalf("staged = %+v, want %+v", st.Staged, wantStaged)
	}
	wantProfile := enforcement.ProfileInfo{ID: id, Name: "status", Rules: uint32(len(c.Rules)),
		Entries: len(c.Entries) + len(c.AncestorKeys()), Loaded: true, Bound: 2, Staged: 1}
	if len(st.Profiles) != 1 || st.Profiles[0] != wantProfile {
		t.Fatalf("profiles = %+v, want %+v", st.Profiles, wantProfile)
	}
	checkMaps("ReadStatus", st.Maps)
	if st.DroppedEvents != 0 || st.FailedBindings != 0 {
		t.Fatalf("counters: dropped %d, failed bindings %d", st.DroppedEvents, st.FailedBindings)
	}

	m, err := cgroup.Find()
	if err != nil {
		t.Fatal(err)
	}
	st.ResolveCgroupPaths(m, 100000)
	if st.Bindings[0].Path != cgPath || st.Bindings[1].Path != cgPath+"/child" || st.CgroupWalk.Unresolved != 0 {
		t.Fatalf("paths %q, %q (walk %+v), want %s and its child", st.Bindings[0].Path, st.Bindings[1].Path, *st.CgroupWalk, cgPath)
	}

	// Reading changed nothing: a new loader takes the pins over whole.
	e = open(t, enforcement.Options{PinDir: pinDir})
	if b, ok, err := e.Lookup(kerneltest.ID(t, cg)); !e.Reused() || err != nil || !ok || b.Profile != id {
		t.Fatalf("after status: reused %v, binding %+v, %v, %v", e.Reused(), b, ok, err)
	}
	e.Close()

	if err := enforcement.Unload(pinDir); err != nil {
		t.Fatal(err)
	}
	if _, err := enforcement.ReadStatus(pinDir); !errors.Is(err, enforcement.ErrNotLoaded) {
		t.Fatalf("status after unload: %v, want ErrNotLoaded", err)
	}
}
