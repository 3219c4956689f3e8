package profiles

import (
	"strings"
	"testing"
)

func TestParsePatternAcceptsTheThreeForms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want pattern
	}{
		{"/etc/passwd", pattern{"/etc/passwd", MatchExact}},
		{"/", pattern{"/", MatchExact}},
		{"/usr/bin/*", pattern{"/usr/bin/", MatchChildren}},
		{"/opt/app/**", pattern{"/opt/app/", MatchSubtree}},
		{"/*", pattern{"/", MatchChildren}},
		{"/**", pattern{"/", MatchSubtree}},
		{"/.hidden/..x/x..", pattern{"/.hidden/..x/x..", MatchExact}},
		{"/with space/é", pattern{"/with space/é", MatchExact}},
		{"/" + strings.Repeat("a", MaxPathLen-1), pattern{"/" + strings.Repeat("a", MaxPathLen-1), MatchExact}},
	} {
		got, err := parsePattern(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parsePattern(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("pattern %+v prints as %q, want %q", got, got.String(), tc.in)
		}
	}
}

func TestParsePatternRejects(t *testing.T) {
	const forms = "supported forms: /exact/path, /dir/* (entries directly in dir), /dir/** (everything below dir)"
	for _, tc := range []struct {
		in, want string
	}{
		{"", "empty path"},
		{"etc/passwd", `path "etc/passwd" is not absolute (it must start with /)`},
		{"/etc/\x00", `path "/etc/\x00" contains a NUL byte`},
		{"/" + strings.Repeat("a", MaxPathLen), "path is 4096 bytes long, max 4095"},
		{"/etc/", `path "/etc/" ends in /; name a file exactly, or a directory's contents with /etc/* or /etc/**`},
		{"/a//b", `path "/a//b" contains an empty segment (//)`},
		{"//**", `path "//**" contains an empty segment (//)`},
		{"/a//*", `path "/a//*" contains an empty segment (//)`},
		{"/a/../b", `path "/a/../b" contains a . or .. segment; write the path the kernel resolves`},
		{"/a/./**", `path "/a/./**" contains a . or .. segment; write the path the kernel resolves`},
		{"/..", `path "/.." contains a . or .. segment; write the path the kernel resolves`},
		{"/a/..", `path "/a/.." contains a . or .. segment; write the path the kernel resolves`},
		{"/usr/*/bin", `unsupported pattern "/usr/*/bin": a wildcard may only be the whole last segment; ` + forms},
		{"/usr/bin/py*", `unsupported pattern "/usr/bin/py*": a wildcard may only be the whole last segment; ` + forms},
		{"/usr/**/lib", `unsupported pattern "/usr/**/lib": a wildcard may only be the whole last segment; ` + forms},
		{"/usr/***", `unsupported pattern "/usr/***": a wildcard may only be the whole last segment; ` + forms},
		{"/usr/bin/?", `unsupported pattern "/usr/bin/?": a wildcard may only be the whole last segment; ` + forms},
		{"/usr/[ab]in", `unsupported pattern "/usr/[ab]in": a wildcard may only be the whole last segment; ` + forms},
		{"**", `path "**" is not absolute (it must start with /)`},
	} {
		_, err := parsePattern(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("parsePattern(%q) error:\n got %v\nwant %s", tc.in, err, tc.want)
		}
	}
}
