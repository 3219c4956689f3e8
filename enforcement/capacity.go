package enforcement

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Capacity overrides the number of entries of the maps that grow with use.
// Zero keeps the size compiled into bpf/include/krsi_maps.h. Sizes are fixed
// when the maps are created: a pinned set made with other sizes is not
// reused (Open says so), so change them only together with `krsi unload`.
type Capacity struct {
	Bindings int // krsi_bindings: bound cgroups
	Staged   int // krsi_staged: containers created, not yet started
	Profiles int // krsi_profiles and krsi_names: loaded profiles
	Rules    int // krsi_rules: rules of all loaded profiles together
	// NestedPerContainer bounds the cgroups a container may create inside
	// its own that the kernel binds (inherited bindings); further ones stay
	// unbound and no bound process can enter them. Zero: 256. All
	// containers together hold at most half of krsi_bindings (Bindings).
	NestedPerContainer int
}

// ErrMapFull is wrapped by every error caused by a kernel map with no room
// left for the entry being written.
var ErrMapFull = errors.New("kernel map full")

func (c Capacity) apply(spec *ebpf.CollectionSpec) error {
	for name, n := range map[string]int{
		bpfMapKrsiBindings: c.Bindings,
		bpfMapKrsiStaged:   c.Staged,
		bpfMapKrsiProfiles: c.Profiles,
		bpfMapKrsiNames:    c.Profiles,
		bpfMapKrsiRules:    c.Rules,
	} {
		if n < 0 || n > 1<<24 {
			return fmt.Errorf("capacity of %s: %d entries; want 1 to %d", name, n, 1<<24)
		}
		if n > 0 {
			spec.Maps[name].MaxEntries = uint32(n)
		}
	}
	if c.NestedPerContainer < 0 || c.NestedPerContainer > 1<<24 {
		return fmt.Errorf("nested cgroups per container: %d; want 1 to %d", c.NestedPerContainer, 1<<24)
	}
	// Zero keeps krsi_nested_quota's compiled value; krsi_nested_max is half
	// of krsi_bindings, whatever its size.
	vars := map[string]uint64{bpfVarKrsiNestedMax: uint64(spec.Maps[bpfMapKrsiBindings].MaxEntries / 2)}
	if c.NestedPerContainer > 0 {
		vars[bpfVarKrsiNestedQuota] = uint64(c.NestedPerContainer)
	}
	for name, v := range vars {
		vs, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("variable %s is not in krsi's BPF object (a build mismatch)", name)
		}
		if err := vs.Set(v); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}

// fullError names the map an update could not go into and why: E2BIG is
// the kernel's "max_entries reached" for hash maps, ENOMEM a refused
// allocation (BPF_F_NO_PREALLOC maps allocate per entry). Other errors pass
// through.
func fullError(m *ebpf.Map, name string, err error) error {
	switch {
	case errors.Is(err, unix.E2BIG):
		return fmt.Errorf("%w: %s holds at most %d entries and has no room left", ErrMapFull, name, m.MaxEntries())
	case errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("%w: the kernel could not allocate memory for another %s entry (%d at most): %w",
			ErrMapFull, name, m.MaxEntries(), err)
	}
	return err
}
