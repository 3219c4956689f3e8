package kernel_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/test/kerneltest"
)

// The rename bypass suite (issue 13, class 4): path rules follow names, and
// rename(2), RENAME_EXCHANGE and link(2) change names. Each attack moves a
// protected file, or a folder above it, out from under the rule that protects
// it, for read, write and exec rules; each is denied under the profile it
// attacks and works without krsi (the control). The benign renames at the end
// change no rule's decision and must keep working. docs/threat-model.md says
// why the checks cover every route.

// renameTree makes, under a new dir: files under a read rule (top/etc/shadow,
// secret/**, vault/**), a write rule (w/ro/**) and an exec rule
// (x/bin/prog), decoys and a prepared folder for each, and files and folders
// no rule names (pub), one for each benign rename.
func renameTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"top/etc", "top/prep", "pub/d1", "pub/d2", "secret/sub", "vault/closed",
		"w/ro/d", "w/rw", "x/bin", "x/prep", "a"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"top/etc/shadow", "top/prep/shadow", "pub/f1", "pub/f2", "pub/f3", "pub/f4",
		"pub/d1/x", "pub/d2/x", "secret/f", "secret/sub/x", "vault/closed/x", "w/ro/f", "w/rw/f",
		"x/bin/prog", "x/prep/prog", "x/prep/p1", "a/evil", "a/evil1"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The profiles the attacks run under, for the tree in dir.
func readRules(t *testing.T, dir string) string {
	return writeProfile(t, fmt.Sprintf(`files:
  rules:
    - {path: %[1]s/top/etc/shadow, deny: [read]}
    - {path: %[1]s/secret/**, deny: [read]}
    - {path: %[1]s/secret/sub, allow: [read]}
    - {path: %[1]s/vault/**, deny: [read]}
    - {path: %[1]s/vault/open/**, allow: [read]}
`, dir))
}

func writeRules(t *testing.T, dir string) string {
	return writeProfile(t, fmt.Sprintf("files:\n  rules:\n    - {path: %s/w/ro/**, deny: [write]}\n", dir))
}

func execDeny(t *testing.T, dir string) string {
	return writeProfile(t, fmt.Sprintf("exec:\n  deny: [%s/x/bin/prog]\n", dir))
}

func execAllow(t *testing.T, dir string) string {
	return allowList(t, dir+"/a/app")
}

func readonlyRoot(*testing.T, string) string { return "builtin/readonly-root" }

type renameRoute struct {
	name  string
	args  []string // probe subcommand; operands are paths under the tree's dir
	want  verdict
	event []string // fields of krsi's event; "path=" is completed with dir
}

const (
	widens = "reason=rename-widens"
	moves  = "reason=rename-moves-rules"
)

