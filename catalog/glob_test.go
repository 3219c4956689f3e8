package catalog

import (
	"strings"
	"testing"
	"time"
)

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"docker.io/library/nginx:*", "docker.io/library/nginx:1.27", true},
		{"docker.io/library/nginx:*", "docker.io/library/nginx:", true},
		{"docker.io/library/nginx:*", "docker.io/library/nginx", false},
		{"*/redis:7*", "docker.io/library/redis:7.2", true}, // * spans '/'
		{"*/redis:7*", "redis:7", false},
		{"*/redis:7*", "ghcr.io/x/redis:6", false},
		{"*", "", true},
		{"**", "anything/at/all", true},
		{"a*a", "a", false}, // prefix and suffix may not overlap
		{"a*a", "aa", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"a*b*c", "aXbYbZc", true},
		{"*ab*ab*", "abab", true},
		{"*ab*ab*", "aba", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
	} {
		if got := compileGlob(tc.pattern).match(tc.s); got != tc.want {
			t.Errorf("glob %q match %q = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestGlobMatchIsFastOnHostileInput: the classic backtracking blow-up
// (a*a*a*…b against aaaa…) stays a scan.
func TestGlobMatchIsFastOnHostileInput(t *testing.T) {
	g := compileGlob("*a*a*a*a*b")
	s := strings.Repeat("a", 1<<20)
	start := time.Now()
	if g.match(s) {
		t.Fatal("matched")
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("match took %v", d)
	}
}

// globRef is the textbook definition, by dynamic programming over
// (pattern position, string position), to check the fast matcher against.
func globRef(p, s string) bool {
	// m[j] reports whether p[:i] matches s[:j], for the current i.
	m := make([]bool, len(s)+1)
	m[0] = true
	for i := 0; i < len(p); i++ {
		next := make([]bool, len(s)+1)
		if p[i] == '*' {
			seen := false
			for j := 0; j <= len(s); j++ {
				seen = seen || m[j]
				next[j] = seen
			}
		} else {
			for j := 1; j <= len(s); j++ {
				next[j] = m[j-1] && p[i] == s[j-1]
			}
		}
		m = next
	}
	return m[len(s)]
}

// FuzzGlob checks the linear matcher against the definition, and that
// selector parsing and image normalization take any input without
// panicking.
func FuzzGlob(f *testing.F) {
	for _, seed := range [][2]string{
		{"docker.io/library/nginx:*", "docker.io/library/nginx:1.27"},
		{"*/redis:7*", "docker.io/library/redis:7.2"},
		{"a*a", "a"},
		{"*ab*ab*", "abab"},
		{"registry:5000/*@sha256:*", "registry:5000/app@sha256:" + strings.Repeat("a", 64)},
		{"**a**", "bab"},
		{"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 512 || len(s) > 2048 {
			return
		}
		if got, want := compileGlob(pattern).match(s), globRef(pattern, s); got != want {
			t.Fatalf("glob %q match %q = %v, want %v", pattern, s, got, want)
		}
		if r, err := parseImageRule(pattern); err == nil {
			k := newImageKey(s)
			r.matches(&k)
			if r.weight < 0 || (r.digest == "" && r.exact == "" && r.stars == 0) {
				t.Fatalf("parseImageRule(%q) = %+v", pattern, r)
			}
		}
	})
}
