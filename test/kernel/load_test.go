package kernel_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"

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
	d := newDaemon(t, rt.sock, pinDir, profDir)
	d.start()
	if !rt.waitSynced(30 * time.Second) {
		t.Fatal("krsi did not connect to the runtime")
	}
	// The bindings map, read-only, to check each container as it starts.
	bindings, err := ebpf.LoadPinnedMap(pinDir+"/krsi_bindings", &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bindings.Close()
	names := map[uint32]string{}
	for _, p := range pinnedState(t, pinDir).Profiles {
		names[uint32(p.ID)] = p.Name
	}
	var namesMu sync.Mutex
	profileName := func(id uint32) string {
		namesMu.Lock()
		defer namesMu.Unlock()
		if n, ok := names[id]; ok {
			return n
		}
		for _, p := range pinnedState(t, pinDir).Profiles {
			names[uint32(p.ID)] = p.Name
		}
		return names[id]
	}
	refs := []string{"builtin/wx", "localhost/a", "localhost/b"}
	_, hwmStart := d.memory()

	// Two phases, each spread over the workers: all 1,000 are created,
	// started and checked (so 1,000 are bound at once), then all are
	// removed.
	var failures atomic.Int64
	ctrs := make([]*simContainer, total)
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
		id := kerneltest.ID(t, c.dir)
		val := make([]byte, bindings.ValueSize()) // struct krsi_binding: profile id (u32) first
		if err := bindings.Lookup(id, val); err != nil {
			t.Errorf("container %s (%s): its cgroup is not bound: %v", c.ctr.Id, ref, err)
			failures.Add(1)
		} else if got := profileName(uint32(val[0]) | uint32(val[1])<<8 | uint32(val[2])<<16 | uint32(val[3])<<24); got != ref {
			t.Errorf("container %s is bound to %q; want %s", c.ctr.Id, got, ref)
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
