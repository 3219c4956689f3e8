package profiles

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// MaxPathLen is the longest path a rule may name: PATH_MAX less the NUL.
// The kernel never resolves a longer path (KRSI_PATH_MAX in
// bpf/include/krsi.h, which enforcement's TestABI compares with this), so a
// longer pattern could never match.
const MaxPathLen = 4095

// patternForms ends every error about a wildcard in the wrong place.
const patternForms = "supported forms: /exact/path, /dir/* (entries directly in dir), /dir/** (everything below dir)"

// pattern is one validated path pattern, already in the form of an Entry
// key: for the directory kinds Path keeps its trailing slash ("/usr/bin/").
type pattern struct {
	Path string
	Kind MatchKind
}

// parsePattern validates a path pattern and turns it into an Entry key.
// Patterns must be written in the form the kernel resolves (absolute,
// clean), because rules match the kernel's path, not the caller's: a rule
// on "/etc/../bin/sh" would silently match nothing.
func parsePattern(s string) (pattern, error) {
	switch {
	case s == "":
		return pattern{}, errors.New("empty path")
	case strings.IndexByte(s, 0) >= 0:
		return pattern{}, fmt.Errorf("path %q contains a NUL byte", s)
	case len(s) > MaxPathLen:
		return pattern{}, fmt.Errorf("path is %d bytes long, max %d", len(s), MaxPathLen)
	case s[0] != '/':
		return pattern{}, fmt.Errorf("path %q is not absolute (it must start with /)", s)
	}

	p := pattern{Path: s, Kind: MatchExact}
	switch {
	case strings.HasSuffix(s, "/**"):
		p = pattern{Path: s[:len(s)-2], Kind: MatchSubtree}
	case strings.HasSuffix(s, "/*"):
		p = pattern{Path: s[:len(s)-1], Kind: MatchChildren}
	}
	if strings.ContainsAny(p.Path, "*?[") {
		return pattern{}, fmt.Errorf("unsupported pattern %q: a wildcard may only be the whole last segment; %s", s, patternForms)
	}

	if strings.Contains(p.Path, "//") {
		return pattern{}, fmt.Errorf("path %q contains an empty segment (//)", s)
	}
	// What must be clean: the file for exact paths, the directory (without
	// the slash that the directory kinds keep) otherwise.
	clean := p.Path
	if p.Kind != MatchExact && clean != "/" {
		clean = strings.TrimSuffix(clean, "/")
	}
	switch {
	case hasDotSegment(clean):
		return pattern{}, fmt.Errorf("path %q contains a . or .. segment; write the path the kernel resolves", s)
	case clean != "/" && strings.HasSuffix(clean, "/"):
		return pattern{}, fmt.Errorf("path %q ends in /; name a file exactly, or a directory's contents with %s* or %s**", s, s, s)
	case path.Clean(clean) != clean:
		// Unreachable given the checks above; kept so that a gap in them
		// fails here rather than in the kernel.
		return pattern{}, fmt.Errorf("path %q is not clean (want %q)", s, path.Clean(clean))
	}
	return p, nil
}

func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// String gives the pattern as it is written in a profile.
func (p pattern) String() string {
	switch p.Kind {
	case MatchChildren:
		return p.Path + "*"
	case MatchSubtree:
		return p.Path + "**"
	}
	return p.Path
}
