package enforcement

// The read-only view of what krsi has pinned on a node, for `krsi status` and
// the metrics endpoint. ReadStatus opens the pinned maps and links without
// loading any program and never writes: it works while the daemon is down,
// and beside a running one.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

// ErrNotLoaded: the pin directory holds no krsi pins, so nothing enforces
// through it.
var ErrNotLoaded = errors.New("krsi is not loaded on this node")

// Status is a snapshot of krsi's pinned state. The maps are read one after
// the other while a daemon may write them: the parts can disagree by the
// changes made in between.
type Status struct {
	PinDir string `json:"pin_dir"`
	// Set is the record of the krsi that made the pinned set; nil: a set
	// pinned before krsi recorded one (it is replaced at the next start).
	Set *SetRecord `json:"set"`
	// Running is this binary's record: when it differs from Set, starting
	// this binary's daemon replaces the set (docs/upgrade.md).
	Running  SetRecord       `json:"running"`
	Programs []ProgramStatus `json:"programs"`
	// Bindings are sorted by cgroup id; Path is empty until ResolveCgroupPaths.
	Bindings []BoundCgroup       `json:"bindings"`
	Staged   []StagedCgroup      `json:"staged"`
	Profiles []ProfileInfo       `json:"profiles"`
	Maps     []enforced.MapUsage `json:"maps"`
	// DroppedEvents and FailedBindings are the kernel's counters (krsi_stats)
	// since the maps were created.
	DroppedEvents  uint64 `json:"dropped_events"`
	FailedBindings uint64 `json:"failed_bindings"`
	// FallbackBound counts container cgroups the kernel bound to a fallback
	// profile because nobody staged a binding (krsi down or too slow).
	FallbackBound uint64 `json:"fallback_bound"`
	// NestedRefused counts cgroups made inside bound ones that the kernel
	// left unbound: their container had used its quota of nested bindings.
	NestedRefused uint64 `json:"nested_refused"`
	// Parents are the marked cgroup parents (fail closed); empty: off.
	Parents []MarkedParent `json:"parents"`
	// CgroupWalk says how the paths of Bindings were found, once looked for.
	CgroupWalk *CgroupWalk `json:"cgroup_walk,omitempty"`
}

// ProgramStatus is one of krsi's programs and its pinned link.
type ProgramStatus struct {
	Name string `json:"name"`
	// Pinned: a link is pinned at PinDir/links/Name.
	Pinned bool `json:"pinned"`
	// Attached: the pinned link opens and the kernel reports a program on it.
	Attached  bool   `json:"attached"`
	LinkID    uint32 `json:"link_id,omitempty"`
	ProgramID uint32 `json:"program_id,omitempty"`
	// Unknown: a link pinned under a name this krsi does not load (another version).
	Unknown bool   `json:"unknown,omitempty"`
	Error   string `json:"error,omitempty"`
}

// BoundCgroup is one entry of krsi_bindings.
type BoundCgroup struct {
	CgroupID uint64 `json:"cgroup_id"`
	// Path is the cgroup's hierarchy path, "" when not resolved.
	Path        string             `json:"path,omitempty"`
	ProfileID   enforced.ProfileID `json:"profile_id"`
	ProfileName string             `json:"profile"`
	Mode        profiles.Mode      `json:"mode"`
	Staged      bool               `json:"staged"`
	Inherited   bool               `json:"inherited"`
	// Fallback: bound by the kernel to a fallback profile (or nested in such
	// a cgroup); FallbackSince is set on the container cgroup itself.
	Fallback      bool       `json:"fallback"`
	FallbackSince *time.Time `json:"fallback_since,omitempty"`
}

// StagedCgroup is one entry of krsi_staged: a cgroup path bound when created.
type StagedCgroup struct {
	Path        string             `json:"path"`
	ProfileID   enforced.ProfileID `json:"profile_id"`
	ProfileName string             `json:"profile"`
	Mode        profiles.Mode      `json:"mode"`
	// Unconfined: the cgroup is to get no binding, not even a fallback.
	Unconfined bool `json:"unconfined,omitempty"`
}

