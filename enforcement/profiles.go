package enforcement

// The map store's profile side: a compiled profile becomes a krsi_profiles
// entry, its name in krsi_names and its rules in krsi_rules, swapped in one
// step when it changes.

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

// ruleset is the set of rule keys one version of a profile was written under.
type ruleset struct {
	id   uint32
	keys []bpfKrsiRuleKey
}

// Profile flags (krsi_profile.flags).
const (
	pfDenyWX          = uint32(bpfKrsiProfileFlagKRSI_PF_DENY_WX)
	pfExecDefaultDeny = uint32(bpfKrsiProfileFlagKRSI_PF_EXEC_DEFAULT_DENY)
	pfDenyFileless    = uint32(bpfKrsiProfileFlagKRSI_PF_DENY_FILELESS)
	pfFileDefaultDeny = uint32(bpfKrsiProfileFlagKRSI_PF_FILE_DEFAULT_DENY)
	pfUsesExec        = uint32(bpfKrsiProfileFlagKRSI_PF_USES_EXEC)
	pfUsesFiles       = uint32(bpfKrsiProfileFlagKRSI_PF_USES_FILES)
	pfUsesApplets     = uint32(bpfKrsiProfileFlagKRSI_PF_USES_APPLETS)
	pfFileNoDenyShift = uint32(bpfKrsiProfileFlagKRSI_PF_FILE_NODENY_SHIFT)
)

// maxProfileName: krsi_profile_meta.name holds the name and its NUL.
const maxProfileName = len(bpfKrsiProfileMeta{}.Name) - 1

// maxRulePath: the longest path the kernel resolves (KRSI_PATH_MAX) less the NUL.
const maxRulePath = len(bpfKrsiScratch{}.Path) - 1

// scanRulesets finds the ruleset ids in use, so new ones never collide.
func (e *Enforcer) scanRulesets() error {
	var id uint32
	var p bpfKrsiProfile
	it := e.maps.KrsiProfiles.Iterate()
	for it.Next(&id, &p) {
		if p.Ruleset >= e.nextRS {
			e.nextRS = p.Ruleset + 1
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read krsi_profiles: %w", err)
	}
	if e.nextRS == 0 {
		e.nextRS = 1
	}
	return nil
}

// pruneRulesets deletes rule entries of rulesets no profile points to: a
// krsi killed between writing a profile's rules and switching the profile
// to them leaves such entries, which would otherwise fill krsi_rules.
func (e *Enforcer) pruneRulesets() (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	inUse := map[uint32]bool{}
	var id uint32
	var p bpfKrsiProfile
	it := e.maps.KrsiProfiles.Iterate()
	for it.Next(&id, &p) {
		inUse[p.Ruleset] = true
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("read krsi_profiles: %w", err)
	}
	var orphans []bpfKrsiRuleKey
	var k bpfKrsiRuleKey
	var v bpfKrsiRule
	rit := e.maps.KrsiRules.Iterate()
	for rit.Next(&k, &v) {
		if !inUse[k.Ruleset] {
			orphans = append(orphans, k)
		}
	}
	if err := rit.Err(); err != nil {
		return 0, fmt.Errorf("scan krsi_rules: %w", err)
	}
	if err := e.deleteRules(orphans); err != nil {
		return 0, fmt.Errorf("delete %d orphaned rule entries: %w", len(orphans), err)
	}
	return len(orphans), nil
}

// SetProfile writes a compiled profile and returns its id. If a profile of
// that name exists, its rules are replaced in one step: the new rules are
// written under a new ruleset, then the profile entry is switched to it with
// a single map update, then the old rules are deleted. A hook sees either the
// old profile or the new one, never a mix.
func (e *Enforcer) SetProfile(c *profiles.Compiled) (enforced.ProfileID, error) {
	if len(c.Name) == 0 || len(c.Name) > maxProfileName {
		return 0, fmt.Errorf("profile name %q: must be 1 to %d bytes", c.Name, maxProfileName)
	}
	if missing := profileFlags(c) & pfAll &^ e.hooks; missing != 0 {
		return 0, fmt.Errorf("profile %s: its %s rules have no programs in this set (Options.For loaded only %s)",
			c.Name, hookNames(missing), hookNames(e.hooks))
	}
	e.mu.Lock()
	defer e.mu.Unlock()

	id, old, found, err := e.findProfile(c.Name)
	if err != nil {
		return 0, err
	}
	if !found {
		if id, err = e.freeProfileID(); err != nil {
			return 0, err
		}
	}

	rs := ruleset{id: e.nextRS}
	e.nextRS++
	if rs.keys, err = e.writeRules(rs.id, c); err != nil {
		return 0, fmt.Errorf("profile %s: %w", c.Name, err)
	}

	var meta bpfKrsiProfileMeta
	copy(int8s(meta.Name[:]), c.Name)
	meta.Rules = uint32(len(c.Rules))
	if err := e.maps.KrsiNames.Update(uint32(id), &meta, ebpf.UpdateAny); err != nil {
		e.deleteRules(rs.keys)
		return 0, fmt.Errorf("profile %s: write krsi_names: %w", c.Name, fullError(e.maps.KrsiNames, bpfMapKrsiNames, err))
	}
	p := bpfKrsiProfile{Ruleset: rs.id, Flags: profileFlags(c)}
	p.SubtreeDepths, p.ChildrenDepths = depthMasks(c.Entries)
	if err := e.maps.KrsiProfiles.Update(uint32(id), &p, ebpf.UpdateAny); err != nil {
		e.deleteRules(rs.keys)
		return 0, fmt.Errorf("profile %s: write krsi_profiles: %w", c.Name, fullError(e.maps.KrsiProfiles, bpfMapKrsiProfiles, err))
	}
	e.rulesets[id] = rs
	if found {
		if err := e.dropRuleset(id, old); err != nil {
			return id, fmt.Errorf("profile %s: swapped, but the old rules stay: %w", c.Name, err)
		}
	}
	return id, nil
}

// hookNames names the rule kinds of hook flags h ("memory, exec", "none").
func hookNames(h uint32) string {
	var n []string
	for _, k := range []struct {
		bit  uint32
		name string
	}{{pfDenyWX, "memory"}, {pfUsesExec, "exec"}, {pfUsesFiles, "files"}, {pfUsesApplets, "exec.applets"}} {
		if h&k.bit != 0 {
			n = append(n, k.name)
		}
	}
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ", ")
}

