package enforcement

// Replacing a pinned set made by another krsi (docs/upgrade.md). The new set
// is built beside the old one, in dir+"-next", takes over the old maps (or
// migrated copies of them), attaches, and only then takes the old set's
// place: at every instant one set at least is attached with every binding.
//
// Pin layout while it happens, and what a start finding it does (repairSwitch):
//
//	dir        the set in force
//	dir-next   the set being built; complete once its record is pinned
//	dir-old    the replaced set, between the two renames of the commit
//
//	dir + dir-next (any)            dir-next is removed: dir enforced throughout
//	no dir, dir-next + dir-old      the commit stopped between its renames: dir-next becomes dir
//	dir + dir-old                   dir-old is removed (its programs detach)
//
// Not dir.next: bpffs refuses names with a dot (reserved for the kernel).

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

func nextDir(dir string) string { return dir + "-next" }
func oldDir(dir string) string  { return dir + "-old" }

// carriedUnpinned are maps that are not pinned but hold state a new set must
// keep: the marks of files a container wrote (W^X). They are found through
// the old set's programs. The others that are not pinned are scratch space.
var carriedUnpinned = []string{"krsi_inode_marks"}

// movesTogether are maps that cgroup_mkdir and cgroup_rmdir update
// together: when one of them is copied into the new set, all are. Were the
// counters of nested bindings shared while the bindings are copied, the
// programs of both sets would count each cgroup made during the switch.
var movesTogether = [][]string{{bpfMapKrsiBindings, bpfMapKrsiNested, bpfMapKrsiFallback}}

