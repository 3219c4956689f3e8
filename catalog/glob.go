package catalog

import "strings"

// glob is an image name pattern in which '*' matches any run of
// characters, '/' included, and every other character matches itself.
// There are no other wildcards, no escapes and no character classes.
//
// A glob is kept as the literal segments between its stars, which makes
// matching a left-to-right scan: the first segment must be a prefix, the
// last a suffix, and each middle segment is found at its leftmost
// occurrence after the previous one. Taking the leftmost occurrence is
// always right when the only wildcard is '*' (a later occurrence leaves
// less room for the segments still to match, never more), so there is no
// backtracking: a match costs at most one strings.Index per segment.
type glob struct {
	segs []string // len(segs) == number of stars + 1
}

// Glob reports whether s matches the whole pattern ('*' as above). The
// node's profile policy matches profile names with it too (policy.Glob).
func Glob(pattern, s string) bool { return compileGlob(pattern).match(s) }

func compileGlob(pattern string) glob {
	return glob{segs: strings.Split(pattern, "*")}
}

// match reports whether s matches the whole pattern.
func (g glob) match(s string) bool {
	segs := g.segs
	if len(segs) == 1 {
		return s == segs[0]
	}
	first, last := segs[0], segs[len(segs)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	// The suffix is taken from what the prefix left, so the two cannot
	// share characters ("a*a" does not match "a").
	if !strings.HasSuffix(s, last) {
		return false
	}
	s = s[:len(s)-len(last)]
	for _, seg := range segs[1 : len(segs)-1] {
		i := strings.Index(s, seg)
		if i < 0 {
			return false
		}
		s = s[i+len(seg):]
	}
	return true
}
