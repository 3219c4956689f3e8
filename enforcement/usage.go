package enforcement

// What a running Enforcer reports of its own maps: the kernel's counters
// (krsi_stats) and how full the maps that grow with use are (metrics).

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/krsi-dev/krsi/enforced"
)

// FailedBindings is how many cgroups the kernel could not bind at creation
// (staged or inherited) because krsi_bindings was full. The plugin's check at
// StartContainer catches a container's own cgroup; nested ones stay unbound.
func (e *Enforcer) FailedBindings() (uint64, error) {
	return readStat(e.maps.KrsiStats, bpfKrsiStatKRSI_STAT_BIND_FAILED)
}

// NestedRefused is how many cgroups created inside bound ones the kernel left
// unbound because their container had used its quota of nested bindings (or
// all containers their share of krsi_bindings). No bound process can enter
// such a cgroup: the container's move into it fails with EPERM.
func (e *Enforcer) NestedRefused() (uint64, error) {
	return readStat(e.maps.KrsiStats, bpfKrsiStatKRSI_STAT_NESTED_REFUSED)
}

// DroppedEvents is how many events the kernel could not queue because the
// ring buffer was full. Enforcement is unaffected by drops.
func (e *Enforcer) DroppedEvents() (uint64, error) {
	return readStat(e.maps.KrsiStats, bpfKrsiStatKRSI_STAT_EVENTS_DROPPED)
}

// MapUsage reports how full the maps that grow with use are: bindings,
// staged paths, profiles, profile names, rules and fallback records. It reads every entry of
// them (see ReadStatus for the cost).
func (e *Enforcer) MapUsage() ([]enforced.MapUsage, error) {
	counts := []struct {
		m     *ebpf.Map
		count func(*ebpf.Map) (int, error)
	}{
		{e.maps.KrsiBindings, countEntries[uint64, bpfKrsiBinding]},
		{e.maps.KrsiStaged, countEntries[bpfKrsiCgroupPath, bpfKrsiBinding]},
		{e.maps.KrsiProfiles, countEntries[uint32, bpfKrsiProfile]},
		{e.maps.KrsiNames, countEntries[uint32, bpfKrsiProfileMeta]},
		{e.maps.KrsiRules, countEntries[bpfKrsiRuleKey, bpfKrsiRule]},
		{e.maps.KrsiFallback, countEntries[uint64, bpfKrsiFallbackRec]},
	}
	names := []string{bpfMapKrsiBindings, bpfMapKrsiStaged, bpfMapKrsiProfiles, bpfMapKrsiNames, bpfMapKrsiRules,
		bpfMapKrsiFallback}
	out := make([]enforced.MapUsage, 0, len(counts))
	for i, c := range counts {
		n, err := c.count(c.m)
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", names[i], err)
		}
		out = append(out, enforced.MapUsage{Name: names[i], Entries: n, MaxEntries: c.m.MaxEntries()})
	}
	return out, nil
}
