package kernel_test

import (
	"fmt"
	"os"
	"path/filepath"
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
// (x/bin/prog), decoys and a prepared folder for each, and folders no rule
// names (pub).
func renameTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"top/etc", "top/prep", "pub/d", "secret/sub", "vault/closed",
		"w/ro/d", "w/rw", "x/bin", "x/prep", "a"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"top/etc/shadow", "top/prep/shadow", "pub/f", "pub/d/x", "secret/f",
		"secret/sub/x", "vault/closed/x", "w/ro/f", "w/rw/f", "x/bin/prog", "x/prep/prog", "a/evil"} {
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

func TestBypassRename(t *testing.T) {
	kerneltest.Require(t)
	type route struct {
		name    string
		profile func(*testing.T, string) string
		args    []string // relative paths are under the tree's dir
		want    verdict
		event   []string // fields of krsi's event; "path=" is completed with dir
	}
	widens := "reason=rename-widens"
	moves := "reason=rename-moves-rules"
	routes := []route{
		// read rules
		{"read rule: rename of the file", readRules, []string{"rename", "top/etc/shadow", "top/etc/shadow2"},
			denied, []string{widens, "path=top/etc/shadow"}},
		{"read rule: rename of its folder", readRules, []string{"rename", "top/etc", "top/etc2"},
			denied, []string{moves, "path=top/etc"}},
		{"read rule: rename of its grandparent", readRules, []string{"rename", "top", "top2"},
			denied, []string{moves, "path=top"}},
		{"read rule: exchange of its folder with a prepared one", readRules,
			[]string{"rename-exchange", "top/etc", "top/prep"}, denied, []string{moves}},
		{"read rule: exchange of the file with a decoy", readRules,
			[]string{"rename-exchange", "top/etc/shadow", "top/prep/shadow"}, denied, []string{widens}},
		{"read rule: hard link", readRules, []string{"link", "top/etc/shadow", "pub/alias"},
			denied, []string{"hook=path_link", widens, "path=top/etc/shadow"}},
		{"read rule: rename out of a denied subtree", readRules, []string{"rename", "secret/f", "pub/f2"},
			denied, []string{widens, "path=secret/f"}},
		{"read rule: a folder allowed itself, its contents denied by the subtree above", readRules,
			[]string{"rename", "secret/sub", "pub/sub"}, denied, []string{widens, "path=secret/sub"}},
		{"read rule: a folder moved to where an allow rule lies beneath", readRules,
			[]string{"rename", "vault/closed", "vault/open"}, denied, []string{moves, "path=vault/closed"}},
		// write rules
		{"write rule: rename of its folder", writeRules, []string{"rename", "w/ro", "w/ro2"},
			denied, []string{moves, "path=w/ro"}},
		{"write rule: rename of its grandparent", writeRules, []string{"rename", "w", "w2"},
			denied, []string{moves, "path=w"}},
		{"write rule: exchange of its folder with a prepared one", writeRules,
			[]string{"rename-exchange", "w/rw", "w/ro"}, denied, []string{moves}},
		{"write rule: hard link out of it", writeRules, []string{"link", "w/ro/f", "w/rw/g"},
			denied, []string{"hook=path_link", "path=w/ro/f"}},
		// exec rules
		{"exec deny: rename of the program's folder", execDeny, []string{"rename", "x/bin", "x/y"},
			denied, []string{moves, "path=x/bin"}},
		{"exec deny: rename of its grandparent", execDeny, []string{"rename", "x", "x2"},
			denied, []string{moves, "path=x"}},
		{"exec deny: exchange of its folder with a prepared one", execDeny,
			[]string{"rename-exchange", "x/prep", "x/bin"}, denied, []string{moves}},
		{"exec deny: exchange of the program with a decoy", execDeny,
			[]string{"rename-exchange", "x/prep/prog", "x/bin/prog"}, denied, []string{"hook=path_rename"}},
		{"exec deny: hard link", execDeny, []string{"link", "x/bin/prog", "x/prep/alias"},
			denied, []string{"hook=path_link", "path=x/bin/prog"}},
		{"exec allow list: rename onto the allowed name", execAllow, []string{"rename", "a/evil", "a/app"},
			denied, []string{widens, "path=a/evil"}},
		{"exec allow list: hard link onto the allowed name", execAllow, []string{"link", "a/evil", "a/app"},
			denied, []string{"hook=path_link", widens, "path=a/evil"}},
		// benign: no rule's decision changes
		{"benign: rename of a file no rule names", readRules, []string{"rename", "pub/f", "pub/g"}, allowed, nil},
		{"benign: rename of a folder no rule names", readRules, []string{"rename", "pub/d", "pub/e"}, allowed, nil},
		{"benign: exchange of a file and a folder no rule names", readRules,
			[]string{"rename-exchange", "pub/f", "pub/d"}, allowed, nil},
		{"benign: rename into a denied subtree (narrows)", readRules, []string{"rename", "pub/f", "secret/g"},
			allowed, nil},
		{"benign: hard link where no rule differs", readRules, []string{"link", "pub/f", "pub/h"}, allowed, nil},
		{"benign: rename inside a read-only subtree's free sibling", writeRules,
			[]string{"rename", "w/rw/f", "w/rw/g"}, allowed, nil},
		{"benign: rename next to a denied program", execDeny, []string{"rename", "x/prep/prog", "x/prep/p2"},
			allowed, nil},
		{"benign: rename between two names an allow list denies", execAllow,
			[]string{"rename", "a/evil", "a/evil2"}, allowed, nil},
		{"benign: rename of a folder under builtin/readonly-root", func(*testing.T, string) string {
			return "builtin/readonly-root"
		}, []string{"rename", "pub/d", "pub/e"}, allowed, nil},
		{"benign: rename of a file under builtin/readonly-root", func(*testing.T, string) string {
			return "builtin/readonly-root"
		}, []string{"rename", "pub/f", "pub/g"}, allowed, nil},
	}
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			// Parallel: each krsi run loads and verifies its profile's programs, which
			// takes seconds under TCG; the VM has two CPUs.
			t.Parallel()
			abs := func(dir string) []string {
				a := []string{rt.args[0]}
				for _, p := range rt.args[1:] {
					a = append(a, filepath.Join(dir, p))
				}
				return a
			}
			dir := renameTree(t)
			var ev []string
			if rt.want == denied {
				ev = []string{"action=denied"}
				if !strings.Contains(strings.Join(rt.event, " "), "hook=") {
					ev = append(ev, "hook=path_rename")
				}
			}
			for _, f := range rt.event {
				if p, ok := strings.CutPrefix(f, "path="); ok {
					f = "path=" + filepath.Join(dir, p) + " "
				}
				ev = append(ev, f)
			}
			check(t, krsiRun(t, rt.profile(t, dir), nil, abs(dir)...), rt.want, ev...)
			if rt.want == allowed {
				return
			}
			// The control: the same attempt without krsi works.
			dir = renameTree(t)
			check(t, kerneltest.Run(t, "", append([]string{kerneltest.Env(t, "KRSI_PROBE")}, abs(dir)...)...), allowed)
		})
	}
}
