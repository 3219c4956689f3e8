package enforcement_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// mapMem is what the kernel says about one of krsi's maps.
type mapMem struct {
	info    *ebpf.MapInfo
	memlock uint64 // fdinfo memlock: bytes the kernel charges for the map
}

// krsiMaps reads every map of the enforcer pinned under pinDir, plus krsi's
// unpinned maps (the newest of each name: this test's).
func krsiMaps(t *testing.T, pinDir string) map[string]mapMem {
	t.Helper()
	out := map[string]mapMem{}
	add := func(m *ebpf.Map) {
		defer m.Close()
		info, err := m.Info()
		if err != nil {
			t.Fatalf("map info: %v", err)
		}
		// Some kernels report none for some types (6.1: the ring buffer);
		// those show as 0 and are left out of the per-entry figures.
		mem, _ := info.Memlock()
		out[info.Name] = mapMem{info, mem}
	}
	ents, err := os.ReadDir(pinDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, ent.Name()), nil); err == nil {
			add(m) // programs and links are pinned there too; they do not load as maps
		}
	}
	var id ebpf.MapID
	newest := map[string]ebpf.MapID{}
	for {
		next, err := ebpf.MapGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		id = next
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		info, err := m.Info()
		m.Close()
		if err == nil && strings.HasPrefix(info.Name, "krsi_") {
			if _, pinned := out[info.Name]; !pinned {
				newest[info.Name] = id
			}
		}
	}
	for _, id := range newest {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			t.Fatal(err)
		}
		add(m)
	}
	return out
}

// The memory target: at most 64 KiB of map memory per bound container
// plus the rules themselves, and no per-CPU map that grows with the number of
// profiles (it would cost cores × profiles). 1,000 bound containers and 100
// profiles of 100 rules each; the figures are the kernel's own (fdinfo memlock).
// Kernels before 6.4 report a hash map's ceiling (max_entries × entry size)
// there, not what it holds; the test says which kind it got.
func TestMapMemoryPerContainerAndRule(t *testing.T) {
	kerneltest.Require(t)
	pinDir := filepath.Join("/sys/fs/bpf", "krsi-test-"+filepath.Base(t.TempDir()))
	t.Cleanup(func() { enforcement.Unload(pinDir) })
	e := open(t, enforcement.Options{PinDir: pinDir})

	const containers, nprofiles, rulesPer = 1000, 100, 100
	before := krsiMaps(t, pinDir)
	ids := make([]enforced.ProfileID, nprofiles)
	for p := range nprofiles {
		var y strings.Builder
		y.WriteString("exec:\n  deny:\n")
		for i := range rulesPer / 2 {
			fmt.Fprintf(&y, "    - /opt/p%d/bin%d/tool\n", p, i)
		}
		y.WriteString("files:\n  rules:\n")
		for i := range rulesPer / 2 {
			fmt.Fprintf(&y, "    - path: /srv/p%d/data%d/**\n      deny: [write]\n", p, i)
		}
		id := setProfile(t, e, fmt.Sprintf("mem%d", p), y.String())
		ids[p] = id
	}
	for i := range containers {
		if err := e.Bind(1<<40+uint64(i), ids[i%nprofiles], profiles.ModeEnforce); err != nil {
			t.Fatal(err)
		}
	}
	after := krsiMaps(t, pinDir)

	names := make([]string, 0, len(after))
	for n := range after {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d bound containers, %d profiles × %d rules; kernel memlock per map:", containers, nprofiles, rulesPer)
	t.Logf("| map | type | max entries | key+value B | memlock empty | memlock loaded | growth |")
	for _, n := range names {
		a, b := after[n], before[n]
		t.Logf("| %s | %s | %d | %d | %d | %d | %d |", n, a.info.Type, a.info.MaxEntries,
			a.info.KeySize+a.info.ValueSize, b.memlock, a.memlock, int64(a.memlock)-int64(b.memlock))
		switch a.info.Type {
		case ebpf.PerCPUHash, ebpf.PerCPUArray, ebpf.LRUCPUHash, ebpf.PerCPUCGroupStorage:
			if a.info.MaxEntries != 1 {
				t.Errorf("per-CPU map %s has %d entries: its memory is cores × entries", n, a.info.MaxEntries)
			}
		}
	}

	grow := func(n string) int64 { return int64(after[n].memlock) - int64(before[n].memlock) }
	ceiling := func(n string) float64 { return float64(after[n].memlock) / float64(after[n].info.MaxEntries) }
	if grow("krsi_bindings") > 0 {
		perContainer := float64(grow("krsi_bindings")) / containers
		perRule := float64(grow("krsi_rules")) / (nprofiles * rulesPer)
		perProfile := float64(grow("krsi_profiles")+grow("krsi_names")) / nprofiles
		t.Logf("the kernel reports what the maps hold: %.0f B per bound container, %.0f B per rule, %.0f B per profile",
			perContainer, perRule, perProfile)
		if perContainer > 64<<10 {
			t.Errorf("%.0f B of map memory per bound container; the target is at most 64 KiB", perContainer)
		}
	} else {
		t.Logf("this kernel reports each hash map's ceiling, not its contents: at most %.0f B per binding, %.0f B per rule, %.0f B per profile",
			ceiling("krsi_bindings"), ceiling("krsi_rules"), ceiling("krsi_profiles")+ceiling("krsi_names"))
		if c := ceiling("krsi_bindings"); c > 64<<10 {
			t.Errorf("%.0f B per binding even at the ceiling; the target is at most 64 KiB", c)
		}
	}
	if tb, ok := after["krsi_task_buf"]; ok {
		t.Logf("not in any map's memlock: a bound task that finds its CPU's scratch buffer busy (preempted inside a path check) gets a %d-byte one of its own (task storage) until it exits",
			tb.info.ValueSize)
	}
}