// crashAt is the test hook of the upgrade tests (test/kernel/upgrade_test.go):
// KRSI_TEST_UPGRADE_CRASH_AT=<step> makes a replacing krsi kill itself with
// SIGKILL right after that step, as a crash or an OOM kill would, so that the
// next start has to repair what it left. Steps: loaded, attached, recorded,
// retired, swapped.
func crashAt(step string) {
	if os.Getenv("KRSI_TEST_UPGRADE_CRASH_AT") == step {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// repairSwitch finishes or undoes a replacement a crash interrupted (see the
// table above) and says what it did. It runs before anything looks at dir.
func repairSwitch(dir string) ([]string, error) {
	next, old := nextDir(dir), oldDir(dir)
	var report []string
	if exists(next) {
		_, complete, err := readRecord(next)
		switch {
		case err != nil:
			return nil, err
		case !exists(dir) && complete:
			if err := os.Rename(next, dir); err != nil {
				return nil, fmt.Errorf("finish the replacement a crash interrupted: rename %s to %s: %w", next, dir, err)
			}
			report = append(report, fmt.Sprintf("a replacement of the pinned set was interrupted between its two renames: "+
				"the new set in %s took its place in %s", next, dir))
		case !exists(dir) && exists(old):
			// Cannot happen (dir is renamed only once next is complete), but
			// if it did, the old set is whole.
			if err := os.Rename(old, dir); err != nil {
				return nil, fmt.Errorf("put the pinned set back: rename %s to %s: %w", old, dir, err)
			}
			fallthrough
		default:
			if err := os.RemoveAll(next); err != nil {
				return nil, fmt.Errorf("remove the set a crash left half built in %s: %w", next, err)
			}
			report = append(report, fmt.Sprintf("removed the set a crashed replacement left in %s "+
				"(the set in %s enforced throughout; it is replaced again now)", next, dir))
		}
	}
	if exists(old) {
		if !exists(dir) {
			if err := os.Rename(old, dir); err != nil {
				return nil, fmt.Errorf("put the pinned set back: rename %s to %s: %w", old, dir, err)
			}
		} else if err := os.RemoveAll(old); err != nil {
			return nil, fmt.Errorf("remove the replaced set in %s: %w", old, err)
		} else {
			report = append(report, fmt.Sprintf("removed the replaced set a crash left in %s: its programs detached", old))
		}
	}
	return report, nil
}

// convertFunc turns one entry of a map of the previous layout into one of
// the next layout.
type convertFunc func(key, value []byte) (newKey, newValue []byte, err error)

// migration turns the maps of layout from into those of layout from+1. Maps
// it does not name keep their layout and are carried over as they are.
type migration struct {
	from uint32
	maps map[string]convertFunc
}

// migrations, in order of from. Empty: ABI 3 is the first layout that a
// krsi replaces (every released krsi pins it); a change of bpf/include/*.h
// that bumps KRSI_ABI appends the migration from the layout before it, with
// a test that runs it (migrate_test.go).
var migrations []migration

// migrationPlan is the conversions, per map, from layout from to this
// krsi's: each in the order to apply them. krsi_conf is always rewritten
// when the layout changes: it holds the ABI.
func migrationPlan(dir string, from SetRecord) (map[string][]convertFunc, error) {
	plan := map[string][]convertFunc{}
	if from.ABI == abi {
		return plan, nil
	}
	if from.ABI > abi {
		return nil, fmt.Errorf("the set pinned in %s was made by a newer krsi (%s) than this one (%s), whose map "+
			"layout this krsi does not know: it leaves that set enforcing and stops. Run the newer krsi again, or, "+
			"to go back to this version, `krsi unload --pin-dir %s` (enforcement stops until this krsi has loaded "+
			"its set and the runtime's containers are bound again) and start this krsi", dir, from, Running(), dir)
	}
	for v := from.ABI; v < abi; v++ {
		i := slices.IndexFunc(migrations, func(m migration) bool { return m.from == v })
		if i < 0 {
			return nil, fmt.Errorf("the set pinned in %s has map layout ABI %d (%s) and this krsi (%s) has no migration "+
				"from ABI %d to %d: it leaves that set enforcing and stops. Upgrade through a krsi release with ABI %d "+
				"first, or `krsi unload --pin-dir %s` (enforcement stops until this krsi has loaded its set) and start "+
				"this krsi", dir, from.ABI, from, Running(), v, v+1, v+1, dir)
		}
		for name, f := range migrations[i].maps {
			plan[name] = append(plan[name], f)
		}
	}
	plan[bpfMapKrsiConf] = append(plan[bpfMapKrsiConf], setConfABI)
	return plan, nil
}

// setConfABI stamps this krsi's ABI into krsi_conf. Every layout keeps
// seed1, seed2 and abi at the start of struct krsi_config.
func setConfABI(key, value []byte) ([]byte, []byte, error) {
	if len(value) < 20 {
		return nil, nil, fmt.Errorf("krsi_conf value of %d bytes: too short for seeds and ABI", len(value))
	}
	v := slices.Clone(value)
	v[16], v[17], v[18], v[19] = byte(abi), byte(abi>>8), byte(abi>>16), byte(abi>>24)
	return key, v, nil
}

// pinnedABI is the layout of the set pinned in dir: from its record, or for
// a set pinned before records, from krsi_conf (seed1, seed2, abi).
func pinnedABI(dir string) (SetRecord, error) {
	rec, ok, err := readRecord(dir)
	if err != nil || ok {
		return rec, err
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, bpfMapKrsiConf), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return rec, fmt.Errorf("the set pinned in %s records no object and its krsi_conf cannot be opened, so its "+
			"layout is unknown: %w", dir, err)
	}
	defer m.Close()
	buf := make([]byte, m.ValueSize())
	if err := m.Lookup(uint32(0), buf); err != nil || len(buf) < 20 {
		return rec, fmt.Errorf("read %s/krsi_conf for the set's layout: %v", dir, err)
	}
	rec.ABI = uint32(buf[16]) | uint32(buf[17])<<8 | uint32(buf[18])<<16 | uint32(buf[19])<<24
	rec.Object = "unrecorded"
	return rec, nil
}

// setMaps opens the maps of the set pinned in dir that a new set takes
// over: the pinned ones, and carriedUnpinned through the set's programs.
func setMaps(dir string, spec *ebpf.CollectionSpec) (map[string]*ebpf.Map, error) {
	maps := map[string]*ebpf.Map{}
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if errors.Is(err, fs.ErrNotExist) {
			continue // recoverPins said so; the new set starts it empty
		}
		if err != nil {
			closeMaps(maps)
			return nil, fmt.Errorf("open pinned map %s: %w", filepath.Join(dir, name), err)
		}
		maps[name] = m
	}
	want := map[string]bool{}
	for _, name := range carriedUnpinned {
		want[name] = true
	}
	err := programMaps(dir, func(name string, m *ebpf.Map) bool {
		if !want[name] {
			return false
		}
		delete(want, name)
		maps[name] = m
		return true
	})
	if err != nil {
		closeMaps(maps)
		return nil, err
	}
	return maps, nil
}