// ProfileInfo is a profile in the kernel.
type ProfileInfo struct {
	ID    enforced.ProfileID `json:"id"`
	Name  string             `json:"name"`
	Rules uint32             `json:"rules"`
	// Entries: its entries in krsi_rules, one a rule and one an ancestor
	// folder of a rule (the rename and link checks); more than Rules.
	Entries int `json:"entries"`
	// Loaded: krsi_profiles has it (a name without it is left from a failed write).
	Loaded bool `json:"loaded"`
	// Bound and Staged count the cgroups and staged paths that use it.
	Bound  int `json:"bound"`
	Staged int `json:"staged"`
}

// Enforcing reports whether every program krsi loads on this kernel has an
// attached link. Programs for hooks the kernel lacks (kernelHooks: one of
// two signature variants, hooks added in later kernels) are never loaded,
// so they are not counted.
func (s *Status) Enforcing() bool {
	attached := map[string]bool{}
	for _, p := range s.Programs {
		if !p.Unknown && p.Attached {
			attached[p.Name] = true
		}
	}
	for _, p := range programs {
		if p.available() && !attached[p.name] {
			return false
		}
	}
	return true
}

// statusMaps are the pinned maps ReadStatus reads.
type statusMaps struct {
	conf, stats, bindings, staged, profiles, names, rules *ebpf.Map
	parentPaths, parents, fallback                        *ebpf.Map
}

func (m *statusMaps) close() {
	for _, mp := range []*ebpf.Map{m.conf, m.stats, m.bindings, m.staged, m.profiles, m.names, m.rules,
		m.parentPaths, m.parents, m.fallback} {
		if mp != nil {
			mp.Close()
		}
	}
}

// ReadStatus reads what is pinned in pinDir: it opens the pinned maps
// read-only and the pinned links to ask the kernel about them, loads no
// program and changes nothing. It needs the privileges to open bpffs pins
// (root). With nothing pinned in pinDir it returns an error wrapping
// ErrNotLoaded.
//
// Counting the entries of krsi_rules reads the whole map, 1024 entries a
// syscall: the cost grows with the rules loaded, not with the map's size.
func ReadStatus(pinDir string) (*Status, error) {
	if err := checkPins(pinDir); err != nil {
		return nil, err
	}
	spec, err := loadBpf()
	if err != nil {
		return nil, fmt.Errorf("load BPF object spec: %w", err)
	}
	var m statusMaps
	defer m.close()
	for _, o := range []struct {
		name string
		dst  **ebpf.Map
	}{
		{bpfMapKrsiConf, &m.conf},
		{bpfMapKrsiStats, &m.stats},
		{bpfMapKrsiBindings, &m.bindings},
		{bpfMapKrsiStaged, &m.staged},
		{bpfMapKrsiProfiles, &m.profiles},
		{bpfMapKrsiNames, &m.names},
		{bpfMapKrsiRules, &m.rules},
		{bpfMapKrsiParentPaths, &m.parentPaths},
		{bpfMapKrsiParents, &m.parents},
		{bpfMapKrsiFallback, &m.fallback},
	} {
		if *o.dst, err = openPinnedMap(pinDir, o.name, spec.Maps[o.name]); err != nil {
			return nil, err
		}
	}
	rec, recorded, err := readRecord(pinDir)
	if err != nil {
		return nil, err
	}
	var cfg bpfKrsiConfig
	if err := m.conf.Lookup(uint32(0), &cfg); err != nil {
		return nil, fmt.Errorf("read krsi_conf: %w", err)
	}
	if cfg.Abi != abi {
		by := "a krsi that recorded no object"
		if recorded {
			by = rec.String()
		}
		return nil, fmt.Errorf("pinned maps in %s have layout ABI %d (made by %s), this krsi (%s) reads ABI %d: "+
			"use the krsi that loaded them", pinDir, cfg.Abi, by, Running(), abi)
	}

	s := &Status{PinDir: pinDir, Running: Running(), Programs: readLinks(pinDir),
		Bindings: []BoundCgroup{}, Staged: []StagedCgroup{}, Profiles: []ProfileInfo{}}
	if recorded {
		s.Set = &rec
	}
	if err := s.readMaps(&m); err != nil {
		return nil, err
	}
	return s, nil
}

