package enforcement

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

// Binding flags and modes (krsi_binding.flags and .mode).
const (
	bindingInherited = uint8(bpfKrsiBindingFlagKRSI_BINDING_INHERITED)
	bindingStaged    = uint8(bpfKrsiBindingFlagKRSI_BINDING_STAGED)
	bindingFallback  = uint8(bpfKrsiBindingFlagKRSI_BINDING_FALLBACK)
	bindingUnconf    = uint8(bpfKrsiBindingFlagKRSI_BINDING_UNCONFINED)
	bindingPending   = uint8(bpfKrsiBindingFlagKRSI_BINDING_EXEC_PENDING)
	modeEnforce      = uint8(bpfKrsiModeKRSI_MODE_ENFORCE)
	modeAudit        = uint8(bpfKrsiModeKRSI_MODE_AUDIT)
)

// maxCgroupPath is KRSI_CGROUP_PATH_MAX: the longest stageable path is one less.
const maxCgroupPath = len(bpfKrsiCgroupPath{}.Path)

func encodeBinding(id enforced.ProfileID, mode profiles.Mode) (bpfKrsiBinding, error) {
	b := bpfKrsiBinding{ProfileId: uint32(id)}
	switch mode {
	case profiles.ModeEnforce, "":
		b.Mode = modeEnforce
	case profiles.ModeAudit:
		b.Mode = modeAudit
	default:
		return b, fmt.Errorf("unknown mode %q (want enforce or audit)", mode)
	}
	return b, nil
}

func decodeBinding(b bpfKrsiBinding) enforced.Binding {
	mode := profiles.ModeEnforce
	if b.Mode == modeAudit {
		mode = profiles.ModeAudit
	}
	return enforced.Binding{
		Profile:     enforced.ProfileID(b.ProfileId),
		Mode:        mode,
		Staged:      b.Flags&bindingStaged != 0,
		Inherited:   b.Flags&bindingInherited != 0,
		Fallback:    b.Flags&bindingFallback != 0,
		Unconfined:  b.Flags&bindingUnconf != 0,
		ExecPending: b.Flags&bindingPending != 0,
	}
}

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

func cgroupPathKey(path string) (bpfKrsiCgroupPath, error) {
	var k bpfKrsiCgroupPath
	if len(path) == 0 || path[0] != '/' {
		return k, fmt.Errorf("cgroup path %q: must be absolute within the cgroup2 hierarchy", clipPath(path))
	}
	if len(path) >= maxCgroupPath {
		return k, fmt.Errorf("cgroup path %q: %d bytes, longer than the %d that can be staged",
			clipPath(path), len(path), maxCgroupPath-1)
	}
	copy(int8s(k.Path[:]), path)
	return k, nil
}

// clipPath shortens a path for an error message: errors go back to the
// runtime and into logs, and a path can be as long as the runtime sent it.
func clipPath(p string) string {
	if len(p) <= 128 {
		return p
	}
	return strings.ToValidUTF8(p[:128], "") + "…"
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
