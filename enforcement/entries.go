package enforcement

// The map store's encoding: kernel map entries (the bpfKrsi* types bpf2go
// generates from bpf/include/krsi.h) to and from the enforced package's
// values, and the readers of whole maps. The Enforcer uses them on the maps
// it loaded or took over (bindings.go, profiles.go, fallback.go), ReadStatus
// on pinned maps opened read-only (status.go).

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

// The krsi_binding flags user space writes (cgroup_mkdir sets the others).
const (
	bindingPending = uint8(bpfKrsiBindingFlagKRSI_BINDING_EXEC_PENDING)
	bindingUnconf  = uint8(bpfKrsiBindingFlagKRSI_BINDING_UNCONFINED)
)

// maxCgroupPath is KRSI_CGROUP_PATH_MAX: the longest stageable path is one less.
const maxCgroupPath = len(bpfKrsiCgroupPath{}.Path)

func encodeBinding(id enforced.ProfileID, mode profiles.Mode) (bpfKrsiBinding, error) {
	b := bpfKrsiBinding{ProfileId: uint32(id)}
	switch mode {
	case profiles.ModeEnforce, "":
		b.Mode = uint8(bpfKrsiModeKRSI_MODE_ENFORCE)
	case profiles.ModeAudit:
		b.Mode = uint8(bpfKrsiModeKRSI_MODE_AUDIT)
	default:
		return b, fmt.Errorf("unknown mode %q (want enforce or audit)", mode)
	}
	return b, nil
}

func decodeBinding(b bpfKrsiBinding) enforced.Binding {
	mode := profiles.ModeEnforce
	if b.Mode == uint8(bpfKrsiModeKRSI_MODE_AUDIT) {
		mode = profiles.ModeAudit
	}
	has := func(f bpfKrsiBindingFlag) bool { return b.Flags&uint8(f) != 0 }
	return enforced.Binding{
		Profile:     enforced.ProfileID(b.ProfileId),
		Mode:        mode,
		Staged:      has(bpfKrsiBindingFlagKRSI_BINDING_STAGED),
		Inherited:   has(bpfKrsiBindingFlagKRSI_BINDING_INHERITED),
		Fallback:    has(bpfKrsiBindingFlagKRSI_BINDING_FALLBACK),
		Unconfined:  has(bpfKrsiBindingFlagKRSI_BINDING_UNCONFINED),
		ExecPending: has(bpfKrsiBindingFlagKRSI_BINDING_EXEC_PENDING),
	}
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

func readStat(m *ebpf.Map, key bpfKrsiStat) (uint64, error) {
	var n uint64
	if err := m.Lookup(uint32(key), &n); err != nil {
		return 0, fmt.Errorf("read krsi_stats: %w", err)
	}
	return n, nil
}

// readBindings reads krsi_bindings: bindings by cgroup id.
func readBindings(m *ebpf.Map) (map[uint64]enforced.Binding, error) {
	return readBindingMap(m, bpfMapKrsiBindings, func(id *uint64) uint64 { return *id })
}

// readStaged reads krsi_staged: bindings by cgroup path.
func readStaged(m *ebpf.Map) (map[string]enforced.Binding, error) {
	return readBindingMap(m, bpfMapKrsiStaged, func(k *bpfKrsiCgroupPath) string { return cString(k.Path[:]) })
}

// readBindingMap reads a whole map whose values are bindings, keyed by what
// key makes of the map's keys.
func readBindingMap[MK any, K comparable](m *ebpf.Map, name string, key func(*MK) K) (map[K]enforced.Binding, error) {
	out := map[K]enforced.Binding{}
	var k MK
	var b bpfKrsiBinding
	it := m.Iterate()
	for it.Next(&k, &b) {
		out[key(&k)] = decodeBinding(b)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// countEntries counts a hash map's entries in batches of 1024 (one syscall
// each), or one by one where the kernel has no batch lookup. A map changed
// meanwhile gives a count between its sizes before and after.
func countEntries[K, V any](m *ebpf.Map) (int, error) {
	keys := make([]K, 1024)
	vals := make([]V, 1024)
	var cursor ebpf.MapBatchCursor
	total := 0
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		total += n
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			return total, nil
		case errors.Is(err, ebpf.ErrNotSupported):
			total = 0
			var k K
			var v V
			it := m.Iterate()
			for it.Next(&k, &v) {
				total++
			}
			return total, it.Err()
		case err != nil:
			return 0, err
		}
	}
}

func readParents(paths, ids *ebpf.Map) ([]MarkedParent, error) {
	var out []MarkedParent
	var k bpfKrsiCgroupPath
	var v bpfKrsiParent
	it := paths.Iterate()
	for it.Next(&k, &v) {
		out = append(out, MarkedParent{Path: cString(k.Path[:]), Kind: enforced.ParentKind(v.Kind),
			Profile: enforced.ProfileID(v.ProfileId), Mode: decodeBinding(bpfKrsiBinding{Mode: v.Mode}).Mode})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", bpfMapKrsiParentPaths, err)
	}
	var id uint64
	it = ids.Iterate()
	for it.Next(&id, &v) {
		out = append(out, MarkedParent{ID: id, Kind: enforced.ParentKind(v.Kind),
			Profile: enforced.ProfileID(v.ProfileId), Mode: decodeBinding(bpfKrsiBinding{Mode: v.Mode}).Mode})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", bpfMapKrsiParents, err)
	}
	return out, nil
}

func readFallbacks(m *ebpf.Map) (map[uint64]enforced.FallbackRecord, error) {
	now := time.Now()
	boot, err := bootNanos()
	if err != nil {
		return nil, err
	}
	out := map[uint64]enforced.FallbackRecord{}
	var id uint64
	var r bpfKrsiFallbackRec
	it := m.Iterate()
	for it.Next(&id, &r) {
		out[id] = enforced.FallbackRecord{Since: now.Add(-time.Duration(boot - int64(r.BoundNs))), ParentID: r.ParentId}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", bpfMapKrsiFallback, err)
	}
	return out, nil
}

// bootNanos is CLOCK_BOOTTIME, the clock of bpf_ktime_get_boot_ns.
func bootNanos() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, fmt.Errorf("read CLOCK_BOOTTIME: %w", err)
	}
	return ts.Nano(), nil
}

func int8s(b []int8) []byte { return unsafeBytes(b) }

func cString(b []int8) string {
	s := unsafeBytes(b)
	for i, c := range s {
		if c == 0 {
			return string(s[:i])
		}
	}
	return string(s)
}