// Each profile's routes run in one `krsi run` (probe each): loading the
// programs is what takes time under TCG. Denied routes come first and change
// nothing; each benign one moves names no other route uses.
func TestBypassRename(t *testing.T) {
	kerneltest.Require(t)
	groups := []struct {
		name    string
		profile func(*testing.T, string) string
		routes  []renameRoute
	}{
		{"read rules", readRules, []renameRoute{
			{"rename of the file", []string{"rename", "top/etc/shadow", "top/etc/shadow2"},
				denied, []string{"hook=path_rename", widens, "path=top/etc/shadow"}},
			{"rename of its folder", []string{"rename", "top/etc", "top/etc2"},
				denied, []string{"hook=path_rename", moves, "path=top/etc"}},
			{"rename of its grandparent", []string{"rename", "top", "top2"},
				denied, []string{"hook=path_rename", moves, "path=top"}},
			{"exchange of its folder with a prepared one", []string{"rename-exchange", "top/etc", "top/prep"},
				denied, []string{"hook=path_rename", moves, "path=top/prep"}},
			{"exchange of the file with a decoy", []string{"rename-exchange", "top/etc/shadow", "top/prep/shadow"},
				denied, []string{"hook=path_rename", widens, "path=top/etc/shadow"}},
			{"hard link", []string{"link", "top/etc/shadow", "pub/alias"},
				denied, []string{"hook=path_link", widens, "path=top/etc/shadow"}},
			{"rename out of a denied subtree", []string{"rename", "secret/f", "pub/f9"},
				denied, []string{"hook=path_rename", widens, "path=secret/f"}},
			{"a folder allowed itself, its contents denied by the subtree rule above",
				[]string{"rename", "secret/sub", "pub/sub"}, denied, []string{"hook=path_rename", widens, "path=secret/sub"}},
			{"a folder moved to where an allow rule lies beneath", []string{"rename", "vault/closed", "vault/open"},
				denied, []string{"hook=path_rename", moves, "path=vault/closed"}},
			{"benign: rename of a file no rule names", []string{"rename", "pub/f1", "pub/g1"}, allowed, nil},
			{"benign: rename of a folder no rule names", []string{"rename", "pub/d1", "pub/e1"}, allowed, nil},
			{"benign: exchange of a file and a folder no rule names", []string{"rename-exchange", "pub/f2", "pub/d2"},
				allowed, nil},
			{"benign: rename into a denied subtree (narrows)", []string{"rename", "pub/f3", "secret/g3"}, allowed, nil},
			{"benign: hard link where no rule differs", []string{"link", "pub/f4", "pub/h4"}, allowed, nil},
		}},
		{"write rules", writeRules, []renameRoute{
			{"rename of its folder", []string{"rename", "w/ro", "w/ro2"},
				denied, []string{"hook=path_rename", moves, "path=w/ro"}},
			{"rename of its grandparent", []string{"rename", "w", "w2"},
				denied, []string{"hook=path_rename", moves, "path=w"}},
			{"exchange of its folder with a prepared one", []string{"rename-exchange", "w/rw", "w/ro"},
				denied, []string{"hook=path_rename", moves, "path=w/ro"}},
			{"hard link out of it", []string{"link", "w/ro/f", "w/rw/g"},
				denied, []string{"hook=path_link", "reason=rule", "path=w/ro/f"}},
			{"benign: rename beside the read-only folder", []string{"rename", "w/rw/f", "w/rw/g"}, allowed, nil},
		}},
		{"exec deny list", execDeny, []renameRoute{
			{"rename of the program's folder", []string{"rename", "x/bin", "x/y"},
				denied, []string{"hook=path_rename", moves, "path=x/bin"}},
			{"rename of its grandparent", []string{"rename", "x", "x2"},
				denied, []string{"hook=path_rename", moves, "path=x"}},
			{"exchange of its folder with a prepared one", []string{"rename-exchange", "x/prep", "x/bin"},
				denied, []string{"hook=path_rename", moves, "path=x/bin"}},
			{"exchange of the program with a decoy", []string{"rename-exchange", "x/prep/prog", "x/bin/prog"},
				denied, []string{"hook=path_rename", "reason=rule", "path=x/bin/prog"}},
			{"hard link", []string{"link", "x/bin/prog", "x/prep/alias"},
				denied, []string{"hook=path_link", "reason=rule", "path=x/bin/prog"}},
			{"benign: rename beside the denied program", []string{"rename", "x/prep/p1", "x/prep/p2"}, allowed, nil},
		}},
		{"exec allow list", execAllow, []renameRoute{
			{"rename onto the allowed name", []string{"rename", "a/evil", "a/app"},
				denied, []string{"hook=path_rename", widens, "path=a/evil"}},
			{"hard link onto the allowed name", []string{"link", "a/evil", "a/app"},
				denied, []string{"hook=path_link", widens, "path=a/evil"}},
			{"benign: rename between two names the list denies", []string{"rename", "a/evil1", "a/evil2"},
				allowed, nil},
		}},
		{"builtin/readonly-root", readonlyRoot, []renameRoute{
			{"benign: rename of a folder in /tmp", []string{"rename", "pub/d1", "pub/e1"}, allowed, nil},
			{"benign: rename of a file in /tmp", []string{"rename", "pub/f1", "pub/g1"}, allowed, nil},
			{"benign: exchange in /tmp", []string{"rename-exchange", "pub/f2", "pub/d2"}, allowed, nil},
		}},
	}
	abs := func(dir string, args []string) []string {
		a := []string{args[0]}
		for _, p := range args[1:] {
			a = append(a, filepath.Join(dir, p))
		}
		return a
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			// Parallel: each krsi run loads and verifies its profile's programs, which
			// takes seconds under TCG; the VM has two CPUs.
			t.Parallel()
			dir := renameTree(t)
			var argv []string
			for i, rt := range g.routes {
				if i > 0 {
					argv = append(argv, ",")
				}
				argv = append(argv, abs(dir, rt.args)...)
			}
			r := confinedRun(t, g.profile(t, dir), append([]string{"each"}, argv...)...)
			if r.Exit != 0 {
				t.Fatalf("probe each: %s", r)
			}
			lines := strings.Split(strings.TrimSpace(lastLine(r.Stdout)), " | ")
			if len(lines) != len(g.routes) {
				t.Fatalf("want %d results, got %d: %s", len(g.routes), len(lines), r)
			}
			events := strings.Split(r.Stderr, "\n")
			for i, rt := range g.routes {
				got := lines[i]
				switch {
				case rt.want == allowed && got != "ok":
					t.Errorf("%s: want it allowed, got %q", rt.name, got)
					continue
				case rt.want == denied && !strings.Contains(got, "operation not permitted"):
					t.Errorf("%s: want EPERM, got %q", rt.name, got)
					continue
				case rt.want == allowed:
					continue
				}
				want := []string{"action=denied"}
				for _, f := range rt.event {
					if p, ok := strings.CutPrefix(f, "path="); ok {
						f = "path=" + filepath.Join(dir, p) + " "
					}
					want = append(want, f)
				}
				if !slices.ContainsFunc(events, func(l string) bool {
					for _, f := range want {
						if !strings.Contains(l, f) {
							return false
						}
					}
					return true
				}) {
					t.Errorf("%s: no event of krsi has all of %q:\n%s", rt.name, want, r.Stderr)
				}
				// The control: the same attempt without krsi works.
				ctl := abs(renameTree(t), rt.args)
				if c := kerneltest.Run(t, "", append([]string{kerneltest.Env(t, "KRSI_PROBE")}, ctl...)...); !c.OK() {
					t.Errorf("%s: control without krsi: %s", rt.name, c)
				}
			}
		})
	}
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndex(s, "\n")+1:]
}