// checkPins tells apart a pin directory with nothing in it from one that
// cannot be read.
func checkPins(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (no pins in %s)", ErrNotLoaded, dir)
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("read pin directory %s: %w (reading krsi's pins needs root)", dir, err)
	}
	if err != nil {
		return fmt.Errorf("read pin directory %s: %w", dir, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return fmt.Errorf("%w (no pins in %s: it is not on a BPF filesystem)", ErrNotLoaded, dir)
	}
	for _, e := range entries {
		if e.Name() == bpfMapKrsiBindings {
			return nil
		}
	}
	links, _ := os.ReadDir(filepath.Join(dir, "links"))
	if len(links) == 0 {
		return fmt.Errorf("%w (no pins in %s)", ErrNotLoaded, dir)
	}
	return fmt.Errorf("%s holds pinned links but no %s map: a pin set that is not krsi's, "+
		"or half removed; `krsi unload --pin-dir %s` removes it", dir, bpfMapKrsiBindings, dir)
}

// openPinnedMap opens a pinned map read-only and checks that its layout is
// the one this krsi decodes.
func openPinnedMap(dir, name string, want *ebpf.MapSpec) (*ebpf.Map, error) {
	path := filepath.Join(dir, name)
	m, err := ebpf.LoadPinnedMap(path, &ebpf.LoadPinOptions{ReadOnly: true})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not pinned: the pin set in %s is incomplete; "+
			"`krsi unload` removes it and the plugin loads a whole one", name, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open pinned map %s: %w", path, err)
	}
	if want != nil && (m.Type() != want.Type || m.KeySize() != want.KeySize || m.ValueSize() != want.ValueSize) {
		m.Close()
		return nil, fmt.Errorf("pinned map %s is a %s with %d-byte keys and %d-byte values; this krsi "+
			"reads a %s with %d and %d: it was made by another krsi version, use that one's status",
			path, m.Type(), m.KeySize(), m.ValueSize(), want.Type, want.KeySize, want.ValueSize)
	}
	return m, nil
}

// readLinks reports each program's pinned link, then links pinned under
// names this krsi does not know.
func readLinks(dir string) []ProgramStatus {
	var out []ProgramStatus
	known := map[string]bool{}
	for _, p := range programs {
		known[p.name] = true
		if p.available() {
			out = append(out, linkStatus(dir, p.name))
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "links"))
	for _, e := range entries {
		if !known[e.Name()] {
			ps := linkStatus(dir, e.Name())
			ps.Unknown = true
			out = append(out, ps)
		}
	}
	return out
}

func linkStatus(dir, name string) ProgramStatus {
	ps := ProgramStatus{Name: name}
	path := filepath.Join(dir, "links", name)
	if _, err := os.Lstat(path); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			ps.Error = err.Error()
		}
		return ps
	}
	ps.Pinned = true
	// A link opens only read-write (the kernel refuses BPF_F_RDONLY for
	// links); this handle changes nothing and closing it detaches nothing.
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		ps.Error = fmt.Sprintf("open pinned link: %v", err)
		return ps
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		ps.Error = fmt.Sprintf("link info: %v", err)
		return ps
	}
	ps.LinkID, ps.ProgramID = uint32(info.ID), uint32(info.Program)
	ps.Attached = info.Program != 0
	return ps
}

