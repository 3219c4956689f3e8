package enforcement

// Fail closed: the kernel confines a new container on its own when no
// binding was staged for it (krsi down, stopped or too slow for the runtime).
// User space marks the cgroups under which the runtime creates pod and
// container cgroups, each with the binding (the node's fallback profile) a
// container created there gets; cgroup_mkdir does the rest (bpf/progs/cgroup.h,
// bind_fallback). These are the writers and readers of krsi_parent_paths,
// krsi_parents and krsi_fallback.

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

// SetFallback marks parents (and unmarks every other cgroup) so that the
// kernel binds each container cgroup created under them with no staged
// binding to profile id in mode, flagged as a fallback binding. Paths are
// written before ids, so a parent created in between is marked by the kernel.
func (e *Enforcer) SetFallback(parents []enforced.Parent, id enforced.ProfileID, mode profiles.Mode) error {
	if max := int(e.maps.KrsiParentPaths.MaxEntries()); len(parents) > max {
		return fmt.Errorf("%d cgroup parents to mark: at most %d", len(parents), max)
	}
	b, err := encodeBinding(id, mode)
	if err != nil {
		return err
	}
	if err := e.checkProfile(id); err != nil {
		return fmt.Errorf("fallback profile: %w", err)
	}
	wantPaths := map[string]bool{}
	wantIDs := map[uint64]bool{}
	for _, p := range parents {
		if p.Kind != enforced.ParentOfPods && p.Kind != enforced.ParentOfContainers {
			return fmt.Errorf("cgroup parent %s: unknown kind %d", p.Path, p.Kind)
		}
		k, err := cgroupPathKey(p.Path)
		if err != nil {
			return err
		}
		v := bpfKrsiParent{ProfileId: b.ProfileId, Mode: b.Mode, Kind: uint8(p.Kind)}
		if err := e.maps.KrsiParentPaths.Update(&k, &v, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("mark cgroup parent %s: %w", p.Path, err)
		}
		wantPaths[p.Path] = true
		if p.ID != 0 {
			if err := e.maps.KrsiParents.Update(p.ID, &v, ebpf.UpdateAny); err != nil {
				return fmt.Errorf("mark cgroup parent %s (id %d): %w", p.Path, p.ID, err)
			}
			wantIDs[p.ID] = true
		}
	}
	return e.unmarkExcept(wantPaths, wantIDs)
}

// ClearFallback unmarks every parent: new containers nobody staged are left
// unbound, as without fail closed. Existing fallback bindings stay.
func (e *Enforcer) ClearFallback() error { return e.unmarkExcept(nil, nil) }

func (e *Enforcer) unmarkExcept(paths map[string]bool, ids map[uint64]bool) error {
	var k bpfKrsiCgroupPath
	var v bpfKrsiParent
	var stalePaths []bpfKrsiCgroupPath
	it := e.maps.KrsiParentPaths.Iterate()
	for it.Next(&k, &v) {
		if !paths[cString(k.Path[:])] {
			stalePaths = append(stalePaths, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read %s: %w", bpfMapKrsiParentPaths, err)
	}
	for i := range stalePaths {
		if err := e.maps.KrsiParentPaths.Delete(&stalePaths[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("unmark cgroup parent %s: %w", cString(stalePaths[i].Path[:]), err)
		}
	}
	var id uint64
	var staleIDs []uint64
	it = e.maps.KrsiParents.Iterate()
	for it.Next(&id, &v) {
		if !ids[id] {
			staleIDs = append(staleIDs, id)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read %s: %w", bpfMapKrsiParents, err)
	}
	for _, id := range staleIDs {
		if err := e.maps.KrsiParents.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("unmark cgroup parent id %d: %w", id, err)
		}
	}
	return nil
}

// MarkedParent is a marked cgroup parent as the kernel has it.
type MarkedParent struct {
	Path string              `json:"path,omitempty"`
	ID   uint64              `json:"cgroup_id,omitempty"` // 0: not created yet
	Kind enforced.ParentKind `json:"kind"`
	// Profile and Mode are the fallback binding of containers created under it.
	Profile enforced.ProfileID `json:"profile_id"`
	Mode    profiles.Mode      `json:"mode"`
}

// Fallbacks lists the container cgroups that run under a fallback binding.
func (e *Enforcer) Fallbacks() (map[uint64]enforced.FallbackRecord, error) {
	return readFallbacks(e.maps.KrsiFallback)
}

// forgetFallback drops a cgroup's fallback record: its binding is now the
// one user space chose (or none).
func (e *Enforcer) forgetFallback(cgroupID uint64) error {
	if err := e.maps.KrsiFallback.Delete(cgroupID); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("forget fallback binding of cgroup %d: %w", cgroupID, err)
	}
	return nil
}

// StageUnconfined tells the kernel that the cgroup created at path gets no
// binding, not even the fallback: the plugin decided it runs unconfined.
func (e *Enforcer) StageUnconfined(path string) error {
	k, err := cgroupPathKey(path)
	if err != nil {
		return err
	}
	b := bpfKrsiBinding{Flags: bindingUnconf}
	if err := e.maps.KrsiStaged.Update(&k, &b, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("stage cgroup %s as unconfined (krsi_staged holds %d): %w", path, e.maps.KrsiStaged.MaxEntries(), err)
	}
	return nil
}

// MarkedParents lists what is marked: each configured path (ID 0), then each
// marked cgroup id (Path ""; the kernel keys these by id only).
func (e *Enforcer) MarkedParents() ([]MarkedParent, error) {
	return readParents(e.maps.KrsiParentPaths, e.maps.KrsiParents)
}
