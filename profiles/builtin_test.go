package profiles

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBuiltinNames(t *testing.T) {
	want := []string{"nginx", "no-shell", "readonly-root", "wx"}
	if got := BuiltinNames(); !slices.Equal(got, want) {
		t.Errorf("BuiltinNames() = %q, want %q", got, want)
	}
}

func TestBuiltinsParseAndCompileUnderTheirOwnName(t *testing.T) {
	for _, name := range BuiltinNames() {
		p, err := Builtin(name)
		if err != nil {
			t.Fatalf("Builtin(%q): %v", name, err)
		}
		if p.Name != name {
			t.Errorf("builtin/%s.yaml holds profile %q", name, p.Name)
		}
		c, err := p.Compile()
		if err != nil {
			t.Fatalf("Compile %s: %v", name, err)
		}
		if c.Name != "builtin/"+name || c.Mode != ModeEnforce || !c.DenyWX {
			t.Errorf("%s compiles to Name=%q Mode=%q DenyWX=%v", name, c.Name, c.Mode, c.DenyWX)
		}
		for _, e := range c.Entries {
			if err := checkEntry(e, len(c.Rules)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

func TestBuiltinReturnsAFreshCopy(t *testing.T) {
	a, _ := Builtin("wx")
	a.Name = "changed"
	b, _ := Builtin("wx")
	if b.Name != "wx" {
		t.Errorf("a change to one Builtin result shows in the next")
	}
}

func TestBuiltinWXOnlyDeniesWX(t *testing.T) {
	c := compileBuiltin(t, "wx")
	if !c.DenyWX || c.UsesExec() || c.UsesFiles() || len(c.Rules) != 0 {
		t.Errorf("wx compiles to %+v", c)
	}
}

func TestBuiltinReadonlyRootAllowsWritesOnlyToScratchDirs(t *testing.T) {
	c := compileBuiltin(t, "readonly-root")
	const w = AccessWrite | AccessAppend | AccessCreate | AccessTruncate
	want := map[string]string{"/": "deny"}
	for _, dir := range []string{"/tmp/", "/run/", "/var/tmp/", "/dev/"} {
		want[dir] = "allow"
	}
	if c.FileDefaultDeny || len(c.Entries) != len(want) {
		t.Fatalf("FileDefaultDeny=%v, %d entries", c.FileDefaultDeny, len(c.Entries))
	}
	for _, e := range c.Entries {
		ok := e.Kind == MatchSubtree &&
			(want[e.Path] == "deny" && e.Deny == w && e.Allow == 0 ||
				want[e.Path] == "allow" && e.Allow == w && e.Deny == 0)
		if !ok {
			t.Errorf("unexpected entry %s %s allow=%s deny=%s", e.Path, e.Kind, e.Allow, e.Deny)
		}
	}
}

func TestBuiltinNoShellDeniesShellsInEveryBinDir(t *testing.T) {
	c := compileBuiltin(t, "no-shell")
	if !c.DenyFileless || c.ExecDefaultDeny || c.UsesFiles() {
		t.Errorf("flags: %+v", c)
	}
	denied := map[string]bool{}
	applets := map[string]bool{}
	for _, e := range c.Entries {
		switch e.Kind {
		case MatchMulticall:
			if e.Allow != AccessExec || e.Deny != 0 {
				t.Errorf("busybox's other applets are not allowed: %+v", e)
			}
			continue
		case MatchApplet:
			if e.Deny != AccessExec || e.Allow != 0 {
				t.Errorf("unexpected applet entry %+v", e)
			}
			applets[e.Path] = true
			continue
		}
		if e.Kind != MatchExact || e.Deny != AccessExec || e.Allow != 0 {
			t.Errorf("unexpected entry %+v", e)
		}
		denied[e.Path] = true
	}
	names := strings.Fields("sh bash dash ash zsh ksh csh tcsh fish apt apt-get dpkg apk yum dnf rpm microdnf pip pip3 npm gem curl wget")
	for _, dir := range []string{"/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin"} {
		for _, n := range names {
			if !denied[dir+"/"+n] {
				t.Errorf("%s/%s is not denied", dir, n)
			}
		}
	}
	if len(denied) != 5*len(names) {
		t.Errorf("%d entries, want %d", len(denied), 5*len(names))
	}
	// busybox itself runs (ls, cat); its shells and network tools do not.
	for _, dir := range []string{"/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin"} {
		if denied[dir+"/busybox"] {
			t.Errorf("%s/busybox is denied whole", dir)
		}
		for _, a := range strings.Fields("sh ash hush wget nc") {
			if !applets[dir+"/busybox\x00"+a] {
				t.Errorf("%s/busybox applet %s is not denied", dir, a)
			}
		}
	}
}

func TestBuiltinNginxAllowsOnlyNginxAndItsLibraries(t *testing.T) {
	c := compileBuiltin(t, "nginx")
	if !c.ExecDefaultDeny || !c.DenyFileless || !c.FileDefaultDeny {
		t.Errorf("flags: exec default deny %v, fileless %v, file default deny %v", c.ExecDefaultDeny, c.DenyFileless, c.FileDefaultDeny)
	}
	execs := map[string]bool{}
	for _, e := range c.Entries {
		if e.Deny != 0 {
			t.Errorf("nginx denies explicitly: %+v", e)
		}
		if e.Allow&AccessExec != 0 {
			execs[pattern{e.Path, e.Kind}.String()] = true
		}
	}
	for _, p := range []string{"/usr/sbin/nginx", "/lib/**", "/usr/lib/**", "/lib64/**"} {
		if !execs[p] {
			t.Errorf("nginx does not allow exec of %s", p)
		}
	}
	access := func(path string, kind MatchKind) Access {
		for _, e := range c.Entries {
			if e.Path == path && e.Kind == kind {
				return e.Allow
			}
		}
		return 0
	}
	rw := AccessRead | AccessWrite | AccessAppend | AccessCreate | AccessTruncate
	for _, tc := range []struct {
		path string
		kind MatchKind
		want Access
	}{
		{"/etc/nginx/", MatchSubtree, AccessRead},
		{"/etc/passwd", MatchExact, AccessRead},
		{"/dev/null", MatchExact, rw},
		{"/var/log/nginx/", MatchSubtree, rw},
		{"/tmp/", MatchSubtree, rw},
		{"/lib/", MatchSubtree, AccessRead | AccessExec},
	} {
		if got := access(tc.path, tc.kind); got != tc.want {
			t.Errorf("%s %s: allow=%s, want %s", tc.path, tc.kind, got, tc.want)
		}
	}
}

func TestBuiltinUnknownListsTheKnownOnes(t *testing.T) {
	_, err := Builtin("nope")
	want := `unknown builtin profile "nope" (known: nginx, no-shell, readonly-root, wx)`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

func TestResolveBuiltin(t *testing.T) {
	p, err := Resolve("builtin/no-shell")
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Compile()
	if err != nil || c.Name != "builtin/no-shell" {
		t.Errorf("Compile: %q, %v", c.Name, err)
	}
}

func TestResolveFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.yml")
	if err := os.WriteFile(path, []byte(header), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, ref := range []string{path, "./app.yml", "app.yml"} {
		p, err := Resolve(ref)
		if err != nil {
			t.Errorf("Resolve(%q): %v", ref, err)
			continue
		}
		if c, _ := p.Compile(); c.Name != "t" || p.File != ref {
			t.Errorf("Resolve(%q): File=%q, compiled Name=%q", ref, p.File, c.Name)
		}
	}
}

func TestResolveRejects(t *testing.T) {
	for _, tc := range []struct{ ref, want string }{
		{"builtin/nope", `unknown builtin profile "nope" (known: nginx, no-shell, readonly-root, wx)`},
		{"builtin/x.yaml", `unknown builtin profile "x.yaml" (known: nginx, no-shell, readonly-root, wx); for a file by that name write ./builtin/x.yaml`},
		{"wx", `profile "wx" is neither builtin/NAME nor a file path (one containing / or ending in .yaml or .yml); did you mean builtin/wx?`},
		{"app", `profile "app" is neither builtin/NAME nor a file path (one containing / or ending in .yaml or .yml)`},
		{"", `profile "" is neither builtin/NAME nor a file path (one containing / or ending in .yaml or .yml)`},
	} {
		_, err := Resolve(tc.ref)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Resolve(%q) error:\n got %v\nwant %s", tc.ref, err, tc.want)
		}
	}
}

func compileBuiltin(tb testing.TB, name string) *Compiled {
	tb.Helper()
	p, err := Builtin(name)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := p.Compile()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