func (s *Status) readMaps(m *statusMaps) error {
	var err error
	if s.DroppedEvents, err = readStat(m.stats, bpfKrsiStatKRSI_STAT_EVENTS_DROPPED); err != nil {
		return err
	}
	if s.FailedBindings, err = readStat(m.stats, bpfKrsiStatKRSI_STAT_BIND_FAILED); err != nil {
		return err
	}
	if s.FallbackBound, err = readStat(m.stats, bpfKrsiStatKRSI_STAT_FALLBACK_BOUND); err != nil {
		return err
	}
	if s.NestedRefused, err = readStat(m.stats, bpfKrsiStatKRSI_STAT_NESTED_REFUSED); err != nil {
		return err
	}
	if s.Parents, err = readParents(m.parentPaths, m.parents); err != nil {
		return err
	}
	fallbacks, err := readFallbacks(m.fallback)
	if err != nil {
		return err
	}

	byID := map[enforced.ProfileID]*ProfileInfo{}
	profile := func(id enforced.ProfileID) *ProfileInfo {
		p, ok := byID[id]
		if !ok {
			p = &ProfileInfo{ID: id}
			byID[id] = p
		}
		return p
	}
	var pid uint32
	var meta bpfKrsiProfileMeta
	it := m.names.Iterate()
	for it.Next(&pid, &meta) {
		p := profile(enforced.ProfileID(pid))
		p.Name, p.Rules = cString(meta.Name[:]), meta.Rules
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read krsi_names: %w", err)
	}
	// krsi_profiles and krsi_rules are each read once: for the profiles and
	// for the map usage (Maps) below.
	var prof bpfKrsiProfile
	byRuleset := map[uint32]*ProfileInfo{}
	profileCount := 0
	it = m.profiles.Iterate()
	for it.Next(&pid, &prof) {
		p := profile(enforced.ProfileID(pid))
		p.Loaded = true
		byRuleset[prof.Ruleset] = p
		profileCount++
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read krsi_profiles: %w", err)
	}
	// Rule entries under a ruleset no profile points to are left from a write
	// that failed midway (Open prunes them): counted in Maps, in no profile.
	var rk bpfKrsiRuleKey
	var rv bpfKrsiRule
	rules := 0
	rit := m.rules.Iterate()
	for rit.Next(&rk, &rv) {
		rules++
		if p := byRuleset[rk.Ruleset]; p != nil {
			p.Entries++
		}
	}
	if err := rit.Err(); err != nil {
		return fmt.Errorf("read krsi_rules: %w", err)
	}

	bound, err := readBindings(m.bindings)
	if err != nil {
		return err
	}
	for cg, b := range bound {
		p := profile(b.Profile)
		p.Bound++
		bc := BoundCgroup{
			CgroupID: cg, ProfileID: b.Profile, ProfileName: p.Name,
			Mode: b.Mode, Staged: b.Staged, Inherited: b.Inherited, Fallback: b.Fallback,
		}
		if r, ok := fallbacks[cg]; ok && b.Fallback {
			bc.FallbackSince = &r.Since
		}
		s.Bindings = append(s.Bindings, bc)
	}
	sort.Slice(s.Bindings, func(i, j int) bool { return s.Bindings[i].CgroupID < s.Bindings[j].CgroupID })

	staged, err := readStaged(m.staged)
	if err != nil {
		return err
	}
	for path, b := range staged {
		if b.Unconfined {
			s.Staged = append(s.Staged, StagedCgroup{Path: path, Mode: b.Mode, Unconfined: true})
			continue
		}
		p := profile(b.Profile)
		p.Staged++
		s.Staged = append(s.Staged, StagedCgroup{Path: path, ProfileID: b.Profile, ProfileName: p.Name, Mode: b.Mode})
	}
	sort.Slice(s.Staged, func(i, j int) bool { return s.Staged[i].Path < s.Staged[j].Path })

	for _, p := range byID {
		s.Profiles = append(s.Profiles, *p)
	}
	sort.Slice(s.Profiles, func(i, j int) bool { return s.Profiles[i].ID < s.Profiles[j].ID })

	usage := func(name string, n int, m *ebpf.Map) enforced.MapUsage {
		return enforced.MapUsage{Name: name, Entries: n, MaxEntries: m.MaxEntries()}
	}
	s.Maps = []enforced.MapUsage{
		usage(bpfMapKrsiBindings, len(bound), m.bindings),
		usage(bpfMapKrsiStaged, len(staged), m.staged),
		usage(bpfMapKrsiProfiles, profileCount, m.profiles),
		usage(bpfMapKrsiNames, countNames(s.Profiles), m.names),
		usage(bpfMapKrsiRules, rules, m.rules),
		usage(bpfMapKrsiFallback, len(fallbacks), m.fallback),
	}
	return nil
}

// countNames counts the profiles read from krsi_names (those with a name
// entry; a profile known only from a binding has none).
func countNames(ps []ProfileInfo) int {
	n := 0
	for _, p := range ps {
		if p.Name != "" {
			n++
		}
	}
	return n
}
