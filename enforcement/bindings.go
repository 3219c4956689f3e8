package enforcement

// The map store's cgroup side: bindings (krsi_bindings, by cgroup id) and
// stagings (krsi_staged, by cgroup path, applied by the kernel's cgroup_mkdir
// as the cgroup is created).

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

func (e *Enforcer) checkProfile(id enforced.ProfileID) error {
	var p bpfKrsiProfile
	if err := e.maps.KrsiProfiles.Lookup(uint32(id), &p); err != nil {
		return fmt.Errorf("profile %d is not loaded: %w", id, err)
	}
	return nil
}

// Bind enforces profile id on the cgroup with v2 id cgroupID from now on.
// Processes already in the cgroup are enforced from their next operation.
func (e *Enforcer) Bind(cgroupID uint64, id enforced.ProfileID, mode profiles.Mode) error {
	b, err := encodeBinding(id, mode)
	if err != nil {
		return err
	}
	if err := e.checkProfile(id); err != nil {
		return fmt.Errorf("bind cgroup %d: %w", cgroupID, err)
	}
	if err := e.maps.KrsiBindings.Update(cgroupID, &b, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("bind cgroup %d to profile %d: %w", cgroupID, id,
			fullError(e.maps.KrsiBindings, bpfMapKrsiBindings, err))
	}
	return e.forgetFallback(cgroupID)
}

// Arm applies a container cgroup's exec rules now, if they still wait for its
// entrypoint (StageContainer). It says whether they were waiting. A cgroup
// that is gone, or not bound, is not an error.
func (e *Enforcer) Arm(cgroupID uint64) (bool, error) {
	var b bpfKrsiBinding
	err := e.maps.KrsiBindings.Lookup(cgroupID, &b)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("arm cgroup %d: %w", cgroupID, err)
	}
	if b.Flags&bindingPending == 0 {
		return false, nil
	}
	b.Flags &^= bindingPending
	// UpdateExist: a cgroup removed meanwhile stays unbound.
	err = e.maps.KrsiBindings.Update(cgroupID, &b, ebpf.UpdateExist)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("arm cgroup %d: %w", cgroupID, err)
	}
	return true, nil
}

// Unbind stops enforcing on the cgroup. Unbinding an unbound cgroup is not an error.
func (e *Enforcer) Unbind(cgroupID uint64) error {
	if err := e.maps.KrsiBindings.Delete(cgroupID); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unbind cgroup %d: %w", cgroupID, err)
	}
	return e.forgetFallback(cgroupID)
}

// Lookup returns the cgroup's binding, if it has one.
func (e *Enforcer) Lookup(cgroupID uint64) (enforced.Binding, bool, error) {
	var b bpfKrsiBinding
	err := e.maps.KrsiBindings.Lookup(cgroupID, &b)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return enforced.Binding{}, false, nil
	}
	if err != nil {
		return enforced.Binding{}, false, fmt.Errorf("look up cgroup %d: %w", cgroupID, err)
	}
	return decodeBinding(b), true, nil
}

// Bindings lists every bound cgroup.
func (e *Enforcer) Bindings() (map[uint64]enforced.Binding, error) {
	return readBindings(e.maps.KrsiBindings)
}

// Stage makes the kernel bind the cgroup created at path (relative to the
// cgroup2 root, as the kernel's cgroup_mkdir tracepoint gives it) the moment it
// is created, before any process can enter it.
func (e *Enforcer) Stage(path string, id enforced.ProfileID, mode profiles.Mode) error {
	return e.stage(path, id, mode, 0)
}

// StageContainer stages a container's cgroup whose entrypoint the runtime has
// yet to start. Its exec rules wait until then: runc 1.1 re-executes itself
// inside the container's cgroup, from a memfd or a detached mount, before it
// executes the entrypoint, and an exec allow list would refuse it, so the
// container would never start. The kernel arms them at the first other exec
// (and checks that one); the plugin arms them at StartContainer (Arm). W^X
// and file rules apply from the cgroup's creation.
func (e *Enforcer) StageContainer(path string, id enforced.ProfileID, mode profiles.Mode) error {
	return e.stage(path, id, mode, bindingPending)
}

func (e *Enforcer) stage(path string, id enforced.ProfileID, mode profiles.Mode, flags uint8) error {
	k, err := cgroupPathKey(path)
	if err != nil {
		return err
	}
	b, err := encodeBinding(id, mode)
	if err != nil {
		return err
	}
	b.Flags = flags
	if err := e.checkProfile(id); err != nil {
		return fmt.Errorf("stage cgroup %s: %w", path, err)
	}
	if err := e.maps.KrsiStaged.Update(&k, &b, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("stage cgroup %s: %w", path, fullError(e.maps.KrsiStaged, bpfMapKrsiStaged, err))
	}
	return nil
}

// Unstage forgets a staged path; a cgroup already created keeps its binding.
func (e *Enforcer) Unstage(path string) error {
	k, err := cgroupPathKey(path)
	if err != nil {
		return err
	}
	if err := e.maps.KrsiStaged.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unstage cgroup %s: %w", path, err)
	}
	return nil
}

// Staged lists the staged cgroup paths and their bindings.
func (e *Enforcer) Staged() (map[string]enforced.Binding, error) {
	return readStaged(e.maps.KrsiStaged)
}