func closeMaps(maps map[string]*ebpf.Map) {
	for _, m := range maps {
		m.Close()
	}
}

// programMaps calls take with every map used by the programs of the links
// pinned in dir/links, by name; take returns whether it keeps the map (it
// then closes it), else it is closed here.
func programMaps(dir string, take func(name string, m *ebpf.Map) bool) error {
	entries, _ := os.ReadDir(filepath.Join(dir, "links"))
	seen := map[ebpf.MapID]bool{}
	for _, ent := range entries {
		l, err := link.LoadPinnedLink(filepath.Join(dir, "links", ent.Name()), nil)
		if err != nil {
			return fmt.Errorf("open pinned link %s: %w", ent.Name(), err)
		}
		info, err := l.Info()
		l.Close()
		if err != nil {
			return fmt.Errorf("link %s info: %w", ent.Name(), err)
		}
		prog, err := ebpf.NewProgramFromID(info.Program)
		if err != nil {
			return fmt.Errorf("program of link %s: %w", ent.Name(), err)
		}
		pinfo, err := prog.Info()
		prog.Close()
		if err != nil {
			return fmt.Errorf("program of link %s info: %w", ent.Name(), err)
		}
		ids, _ := pinfo.MapIDs()
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			m, err := ebpf.NewMapFromID(id)
			if err != nil {
				continue // gone meanwhile
			}
			minfo, err := m.Info()
			if err != nil || !take(minfo.Name, m) {
				m.Close()
			}
		}
	}
	return nil
}