func profileFlags(c *profiles.Compiled) uint32 {
	var f uint32
	set := func(cond bool, bit uint32) {
		if cond {
			f |= bit
		}
	}
	set(c.DenyWX, pfDenyWX)
	set(c.ExecDefaultDeny, pfExecDefaultDeny)
	set(c.DenyFileless, pfDenyFileless)
	set(c.FileDefaultDeny, pfFileDefaultDeny)
	set(c.UsesExec(), pfUsesExec)
	set(c.UsesFiles(), pfUsesFiles)
	set(c.UsesApplets(), pfUsesApplets)
	return f | fileNoDeny(c)<<pfFileNoDenyShift
}

// fileNoDeny is the files access bits (exec excluded) that no entry of c
// denies and its default allows: an open asking only for those is allowed
// whatever its path, so the kernel skips resolving it (KRSI_PF_FILE_NODENY_SHIFT).
func fileNoDeny(c *profiles.Compiled) uint32 {
	if c.FileDefaultDeny {
		return 0
	}
	files := profiles.AccessRead | profiles.AccessWrite | profiles.AccessAppend |
		profiles.AccessCreate | profiles.AccessTruncate
	for _, e := range c.Entries {
		files &^= e.Deny
	}
	return uint32(files)
}

func (e *Enforcer) writeRules(rs uint32, c *profiles.Compiled) ([]bpfKrsiRuleKey, error) {
	keys := make([]bpfKrsiRuleKey, 0, len(c.Entries))
	vals := make([]bpfKrsiRule, 0, len(c.Entries))
	seen := make(map[bpfKrsiRuleKey]string, len(c.Entries))
	for _, en := range c.Entries {
		if len(en.Path) == 0 || len(en.Path) > maxRulePath {
			return nil, fmt.Errorf("rule path %q: length must be 1 to %d bytes", en.Path, maxRulePath)
		}
		h1, h2 := pathHash(e.seed1, e.seed2, en.Path)
		k := bpfKrsiRuleKey{Ruleset: rs, Len: uint16(len(en.Path)), Kind: uint8(en.Kind), H1: h1, H2: h2}
		if other, dup := seen[k]; dup {
			return nil, fmt.Errorf("rule paths %q and %q hash alike; rename one", other, en.Path)
		}
		seen[k] = en.Path
		v := bpfKrsiRule{Allow: uint8(en.Allow), Deny: uint8(en.Deny), Origin: en.Origin}
		keys = append(keys, k)
		vals = append(vals, v)
	}
	// The directories above rules, for the rename checks (KRSI_MATCH_ANCESTOR).
	for _, a := range c.AncestorKeys() {
		h1, h2 := pathHash(e.seed1, e.seed2, a)
		k := bpfKrsiRuleKey{Ruleset: rs, Len: uint16(len(a)), Kind: uint8(profiles.MatchAncestor), H1: h1, H2: h2}
		if other, dup := seen[k]; dup {
			return nil, fmt.Errorf("rule paths %q and %q hash alike; rename one", other, a)
		}
		seen[k] = a
		keys = append(keys, k)
		vals = append(vals, bpfKrsiRule{})
	}
	if len(keys) == 0 {
		return nil, nil
	}
	// Batch updates take no NoExist flag; the ruleset is new, so no key exists yet.
	n, err := e.maps.KrsiRules.BatchUpdate(keys, vals, nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		n, err = 0, nil
		for i := range keys {
			if err = e.maps.KrsiRules.Update(&keys[i], &vals[i], ebpf.UpdateNoExist); err != nil {
				break
			}
			n++
		}
	}
	if err != nil {
		e.deleteRules(keys[:n])
		return nil, fmt.Errorf("write its %d rule entries: %w", len(keys), fullError(e.maps.KrsiRules, bpfMapKrsiRules, err))
	}
	return keys, nil
}

