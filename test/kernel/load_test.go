package kernel_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// 1,000 containers created and started by 8 concurrent workers through
// NRI's runtime half, against the real kernel side, with krsi as its own
// process, then all removed the same way: no binding is lost (each
// container's cgroup is bound to its profile right after it starts, and all
// 1,000 are bound at once), no map entry is left behind, and the daemon's
// memory stays bounded. The numbers are logged.
func TestThousandContainersCreatedAndRemovedConcurrently(t *testing.T) {
	kerneltest.Require(t)
	const total, workers = 1000, 8
	probe := kerneltest.Env(t, "KRSI_PROBE")
	profDir := writeProfiles(t, map[string]string{
		"a": execDenyProfile("a", "/nonexistent/a"),
		"b": execDenyProfile("b", "/nonexistent/b"),
	})
	rt := newSimRuntime(t, "/krsi-test-load")
	pinDir := "/sys/fs/bpf/krsi-test-load"
	d := startDaemon(t, rt, pinDir, profDir)
	// The bindings map, read-only, to check each container as it starts.
	bindings, err := ebpf.LoadPinnedMap(pinDir+"/krsi_bindings", &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bindings.Close()
	refs := []string{"builtin/wx", "localhost/a", "localhost/b"}
	_, hwmStart := d.memory()

	// Two phases, each spread over the workers: all 1,000 are created,
	// started and checked (so 1,000 are bound at once), then all are
	// removed.
	var failures atomic.Int64
	ctrs := make([]*simContainer, total)
	cgids := make([]uint64, total)
	parallel := func(f func(i int)) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < total; i = int(next.Add(1) - 1) {
					f(i)
				}
			}()
		}
		wg.Wait()
	}
	start := time.Now()
	parallel(func(i int) {
		ref := refs[i%len(refs)]
		c := rt.newContainer(fmt.Sprintf("l%d", i), map[string]string{"profile.krsi.dev/pod": ref})
		if err := rt.create(c, true, true); err != nil {
			t.Errorf("create %s: %v", c.ctr.Id, err)
			failures.Add(1)
			return
		}
		ctrs[i] = c
		cgids[i] = kerneltest.ID(t, c.dir)
		val := make([]byte, bindings.ValueSize())
		if err := bindings.Lookup(cgids[i], val); err != nil { // bound the moment it started
			t.Errorf("container %s (%s): its cgroup is not bound: %v", c.ctr.Id, ref, err)
			failures.Add(1)
		}
		if i%100 == 0 && ref == "builtin/wx" { // and the kernel enforces it
			if r := kerneltest.Run(t, c.dir, probe, "mprotect-rw-rx"); !r.Denied() {
				t.Errorf("mprotect in %s: %s", c.ctr.Id, r)
			}
		}
	})
	created := time.Since(start)
	all := pinnedState(t, pinDir)
	_, hwmAll := d.memory()
	// With all 1,000 running: each is bound to its own profile.
	byCgroup := map[uint64]enforcement.BoundCgroup{}
	for _, b := range all.Bindings {
		byCgroup[b.CgroupID] = b
	}
	for i, c := range ctrs {
		if c == nil {
			continue
		}
		if b, ok := byCgroup[cgids[i]]; !ok || b.ProfileName != refs[i%len(refs)] {
			t.Errorf("container %s is bound to %+v (found %v); want %s", c.ctr.Id, b, ok, refs[i%len(refs)])
			failures.Add(1)
		}
	}
	parallel(func(i int) {
		if ctrs[i] == nil {
			return
		}
		if err := rt.remove(ctrs[i]); err != nil {
			t.Errorf("remove %s: %v", ctrs[i].ctr.Id, err)
		}
	})
	took := time.Since(start)
	rss, hwm := d.memory()
	// Profiles stay loaded for the next container (until a restart's
	// Synchronize drops the unused ones): three, whatever the count.
	st := checkPinned(t, pinDir, map[string]*simContainer{}, nil, false)
	if len(st.Profiles) != len(refs) {
		t.Errorf("%d profiles loaded; want %d", len(st.Profiles), len(refs))
	}
	rulesEntries := -1
	for _, m := range st.Maps {
		if m.Name == "krsi_rules" {
			rulesEntries = m.Entries
		}
	}
	t.Logf("%d containers, %d workers: created, started and checked in %s, all removed %s later (%.1f ms per container in all); "+
		"%d bound at once; %d failures; left: %d bindings, %d staged paths, %d profiles, %d rule entries; "+
		"krsi's RSS %d KiB at the end, peak %d KiB (%d KiB after start, %d KiB with all %d running)",
		total, workers, created.Round(time.Millisecond), (took - created).Round(time.Millisecond), float64(took.Milliseconds())/total,
		len(all.Bindings), failures.Load(), len(st.Bindings), len(st.Staged), len(st.Profiles), rulesEntries,
		rss, hwm, hwmStart, hwmAll, total)
	if len(all.Bindings) != total-int(failures.Load()) {
		t.Errorf("%d cgroups bound with all %d containers running", len(all.Bindings), total)
	}
	if len(st.Bindings) != 0 || len(st.Staged) != 0 {
		t.Errorf("entries left behind: %d bindings, %d staged paths", len(st.Bindings), len(st.Staged))
	}
	// krsi keeps no per-container state once a container is removed; a
	// daemon that did would grow with every container.
	if hwm > 100*1024 {
		t.Errorf("krsi's peak RSS is %d KiB for 1,000 containers; want under 100 MiB", hwm)
	}
}
