package profiles

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"
)

// FuzzParse feeds Parse arbitrary documents. Parse must not panic; what it
// accepts must compile without panicking, and every compiled entry must be
// one the kernel side can take as is.
func FuzzParse(f *testing.F) {
	files, err := fs.Glob(builtinFS, "builtin/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no builtin seeds: %v", err)
	}
	for _, file := range files {
		data, err := builtinFS.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(compactSeed(data))
	}
	for _, s := range []string{
		header + "files:\n  rules:\n    - {path: /a/**, allow: [write], deny: [append]}\n    - {path: /a/**, deny: [read]}\n",
		header + "exec:\n  allow: [/*, /**, /]\n  deny: [/a/*]\n",
		header + "exec:\n  allow: &a [/x]\n  deny: *a\n",
		header + "mode: audit\nimages: [a, b]\nmemory: {wx: allow}\n",
		header + "---\n" + header,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("Parse error %T %v is not a non-empty ErrorList", err, err)
			}
			for _, e := range list {
				if e.File != "fuzz.yaml" || e.Line < 0 || e.Msg == "" {
					t.Fatalf("malformed error %+v", e)
				}
			}
			_ = err.Error()
			return
		}
		c, err := p.Compile()
		if err != nil {
			return
		}
		if len(c.Rules) != len(p.rules) {
			t.Fatalf("%d rules compiled from %d", len(c.Rules), len(p.rules))
		}
		for i, e := range c.Entries {
			if err := checkEntry(e, len(c.Rules)); err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				prev := c.Entries[i-1]
				if prev.Path > e.Path || prev.Path == e.Path && prev.Kind >= e.Kind {
					t.Fatalf("entries out of order or repeated: %+v then %+v", prev, e)
				}
			}
		}
	})
}

// compactSeed keeps the start of a builtin without its comments. Whole
// builtins (up to 3 KB) are poor seeds: each input the fuzzer finds
// interesting is minimized first, and minimizing kilobytes takes the whole
// -fuzzminimizetime (60 s by default), so a 60 s run would do little else.
// The builtins themselves are parsed whole by TestBuiltins*.
func compactSeed(data []byte) []byte {
	var out []string
	for l := range strings.Lines(string(data)) {
		if i := strings.Index(l, " #"); i >= 0 {
			l = strings.TrimRight(l[:i], " ") + "\n"
		}
		if t := strings.TrimSpace(l); t == "" || t[0] == '#' {
			continue
		}
		if out = append(out, l); len(out) == compactSeedLines {
			break
		}
	}
	return []byte(strings.Join(out, ""))
}

const compactSeedLines = 25

// checkEntry states what the kernel side may rely on for every Entry.
func checkEntry(e Entry, nrules int) error {
	p := e.Path
	switch e.Kind {
	case MatchApplet:
		bin, name, ok := AppletOf(p)
		if !ok || checkApplet(name) != nil {
			return fmt.Errorf("entry %q: not binary NUL applet", p)
		}
		p = bin
		fallthrough
	case MatchMulticall:
		if e.Allow|e.Deny != AccessExec {
			return fmt.Errorf("entry %q: %s decides %s, want exec", p, e.Kind, e.Allow|e.Deny)
		}
		e.Kind = MatchExact
	}
	switch {
	case e.Kind < MatchExact || e.Kind > MatchSubtree:
		return fmt.Errorf("entry %q: bad kind %d", p, e.Kind)
	case p == "" || p[0] != '/' || len(p) > MaxPathLen || strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("entry %q: not an absolute path of at most %d bytes without NUL", p, MaxPathLen)
	case strings.ContainsAny(p, "*?["):
		return fmt.Errorf("entry %q: wildcard left in path", p)
	case e.Kind != MatchExact && !strings.HasSuffix(p, "/"):
		return fmt.Errorf("entry %q: %s without trailing slash", p, e.Kind)
	case e.Kind == MatchExact && p != "/" && strings.HasSuffix(p, "/"):
		return fmt.Errorf("entry %q: exact path with trailing slash", p)
	case e.Allow|e.Deny == 0 || e.Allow&e.Deny != 0:
		return fmt.Errorf("entry %q: allow=%s deny=%s", p, e.Allow, e.Deny)
	case (e.Allow|e.Deny)>>NumAccess != 0:
		return fmt.Errorf("entry %q: unknown access bits", p)
	}
	if dir := strings.TrimSuffix(p, "/"); dir != "" && path.Clean(dir) != dir {
		return fmt.Errorf("entry %q: not clean", p)
	}
	for i, o := range e.Origin {
		if (e.Allow|e.Deny)&(1<<i) != 0 && int(o) >= nrules {
			return fmt.Errorf("entry %q: origin %d of bit %d out of range", p, o, i)
		}
	}
	return nil
}
