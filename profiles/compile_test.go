package profiles

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestCompileDenyWinsAtSameKey(t *testing.T) {
	c := mustCompile(t, `files:
  rules:
    - path: /etc/**
      allow: [read, write]
    - path: /etc/**
      deny: [append]
exec:
  allow: [/etc/**]
  deny: [/etc/**]
`)
	want := []Entry{{
		Path:  "/etc/",
		Kind:  MatchSubtree,
		Allow: AccessRead | AccessWrite | AccessCreate | AccessTruncate,
		Deny:  AccessAppend | AccessExec,
		// Rules: 0 exec.allow[0], 1 exec.deny[0], 2 files.rules[0], 3 files.rules[1].
		Origin: [NumAccess]uint32{2, 2, 3, 2, 2, 1},
	}}
	if !reflect.DeepEqual(c.Entries, want) {
		t.Errorf("Entries:\n got %+v\nwant %+v", c.Entries, want)
	}
}

func TestCompileDenyWinsWhenTheDenyComesFirst(t *testing.T) {
	c := mustCompile(t, `files:
  rules:
    - path: /etc/shadow
      deny: [read]
    - path: /etc/shadow
      allow: [read]
`)
	e := c.Entries[0]
	if e.Allow != 0 || e.Deny != AccessRead || e.Origin[0] != 0 {
		t.Errorf("Entry %+v, want read denied by rule 0", e)
	}
}

func TestCompileDenyWinsWithinOneRule(t *testing.T) {
	c := mustCompile(t, "files:\n  rules:\n    - {path: /data/**, allow: [write], deny: [truncate]}\n")
	e := c.Entries[0]
	if e.Allow != AccessWrite|AccessAppend|AccessCreate || e.Deny != AccessTruncate {
		t.Errorf("Entry allow=%s deny=%s, want allow=write,append,create deny=truncate", e.Allow, e.Deny)
	}
}

func TestCompileFirstRuleIsOriginAmongEquals(t *testing.T) {
	c := mustCompile(t, `files:
  rules:
    - {path: /a, allow: [read]}
    - {path: /a, allow: [read, append]}
    - {path: /b, deny: [read]}
    - {path: /b, deny: [read]}
`)
	want := []Entry{
		{Path: "/a", Kind: MatchExact, Allow: AccessRead | AccessAppend, Origin: [NumAccess]uint32{0, 0, 1}},
		{Path: "/b", Kind: MatchExact, Deny: AccessRead, Origin: [NumAccess]uint32{2}},
	}
	if !reflect.DeepEqual(c.Entries, want) {
		t.Errorf("Entries:\n got %+v\nwant %+v", c.Entries, want)
	}
}

