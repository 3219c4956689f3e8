// Package enforced holds what krsi's kernel side enforces and reports, as
// plain Go values: which profile a cgroup is bound to (ProfileID, Binding),
// the cgroup parents under which the kernel confines new containers on its
// own (Parent, FallbackRecord), violations (Event) and how full the maps are
// (MapUsage). Step in the pipeline: the values between the kernel's map
// entries and their users.
//
// The enforcement package, the only code that touches BPF, turns these into
// map entries and back. The plugin, the event log, the recorder and the
// metrics use them without importing any BPF code: this package imports
// none. The few kernel constants it copies (MaxCgroupParents,
// MaxCgroupPathLen, the ParentKind values) are compared with the BPF object
// by enforcement's TestABI.
package enforced

import (
	"fmt"
	"time"

	"github.com/krsi-dev/krsi/profiles"
)

// DefaultPinDir is where a daemon pins programs, links and maps.
const DefaultPinDir = "/sys/fs/bpf/krsi"

// ProfileID names a profile in the kernel maps; bindings refer to it.
type ProfileID uint32

// Binding is what a cgroup is enforced with.
type Binding struct {
	Profile ProfileID
	Mode    profiles.Mode
	// Staged: cgroup_mkdir bound it from a staged path at creation.
	Staged bool
	// Inherited: cgroup_mkdir bound it because its parent was bound.
	Inherited bool
	// Fallback: cgroup_mkdir bound it (or the cgroup it is nested in) to a
	// marked parent's fallback profile, because no binding was staged.
	Fallback bool
	// Unconfined: a staging that tells cgroup_mkdir to bind nothing, not even
	// the fallback (only in Staged).
	Unconfined bool
	// ExecPending: a container cgroup whose entrypoint has not run yet; path
	// rules (exec and files) wait for it (StageContainer, Arm).
	ExecPending bool
}

// MaxCgroupPathLen is the longest cgroup path (relative to the cgroup2
// root) the kernel can be given to stage or mark: KRSI_CGROUP_PATH_MAX less
// the NUL.
const MaxCgroupPathLen = 511

// MaxCgroupParents is how many cgroup parents can be marked
// (krsi_parent_paths' and krsi_parents' max_entries).
const MaxCgroupParents = 64

// ParentKind says what the children of a marked parent cgroup are: enum
// krsi_parent_kind.
type ParentKind uint8

const (
	// ParentOfPods: children are pod cgroups, grandchildren containers (the
	// kubelet's QoS levels: /kubepods, /kubepods/besteffort, ...).
	ParentOfPods ParentKind = 1
	// ParentOfContainers: children are containers (/k8s.io, containerd
	// without a cgroup parent).
	ParentOfContainers ParentKind = 2
)

func (k ParentKind) String() string {
	switch k {
	case ParentOfPods:
		return "pods"
	case ParentOfContainers:
		return "containers"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Parent is a cgroup to mark.
type Parent struct {
	// Path is relative to the cgroup2 root, as cgroup_mkdir reports it.
	Path string
	Kind ParentKind
	// ID is the cgroup's id if it exists now, else 0: cgroup_mkdir marks it
	// when it is created.
	ID uint64
}

// FallbackRecord is a container cgroup cgroup_mkdir bound to a fallback
// profile, while it still has that binding.
type FallbackRecord struct {
	// Since is when the kernel bound it (wall clock, from CLOCK_BOOTTIME).
	Since    time.Time `json:"since"`
	ParentID uint64    `json:"parent_cgroup_id"`
}

// MapUsage is how full one map is.
type MapUsage struct {
	Name       string `json:"name"`
	Entries    int    `json:"entries"`
	MaxEntries uint32 `json:"max_entries"`
}

// Percent is Entries as a percentage of MaxEntries.
func (u MapUsage) Percent() float64 {
	if u.MaxEntries == 0 {
		return 0
	}
	return 100 * float64(u.Entries) / float64(u.MaxEntries)
}