func (e *Enforcer) deleteRules(keys []bpfKrsiRuleKey) error {
	if len(keys) == 0 {
		return nil
	}
	// One syscall for all of them where the kernel can; else one by one.
	if _, err := e.maps.KrsiRules.BatchDelete(keys, nil); err == nil {
		return nil
	}
	var errs []error
	for i := range keys {
		if err := e.maps.KrsiRules.Delete(&keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dropRuleset deletes the rules of a ruleset no profile points to any more.
// Rules this process wrote are known; others (written before a restart) are
// found by a scan of krsi_rules.
func (e *Enforcer) dropRuleset(id enforced.ProfileID, old uint32) error {
	if rs, ok := e.rulesets[id]; ok && rs.id == old {
		return e.deleteRules(rs.keys)
	}
	var keys []bpfKrsiRuleKey
	var k bpfKrsiRuleKey
	var v bpfKrsiRule
	it := e.maps.KrsiRules.Iterate()
	for it.Next(&k, &v) {
		if k.Ruleset == old {
			keys = append(keys, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("scan krsi_rules: %w", err)
	}
	return e.deleteRules(keys)
}

// findProfile returns the id and current ruleset of the profile named name.
func (e *Enforcer) findProfile(name string) (enforced.ProfileID, uint32, bool, error) {
	var id uint32
	var meta bpfKrsiProfileMeta
	it := e.maps.KrsiNames.Iterate()
	for it.Next(&id, &meta) {
		if cString(meta.Name[:]) != name {
			continue
		}
		var p bpfKrsiProfile
		if err := e.maps.KrsiProfiles.Lookup(id, &p); err != nil {
			return enforced.ProfileID(id), 0, false, nil // a name left by a failed write: reuse the id
		}
		return enforced.ProfileID(id), p.Ruleset, true, nil
	}
	if err := it.Err(); err != nil {
		return 0, 0, false, fmt.Errorf("read krsi_names: %w", err)
	}
	return 0, 0, false, nil
}

func (e *Enforcer) freeProfileID() (enforced.ProfileID, error) {
	used := map[uint32]bool{}
	var id uint32
	var meta bpfKrsiProfileMeta
	it := e.maps.KrsiNames.Iterate()
	for it.Next(&id, &meta) {
		used[id] = true
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("read krsi_names: %w", err)
	}
	// A profile whose name entry is gone (krsi_names lost, a failed write)
	// may still be bound: never hand its id out again.
	var p bpfKrsiProfile
	pit := e.maps.KrsiProfiles.Iterate()
	for pit.Next(&id, &p) {
		used[id] = true
	}
	if err := pit.Err(); err != nil {
		return 0, fmt.Errorf("read krsi_profiles: %w", err)
	}
	for i := uint32(1); i <= e.maps.KrsiNames.MaxEntries(); i++ {
		if !used[i] {
			return enforced.ProfileID(i), nil
		}
	}
	return 0, fmt.Errorf("%w: krsi_profiles holds at most %d profiles and has no room for another", ErrMapFull, e.maps.KrsiNames.MaxEntries())
}

// ProfileName returns the name a profile id was written with.
func (e *Enforcer) ProfileName(id enforced.ProfileID) (string, error) {
	var meta bpfKrsiProfileMeta
	if err := e.maps.KrsiNames.Lookup(uint32(id), &meta); err != nil {
		return "", fmt.Errorf("look up profile %d: %w", id, err)
	}
	return cString(meta.Name[:]), nil
}

// RemoveProfile deletes a profile and its rules. It refuses while a cgroup is
// bound or staged to it: a hook would then fail closed for that cgroup.
func (e *Enforcer) RemoveProfile(id enforced.ProfileID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	users, err := e.profileUsers(id)
	if err != nil {
		return err
	}
	if users > 0 {
		return fmt.Errorf("profile %d is still bound to %d cgroups; unbind them first", id, users)
	}
	var p bpfKrsiProfile
	if err := e.maps.KrsiProfiles.Lookup(uint32(id), &p); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		return fmt.Errorf("look up profile %d: %w", id, err)
	}
	if err := e.maps.KrsiProfiles.Delete(uint32(id)); err != nil {
		return fmt.Errorf("delete profile %d: %w", id, err)
	}
	_ = e.maps.KrsiNames.Delete(uint32(id))
	err = e.dropRuleset(id, p.Ruleset)
	delete(e.rulesets, id)
	return err
}

// RemoveUnusedProfiles deletes every loaded profile that no cgroup is bound
// or staged to and that is not in keep, with its rules, and returns their
// names. The plugin calls it after reconciling with the runtime: what is
// left then was loaded by an earlier krsi for containers that are gone.
func (e *Enforcer) RemoveUnusedProfiles(keep []enforced.ProfileID) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	used := map[uint32]bool{}
	for _, id := range keep {
		used[uint32(id)] = true
	}
	var b bpfKrsiBinding
	var cg uint64
	it := e.maps.KrsiBindings.Iterate()
	for it.Next(&cg, &b) {
		used[b.ProfileId] = true
	}
	var path bpfKrsiCgroupPath
	st := e.maps.KrsiStaged.Iterate()
	for st.Next(&path, &b) {
		used[b.ProfileId] = true
	}
	// Marked parents name the fallback profile, bound by the kernel later.
	var par bpfKrsiParent
	var parID uint64
	pa := e.maps.KrsiParents.Iterate()
	for pa.Next(&parID, &par) {
		used[par.ProfileId] = true
	}
	pp := e.maps.KrsiParentPaths.Iterate()
	for pp.Next(&path, &par) {
		used[par.ProfileId] = true
	}
	if err := errors.Join(it.Err(), st.Err(), pa.Err(), pp.Err()); err != nil {
		return nil, fmt.Errorf("list profile users: %w", err)
	}
	type victim struct {
		id      uint32
		ruleset uint32
	}
	var victims []victim
	var id uint32
	var p bpfKrsiProfile
	pit := e.maps.KrsiProfiles.Iterate()
	for pit.Next(&id, &p) {
		if !used[id] {
			victims = append(victims, victim{id, p.Ruleset})
		}
	}
	if err := pit.Err(); err != nil {
		return nil, fmt.Errorf("read krsi_profiles: %w", err)
	}
	// Names without a profile entry (a failed write) go too.
	var meta bpfKrsiProfileMeta
	var orphanNames []uint32
	nit := e.maps.KrsiNames.Iterate()
	for nit.Next(&id, &meta) {
		if !used[id] {
			if err := e.maps.KrsiProfiles.Lookup(id, &p); errors.Is(err, ebpf.ErrKeyNotExist) {
				orphanNames = append(orphanNames, id)
			}
		}
	}
	var removed []string
	var errs []error
	for _, v := range victims {
		name := fmt.Sprintf("#%d", v.id)
		if err := e.maps.KrsiNames.Lookup(v.id, &meta); err == nil {
			name = cString(meta.Name[:])
		}
		if err := e.maps.KrsiProfiles.Delete(v.id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("delete profile %s: %w", name, err))
			continue
		}
		_ = e.maps.KrsiNames.Delete(v.id)
		if err := e.dropRuleset(enforced.ProfileID(v.id), v.ruleset); err != nil {
			errs = append(errs, fmt.Errorf("delete the rules of profile %s: %w", name, err))
		}
		delete(e.rulesets, enforced.ProfileID(v.id))
		removed = append(removed, name)
	}
	for _, id := range orphanNames {
		_ = e.maps.KrsiNames.Delete(id)
	}
	return removed, errors.Join(errs...)
}

func (e *Enforcer) profileUsers(id enforced.ProfileID) (int, error) {
	n := 0
	var b bpfKrsiBinding
	var cg uint64
	it := e.maps.KrsiBindings.Iterate()
	for it.Next(&cg, &b) {
		if enforced.ProfileID(b.ProfileId) == id {
			n++
		}
	}
	var path bpfKrsiCgroupPath
	st := e.maps.KrsiStaged.Iterate()
	for st.Next(&path, &b) {
		if enforced.ProfileID(b.ProfileId) == id {
			n++
		}
	}
	return n, errors.Join(it.Err(), st.Err())
}
