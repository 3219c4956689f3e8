package profiles

import (
	"cmp"
	"fmt"
	"slices"
)

// Compile reduces the profile to what the kernel needs. Rules that name
// the same (Path, Kind) merge into one Entry; for each access bit a deny
// beats an allow, and among rules of the same verb the first one in
// Compiled.Rules order decides (and is the bit's Origin). Compile does not
// resolve precedence between different keys: the kernel does, per access
// bit, most specific key first (see docs/profiles.md).
//
// Invariants of the result: Allow&Deny == 0 for every Entry; Entries are
// sorted by Path, then Kind, with no two sharing both.
func (p *Profile) Compile() (*Compiled, error) {
	mode := p.Mode
	switch mode {
	case "":
		mode = ModeEnforce
	case ModeEnforce, ModeAudit:
	default:
		return nil, fmt.Errorf("compile profile %q: unknown mode %q", p.Name, mode)
	}
	if err := checkName(p.Name); err != nil {
		return nil, fmt.Errorf("compile profile: name: %w", err)
	}
	if len(p.rules) > MaxRules {
		return nil, fmt.Errorf("compile profile %q: %d rules, max %d", p.Name, len(p.rules), MaxRules)
	}

	c := &Compiled{
		Name:            p.ref(),
		Mode:            mode,
		DenyWX:          p.denyWX,
		ExecDefaultDeny: p.execDefaultDeny,
		DenyFileless:    p.denyFileless,
		FileDefaultDeny: p.fileDefaultDeny,
		Rules:           make([]string, len(p.rules)),
	}
	at := make(map[pattern]int, len(p.rules)) // key → index in c.Entries
	for i, r := range p.rules {
		c.Rules[i] = r.text
		j, ok := at[r.pat]
		if !ok {
			j = len(c.Entries)
			at[r.pat] = j
			c.Entries = append(c.Entries, Entry{Path: r.pat.Path, Kind: r.pat.Kind})
		}
		e := &c.Entries[j]
		for bit := range NumAccess {
			b := Access(1) << bit
			switch {
			case r.deny&b != 0 && e.Deny&b == 0:
				e.Deny |= b
				e.Allow &^= b
				e.Origin[bit] = uint32(i)
			case r.deny&b == 0 && r.allow&b != 0 && (e.Allow|e.Deny)&b == 0:
				e.Allow |= b
				e.Origin[bit] = uint32(i)
			}
		}
	}
	slices.SortFunc(c.Entries, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Kind, b.Kind))
	})
	return c, nil
}

// ref is the name a compiled profile goes by.
func (p *Profile) ref() string {
	if p.builtin {
		return builtinPrefix + p.Name
	}
	return p.Name
}