// replace builds this krsi's set beside the one pinned in e.pinDir, made by
// another krsi (from), and puts it in its place (see the top of this file).
// On an error before the commit the old set is left as it was, enforcing.
func (e *Enforcer) replace(spec *ebpf.CollectionSpec, from SetRecord) error {
	dir, next := e.pinDir, nextDir(e.pinDir)
	plan, err := migrationPlan(dir, from)
	if err != nil {
		return err
	}
	old, err := setMaps(dir, spec)
	if err != nil {
		return err
	}
	defer closeMaps(old)

	// Every map the old set has in this layout is carried over as it is: the
	// programs of both sets use it while both are attached, so a binding made
	// by either is seen by both. The others are made anew and filled.
	copied := map[string][]convertFunc{}
	for name, m := range old {
		ms := spec.Maps[name]
		if convs, ok := plan[name]; ok {
			copied[name] = convs
		} else if err := ms.Compatible(m); err != nil {
			// Same layout, other size (Capacity): entries copy as they are.
			if m.KeySize() != ms.KeySize || m.ValueSize() != ms.ValueSize {
				return fmt.Errorf("pinned map %s/%s differs from this krsi's (%v) and no migration converts it: "+
					"the old set is left enforcing", dir, name, err)
			}
			copied[name] = nil
		}
	}
	for _, group := range movesTogether {
		if slices.ContainsFunc(group, func(name string) bool { _, ok := copied[name]; return ok }) {
			for _, name := range group {
				if _, ok := copied[name]; !ok && old[name] != nil {
					copied[name] = nil
				}
			}
		}
	}
	shared := map[string]*ebpf.Map{}
	for name, m := range old {
		if _, ok := copied[name]; !ok {
			shared[name] = m
		}
	}
	for _, p := range programs {
		if !p.wanted(e.hooks) {
			delete(spec.Programs, p.name)
		}
	}
	if err := os.RemoveAll(next); err != nil {
		return fmt.Errorf("clear %s for the new set: %w", next, err)
	}
	if err := os.MkdirAll(filepath.Join(next, "links"), 0o700); err != nil {
		return fmt.Errorf("create the new set's directory %s: %w", next, err)
	}
	undo := func(err error) error {
		e.Close()
		if rmErr := os.RemoveAll(next); rmErr != nil {
			err = fmt.Errorf("%w; removing the half built set in %s: %v", err, next, rmErr)
		}
		return fmt.Errorf("%w (the set in %s is left enforcing)", err, dir)
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Maps: ebpf.MapOptions{PinPath: next}, MapReplacements: shared})
	if err != nil {
		return undo(loadError(err, next))
	}
	defer coll.Close()
	for name := range shared {
		if spec.Maps[name].Pinning != ebpf.PinByName {
			continue
		}
		// A clone made by the collection, not pinned yet: this pins it a
		// second time, it does not move the old set's pin.
		if err := coll.Maps[name].Pin(filepath.Join(next, name)); err != nil {
			return undo(fmt.Errorf("pin map %s in the new set: %w", name, err))
		}
	}
	newMaps := maps.Clone(coll.Maps) // Assign takes them out of coll
	if err := coll.Assign(&e.maps); err != nil {
		return undo(fmt.Errorf("take krsi's maps from the loaded collection: %w", err))
	}
	if err := copyMaps(old, newMaps, copied, false); err != nil {
		return undo(err)
	}
	crashAt("loaded")
	if err := e.attach(coll, filepath.Join(next, "links")); err != nil {
		return undo(err)
	}
	crashAt("attached")
	// Until the attach above, only the old programs saw cgroups made and
	// removed: copy the maps the kernel writes once more, now that the new
	// programs keep theirs up to date too.
	if err := copyMaps(old, newMaps, copied, true); err != nil {
		return undo(err)
	}
	if err := writeRecord(next); err != nil {
		return undo(err)
	}
	crashAt("recorded")
	closeMaps(old)
	old = nil
	// The commit: both sets stay attached through the renames (pins move,
	// the kernel objects do not); removing the old set's pins detaches it.
	if err := os.Rename(dir, oldDir(dir)); err != nil {
		return undo(fmt.Errorf("retire the old set: rename %s to %s: %w", dir, oldDir(dir), err))
	}
	crashAt("retired")
	if err := os.Rename(next, dir); err != nil {
		// The next start finishes it (repairSwitch); both sets enforce meanwhile.
		return fmt.Errorf("put the new set in place: rename %s to %s: %w; both sets stay attached, "+
			"and the next start of krsi finishes the replacement", next, dir, err)
	}
	crashAt("swapped")
	if err := os.RemoveAll(oldDir(dir)); err != nil {
		return fmt.Errorf("detach the replaced set: remove %s: %w; the next start of krsi removes it", oldDir(dir), err)
	}
	e.recovered = append(e.recovered, fmt.Sprintf("replaced the set pinned by %s with this krsi's %s: %d maps "+
		"carried over, %d copied (%s); no gap in enforcement", from, Running(), len(shared), len(copied),
		strings.Join(slices.Sorted(maps.Keys(copied)), ", ")))
	return nil
}

// copyMaps copies every entry of the old maps named in copied into the new
// ones, converted. With mirror (the pass after the new programs attached)
// hash entries the new map has and the old one lost are deleted too: the
// cgroups cgroup_rmdir removed before the new programs saw it.
func copyMaps(old, new map[string]*ebpf.Map, copied map[string][]convertFunc, mirror bool) error {
	for name, convs := range copied {
		src, dst := old[name], new[name]
		if dst == nil {
			continue // a program this kernel lacks used it
		}
		if mirror && src.Type() == ebpf.Array {
			continue // counters and config: the first pass copied them
		}
		keep := map[string]bool{}
		var k, v []byte
		it := src.Iterate()
		for it.Next(&k, &v) {
			nk, nv := k, v
			for _, f := range convs {
				var err error
				if nk, nv, err = f(nk, nv); err != nil {
					return fmt.Errorf("migrate an entry of %s: %w", name, err)
				}
			}
			if err := dst.Update(nk, nv, ebpf.UpdateAny); err != nil {
				return fmt.Errorf("copy an entry of %s into the new set: %w", name, err)
			}
			keep[string(nk)] = true
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("read %s of the old set: %w", name, err)
		}
		if !mirror {
			continue
		}
		var stale [][]byte
		it = dst.Iterate()
		for it.Next(&k, &v) {
			if !keep[string(k)] {
				stale = append(stale, k)
			}
		}
		for _, k := range stale {
			if err := dst.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("drop an entry of %s the old set no longer has: %w", name, err)
			}
		}
	}
	return nil
}
