package kernel_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/test/kerneltest"
)

// The kernel's path walk hashes several bytes per step and looks prefixes up
// only at the depths where the profile has directory rules. Paths here end at
// every offset within a step, and rules sit at depths the walk must not skip:
// the root, one level, and past the 63rd '/', where depths share a mask bit.
func TestPathWalkAtEveryOffsetAndDepth(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	mk := func(rel string) string { return writeFileUnder(t, dir, rel) }
	// Outside dir, whose rules allow or deny writing (truncate included).
	outside := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat("d/", 66) // the rule's '/' is past the 63rd
	p := writeProfile(t, fmt.Sprintf(`files:
  rules:
    - path: /**
      deny: [truncate]
    - path: %[1]s/**
      deny: [write]
    - path: %[1]s/c/*
      allow: [write]
    - path: %[1]s/c/abcdefg
      deny: [write]
    - path: %[1]s/c/abcdefgh
      deny: [write]
    - path: %[1]s/c/abcdefghi
      deny: [write]
    - path: %[1]s/%[2]s**
      allow: [write]
`, dir, deep))

	tests := []struct {
		file, mode string
		want       verdict
	}{
		{mk("other"), "w", denied},     // subtree of dir
		{mk("c/f"), "w", allowed},      // a children rule is more specific
		{mk("c/sub/f"), "w", denied},   // not a child: back to the subtree
		{mk("c/abcdef"), "w", allowed}, // exact keys ending at each offset
		{mk("c/abcdefg"), "w", denied}, // around a step's end
		{mk("c/abcdefgh"), "w", denied},
		{mk("c/abcdefghi"), "w", denied},
		{mk("c/abcdefghij"), "w", allowed},
		{mk(deep + "x"), "w", allowed},     // a subtree rule at depth > 63
		{mk(deep + "e/f/g"), "w", allowed}, // and below it
		{mk(deep[2:] + "y"), "w", denied},  // one level above it
		{outside, "w", allowed},            // only "/**" names it, and not for write
		{outside, "t", denied},             // "/**", a key at depth 1, for truncate
	}
	for _, tt := range tests {
		rel, err := filepath.Rel(dir, tt.file)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = "outside"
		}
		if len(rel) > 24 {
			rel = "…" + rel[len(rel)-24:]
		}
		t.Run(rel+"/"+tt.mode, func(t *testing.T) {
			check(t, confinedRun(t, p, "open", tt.file, tt.mode), tt.want)
		})
	}
}