func TestCompileWriteExpandsAndAppendStaysNarrow(t *testing.T) {
	c := mustCompile(t, `files:
  rules:
    - {path: /var/log/app.log, allow: [append]}
    - {path: /etc/**, deny: [write]}
`)
	got := map[string]string{}
	for _, e := range c.Entries {
		got[e.Path] = fmt.Sprintf("allow=%s deny=%s", e.Allow, e.Deny)
	}
	want := map[string]string{
		"/var/log/app.log": "allow=append deny=none",
		"/etc/":            "allow=none deny=write,append,create,truncate",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCompileKeepsDifferentKindsOfTheSameDirectoryApart(t *testing.T) {
	c := mustCompile(t, `files:
  rules:
    - {path: /usr/bin/**, allow: [read]}
    - {path: /usr/bin/*, deny: [read]}
    - {path: /usr/bin, allow: [read]}
    - {path: /usr/bin/*, allow: [write]}
`)
	var got []string
	for _, e := range c.Entries {
		got = append(got, fmt.Sprintf("%s %s allow=%s deny=%s", e.Path, e.Kind, e.Allow, e.Deny))
	}
	want := []string{
		"/usr/bin exact allow=read deny=none",
		"/usr/bin/ children allow=write,append,create,truncate deny=read",
		"/usr/bin/ subtree allow=read deny=none",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Entries:\n got %q\nwant %q", got, want)
	}
}

func TestCompileSortsEntriesByPathThenKind(t *testing.T) {
	c := mustCompile(t, "exec:\n  deny: [/z, /a/**, /a/*, /m, /a/b, /**, /*, /]\n")
	var got []string
	for _, e := range c.Entries {
		got = append(got, fmt.Sprintf("%s %s", e.Path, e.Kind))
	}
	want := []string{"/ exact", "/ children", "/ subtree", "/a/ children", "/a/ subtree", "/a/b exact", "/m exact", "/z exact"}
	if !slices.Equal(got, want) {
		t.Errorf("Entries:\n got %q\nwant %q", got, want)
	}
}

func TestCompileRulesAreOneLinePerSourceRule(t *testing.T) {
	c := mustCompile(t, `exec:
  deny: [/bin/sh]
  allow: ["/usr/sbin/nginx", "/my app"]
files:
  rules:
    - {path: /etc/nginx/**, allow: [read]}
    - {path: /etc/shadow, deny: [read, write]}
    - {path: /data/*, allow: [read, write], deny: [truncate]}
`)
	want := []string{
		"exec.allow[0]: /usr/sbin/nginx",
		`exec.allow[1]: "/my app"`,
		"exec.deny[0]: /bin/sh",
		"files.rules[0]: /etc/nginx/** allow read",
		"files.rules[1]: /etc/shadow deny read,write",
		"files.rules[2]: /data/* allow read,write deny truncate",
	}
	if !slices.Equal(c.Rules, want) {
		t.Errorf("Rules:\n got %q\nwant %q", c.Rules, want)
	}
}

func TestCompileCarriesFlagsAndMode(t *testing.T) {
	c := mustCompile(t, `mode: audit
memory: {wx: deny}
exec: {allow: [/app], fileless: allow}
files: {default: deny}
`)
	got := Compiled{Name: c.Name, Mode: c.Mode, DenyWX: c.DenyWX, ExecDefaultDeny: c.ExecDefaultDeny,
		DenyFileless: c.DenyFileless, FileDefaultDeny: c.FileDefaultDeny}
	want := Compiled{Name: "t", Mode: ModeAudit, DenyWX: true, ExecDefaultDeny: true, FileDefaultDeny: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if !c.UsesExec() || !c.UsesFiles() {
		t.Errorf("UsesExec=%v UsesFiles=%v, want both", c.UsesExec(), c.UsesFiles())
	}
}

func TestCompileOfEmptyProfileDoesNothing(t *testing.T) {
	c := mustCompile(t, "")
	want := &Compiled{Name: "t", Mode: ModeEnforce, Rules: []string{}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
	if c.UsesExec() || c.UsesFiles() {
		t.Errorf("an empty profile uses a hook")
	}
}

func TestCompileRejectsHandMadeProfileWithoutName(t *testing.T) {
	_, err := (&Profile{}).Compile()
	if err == nil || err.Error() != "compile profile: name: must not be empty" {
		t.Errorf("error = %v", err)
	}
}

func TestAccessString(t *testing.T) {
	for a, want := range map[Access]string{
		0:                        "none",
		AccessRead | AccessExec:  "read,exec",
		AccessTruncate | 1<<7:    "truncate,0x80",
		1<<NumAccess - 1:         "read,write,append,create,truncate,exec",
		AccessWrite | AccessRead: "read,write",
	} {
		if got := a.String(); got != want {
			t.Errorf("Access(%#x).String() = %q, want %q", uint8(a), got, want)
		}
	}
}

// tenThousandRules is a profile shaped like a large real one: exec and file
// rules over many directories, with some keys named twice so merging works.
func tenThousandRules(tb testing.TB) *Profile {
	var b strings.Builder
	b.WriteString(header + "exec:\n  allow:\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "    - /opt/app%d/bin/**\n", i)
	}
	b.WriteString("  deny:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "    - /opt/app%d/bin/tool\n", i)
	}
	b.WriteString("files:\n  default: deny\n  rules:\n")
	for i := range 7000 {
		verb, words := "allow", "[read, write]"
		if i%3 == 0 {
			verb, words = "deny", "[write]"
		}
		fmt.Fprintf(&b, "    - path: /srv/data%d/**\n      %s: %s\n", i%5000, verb, words)
	}
	p, err := Parse("bench.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func BenchmarkCompile10000Rules(b *testing.B) {
	p := tenThousandRules(b)
	b.ReportAllocs()
	for b.Loop() {
		c, err := p.Compile()
		if err != nil || len(c.Rules) != 10000 {
			b.Fatalf("Compile: %d rules, %v", len(c.Rules), err)
		}
	}
}

func BenchmarkParse10000Rules(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(header + "files:\n  rules:\n")
	for i := range 10000 {
		fmt.Fprintf(&sb, "    - {path: /srv/data%d/**, allow: [read, write]}\n", i)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("bench.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// Every directory a rule key lies in or names is an ancestor key, so that the
// kernel can refuse to rename it; a rule's own file is not.
func TestAncestorKeysCoverEveryDirectoryAboveAKey(t *testing.T) {
	c := mustCompile(t, `files:
  rules:
    - {path: /etc/shadow, deny: [read]}
    - {path: /opt/app/**, allow: [write]}
    - {path: /usr/bin/*, deny: [write]}
exec:
  deny: [/bin/busybox]
`)
	want := []string{"/", "/bin/", "/etc/", "/opt/", "/opt/app/", "/usr/", "/usr/bin/"}
	if got := c.AncestorKeys(); !slices.Equal(got, want) {
		t.Errorf("AncestorKeys:\n got %q\nwant %q", got, want)
	}
}

func TestAncestorKeysOfTheRootSubtree(t *testing.T) {
	c := mustCompile(t, "files:\n  rules:\n    - {path: /**, deny: [write]}\n")
	if got := c.AncestorKeys(); !slices.Equal(got, []string{"/"}) {
		t.Errorf("AncestorKeys of /**: %q, want [/]", got)
	}
	if got := mustCompile(t, "memory:\n  wx: deny\n").AncestorKeys(); len(got) != 0 {
		t.Errorf("AncestorKeys of a profile without path rules: %q, want none", got)
	}
}
