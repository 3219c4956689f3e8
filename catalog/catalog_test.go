package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/krsi-dev/krsi/profiles"
)

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// profileYAML is a node profile with the given name, extra top-level
// lines (images:, mode:, …) and W^X on.
func profileYAML(name string, extra ...string) string {
	s := "apiVersion: krsi.dev/v1\nkind: Profile\nname: " + name + "\nmemory:\n  wx: deny\n"
	for _, e := range extra {
		s += e + "\n"
	}
	return s
}

func writeFile(tb testing.TB, dir, name, body string) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// open opens a catalog on dirs with a log the test can read.
func open(tb testing.TB, dirs ...string) (*Catalog, *test.Hook) {
	tb.Helper()
	log, hook := test.NewNullLogger()
	c, err := Open(dirs, log, WithDebounce(20*time.Millisecond))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return c, hook
}

func reload(tb testing.TB, c *Catalog) []string {
	tb.Helper()
	changed, err := c.Reload()
	if err != nil {
		tb.Fatalf("Reload: %v", err)
	}
	return changed
}

func problems(c *Catalog) []string {
	var s []string
	for _, err := range c.Problems() {
		s = append(s, err.Error())
	}
	return s
}

func TestOpenLoadsBuiltinsAndNodeProfiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", profileYAML("web", "mode: audit"))
	writeFile(t, dir, "api.yml", profileYAML("api"))
	writeFile(t, dir, "notes.txt", "not a profile")
	writeFile(t, dir, ".#web.yaml", "an editor's lock file")
	c, _ := open(t, dir)

	want := []string{"builtin/nginx", "builtin/no-shell", "builtin/readonly-root", "builtin/wx", "localhost/api", "localhost/web"}
	if got := c.Refs(); !slices.Equal(got, want) {
		t.Errorf("Refs = %q, want %q", got, want)
	}
	if p := problems(c); p != nil {
		t.Errorf("Problems = %q", p)
	}
	web, err := c.Lookup("localhost/web")
	if err != nil {
		t.Fatal(err)
	}
	if web.Name != "localhost/web" || web.Mode != profiles.ModeAudit || !web.DenyWX {
		t.Errorf("localhost/web = %+v", web)
	}
	wx, err := c.Lookup("builtin/wx")
	if err != nil || wx.Name != "builtin/wx" {
		t.Errorf("builtin/wx = %+v, %v", wx, err)
	}
}

func TestNodeProfileIsNamedByItsNameFieldNotItsFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "10-frontend.yaml", profileYAML("web"))
	c, _ := open(t, dir)
	if _, err := c.Lookup("localhost/web"); err != nil {
		t.Error(err)
	}
	if _, err := c.Lookup("localhost/10-frontend"); err == nil {
		t.Error("the file name is a profile name")
	}
}

func TestOpenWithMissingDirIsFine(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "profiles.d")
	c, hook := open(t, missing)
	if got := c.Refs(); len(got) != len(profiles.BuiltinNames()) {
		t.Errorf("Refs = %q", got)
	}
	if e := hook.LastEntry(); e == nil || !strings.Contains(e.Message, "does not exist") || e.Data["dir"] != missing {
		t.Errorf("log = %+v, want a note that %s does not exist", e, missing)
	}
}

func TestOpenFailsOnUnreadableDir(t *testing.T) {
	notDir := writeFile(t, t.TempDir(), "file", "")
	_, err := Open([]string{notDir}, nil)
	if err == nil || !strings.Contains(err.Error(), "read profile directory") || !strings.Contains(err.Error(), notDir) {
		t.Errorf("Open(file as dir) = %v, want a read profile directory error", err)
	}
}

func TestBrokenFileIsSkippedWithPreciseError(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", profileYAML("bad", "mode: strict"))
	writeFile(t, dir, "good.yaml", profileYAML("good"))
	c, hook := open(t, dir)

	want := []string{bad + `:6: mode: unknown mode "strict" (want enforce or audit)`}
	if got := problems(c); !slices.Equal(got, want) {
		t.Errorf("Problems = %q, want %q", got, want)
	}
	if _, err := c.Lookup("localhost/good"); err != nil {
		t.Error(err)
	}
	_, err := c.Lookup("localhost/bad")
	if wantErr := "profile localhost/bad is defined in " + want[0][:len(bad)] + ", which has errors: " + want[0]; err == nil || err.Error() != wantErr {
		t.Errorf("Lookup(localhost/bad) = %v, want %s", err, wantErr)
	}
	if !logged(hook, logrus.ErrorLevel, "profile file has errors; it is ignored", bad) {
		t.Errorf("the broken file was not logged: %v", messages(hook))
	}
}

func TestReloadKeepsPreviousVersionOfBrokenFile(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "web.yaml", profileYAML("web"))
	c, hook := open(t, dir)
	before, _ := c.Lookup("localhost/web")

	writeFile(t, dir, "web.yaml", profileYAML("web", "files:\n  default: deny\n  rules:\n    - {path: /etc/**, allow: [wrte]}"))
	if changed := reload(t, c); changed != nil {
		t.Errorf("Reload after breaking the file changed %q", changed)
	}
	if after, _ := c.Lookup("localhost/web"); after != before {
		t.Errorf("the previous version is no longer in force")
	}
	wantProblem := file + `:9: files.rules[0].allow[0]: unknown access "wrte" (want one of read, write, append, create, truncate)`
	if got := problems(c); !slices.Equal(got, []string{wantProblem}) {
		t.Errorf("Problems = %q, want %q", got, wantProblem)
	}
	if !logged(hook, logrus.ErrorLevel, "profile file has errors; the previous version of localhost/web stays in force", wantProblem) {
		t.Errorf("log = %v", messages(hook))
	}

	// The same error again is not logged again.
	hook.Reset()
	reload(t, c)
	if len(hook.AllEntries()) != 0 {
		t.Errorf("an unchanged problem was logged again: %v", messages(hook))
	}

	// Fixed: the new version takes over and is reported.
	writeFile(t, dir, "web.yaml", profileYAML("web", "mode: audit"))
	if changed := reload(t, c); !slices.Equal(changed, []string{"localhost/web"}) {
		t.Errorf("Reload after fixing = %q", changed)
	}
	if after, _ := c.Lookup("localhost/web"); after.Mode != profiles.ModeAudit {
		t.Errorf("the fixed version is not in force: %+v", after)
	}
	if p := problems(c); p != nil {
		t.Errorf("Problems = %q after the fix", p)
	}
}

func TestReloadRemovedFileRemovesProfile(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "web.yaml", profileYAML("web"))
	c, _ := open(t, dir)
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if changed := reload(t, c); !slices.Equal(changed, []string{"localhost/web"}) {
		t.Errorf("changed = %q", changed)
	}
	if _, err := c.Lookup("localhost/web"); err == nil {
		t.Error("a removed profile is still there")
	}
}

func TestReloadReportsAddedChangedAndUnchanged(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", profileYAML("web"))
	writeFile(t, dir, "api.yaml", profileYAML("api"))
	c, _ := open(t, dir)
	api, _ := c.Lookup("localhost/api")

	writeFile(t, dir, "web.yaml", profileYAML("web", "mode: audit"))
	writeFile(t, dir, "db.yaml", profileYAML("db"))
	writeFile(t, dir, "api.yaml", "# same profile, new comment\n"+profileYAML("api"))
	if changed := reload(t, c); !slices.Equal(changed, []string{"localhost/db", "localhost/web"}) {
		t.Errorf("changed = %q", changed)
	}
	if again, _ := c.Lookup("localhost/api"); again != api {
		t.Error("an unchanged profile got a new *Compiled")
	}
}

func TestRenamedProfileDisappearsUnderItsOldName(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", profileYAML("web"))
	c, _ := open(t, dir)
	writeFile(t, dir, "web.yaml", profileYAML("frontend"))
	if changed := reload(t, c); !slices.Equal(changed, []string{"localhost/frontend", "localhost/web"}) {
		t.Errorf("changed = %q", changed)
	}
}

func TestDuplicateNameFirstFileWins(t *testing.T) {
	dir := t.TempDir()
	first := writeFile(t, dir, "a.yaml", profileYAML("web", "mode: audit"))
	second := writeFile(t, dir, "b.yaml", profileYAML("web"))
	c, _ := open(t, dir)

	p, _ := c.Lookup("localhost/web")
	if p.Mode != profiles.ModeAudit {
		t.Errorf("localhost/web comes from %s, want %s", second, first)
	}
	want := second + ":3: name: profile localhost/web is already defined by " + first + ", which comes first; this file is ignored (give it another name)"
	if got := problems(c); !slices.Equal(got, []string{want}) {
		t.Errorf("Problems = %q, want %q", got, want)
	}

	// Without the first file, the second one's profile takes over.
	if err := os.Remove(first); err != nil {
		t.Fatal(err)
	}
	if changed := reload(t, c); !slices.Equal(changed, []string{"localhost/web"}) {
		t.Errorf("changed = %q", changed)
	}
	if p, _ := c.Lookup("localhost/web"); p.Mode != profiles.ModeEnforce {
		t.Errorf("localhost/web does not come from %s", second)
	}
}

func TestDuplicateNameAcrossDirsFirstDirWins(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	writeFile(t, d1, "z.yaml", profileYAML("web", "mode: audit"))
	writeFile(t, d2, "a.yaml", profileYAML("web"))
	c, _ := open(t, d1, d2)
	if p, _ := c.Lookup("localhost/web"); p.Mode != profiles.ModeAudit {
		t.Error("the first directory does not win")
	}
}

func TestFileLargerThanMaxFileSizeIsRejected(t *testing.T) {
	dir := t.TempDir()
	big := writeFile(t, dir, "big.yaml", profileYAML("big")+"#"+strings.Repeat("x", profiles.MaxFileSize)+"\n")
	c, _ := open(t, dir)
	want := fmt.Sprintf("%s: file is %d bytes, larger than the 4 MiB a profile may be", big, len(profileYAML("big"))+profiles.MaxFileSize+2)
	if got := problems(c); !slices.Equal(got, []string{want}) {
		t.Errorf("Problems = %q, want %q", got, want)
	}
}

func TestLookupErrorsSayWhichProfilesExist(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", profileYAML("web"))
	c, _ := open(t, dir)
	known := "this node has builtin/nginx, builtin/no-shell, builtin/readonly-root, builtin/wx, localhost/web"
	for _, tc := range []struct{ ref, want string }{
		{"localhost/api", `unknown profile "localhost/api": no file in ` + dir + " defines name: api; " + known},
		{"builtin/strict", `unknown profile "builtin/strict"; ` + known},
		{"wx", `profile reference "wx" is neither builtin/NAME nor localhost/NAME; ` + known},
		{"", `profile reference "" is neither builtin/NAME nor localhost/NAME; ` + known},
	} {
		_, err := c.Lookup(tc.ref)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Lookup(%q) = %v\nwant %s", tc.ref, err, tc.want)
		}
	}
}

func TestInvalidImageSelectorIsAFileErrorWithLine(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "web.yaml", profileYAML("web", "images:\n  - docker.io/library/nginx:*\n  - \"*a*b*c*d*\"\n  - nginx@sha256:abc"))
	c, _ := open(t, dir)
	want := []string{
		file + `:8: images[1]: image selector "*a*b*c*d*" has 5 wildcards, at most 4` + "\n" +
			file + `:9: images[2]: image selector "nginx@sha256:abc": digest "sha256:abc": want sha256: and 64 lower-case hex digits`,
	}
	if got := problems(c); !slices.Equal(got, want) {
		t.Errorf("Problems = %q\nwant %q", got, want)
	}
	if err := CheckFile(file); err == nil || err.Error() != want[0] {
		t.Errorf("CheckFile = %v", err)
	}
}

func TestImageSelectorValidation(t *testing.T) {
	for _, tc := range []struct{ sel, err string }{
		{"docker.io/library/nginx:*", ""},
		{"*/redis:7*", ""},
		{"*", ""},
		{"nginx", ""},
		{"registry:5000/team/app:v1", ""},
		{digestA, ""},
		{"docker.io/library/nginx@" + digestA, ""},
		{"nginx:1.27@" + digestA, ""},
		{"", "empty image selector"},
		{strings.Repeat("a", 257), "image selector is 257 bytes long, at most 256"},
		{"nginx:[0-9]*", `image selector "nginx:[0-9]*": character '[' is not allowed: want an image reference (registry/name:tag), a digest (sha256:HEX or name@sha256:HEX), or a name pattern in which * is the only wildcard`},
		{"nginx:1.?", `image selector "nginx:1.?": character '?' is not allowed: want an image reference (registry/name:tag), a digest (sha256:HEX or name@sha256:HEX), or a name pattern in which * is the only wildcard`},
		{"a*b*c*d*e*", `image selector "a*b*c*d*e*" has 5 wildcards, at most 4`},
		{"NGINX:1", `image selector "NGINX:1" is not an image reference (invalid reference format: repository name (library/NGINX) must be lowercase); a name pattern needs a *, as in docker.io/library/nginx:*`},
		{"nginx@" + digestA[:20] + "*", `image selector "nginx@sha256:aaaaaaaaaaaaa*": a digest selector cannot hold a wildcard; write the whole digest, or a name pattern without @`},
		{"sha256:ABC", `image selector "sha256:ABC": digest "sha256:ABC": want sha256: and 64 lower-case hex digits`},
		{"sha512:abc", `image selector "sha512:abc": digest "sha512:abc": only sha256 digests are supported (sha256: and 64 lower-case hex digits)`},
		{"Bad_Name@" + digestA, `image selector "Bad_Name@` + digestA + `": the name before @ is not an image name: invalid reference format: repository name (library/Bad_Name) must be lowercase`},
	} {
		_, err := parseImageRule(tc.sel)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("parseImageRule(%.40q) = %q\nwant %q", tc.sel, got, tc.err)
		}
	}
}

func TestMatchImage(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "nginx.yaml", profileYAML("nginx", `images: ["docker.io/library/nginx:*"]`))
	writeFile(t, dir, "nginx127.yaml", profileYAML("nginx-127", `images: ["nginx:1.27"]`))
	writeFile(t, dir, "redis.yaml", profileYAML("redis", `images: ["*/redis:7*"]`))
	writeFile(t, dir, "app.yaml", profileYAML("app", `images: ["registry:5000/team/app:*"]`))
	writeFile(t, dir, "pinned.yaml", profileYAML("pinned", `images: ["`+digestA+`", "docker.io/library/nginx@`+digestB+`"]`))
	writeFile(t, dir, "any.yaml", profileYAML("any", `images: ["quay.io/*"]`))
	c, _ := open(t, dir)

	for _, tc := range []struct{ image, ref, pattern string }{
		{"docker.io/library/nginx:1.26", "localhost/nginx", "docker.io/library/nginx:*"},
		{"nginx:1.26", "localhost/nginx", "docker.io/library/nginx:*"},
		{"nginx", "localhost/nginx", "docker.io/library/nginx:*"}, // nginx:latest
		{"docker.io/library/nginx:1.27", "localhost/nginx-127", "nginx:1.27"},
		{"nginx:1.27", "localhost/nginx-127", "nginx:1.27"},
		{"docker.io/library/redis:7.2", "localhost/redis", "*/redis:7*"},
		{"redis:7", "localhost/redis", "*/redis:7*"},
		{"ghcr.io/team/redis:7.0-alpine", "localhost/redis", "*/redis:7*"},
		{"redis:6", "", ""},
		{"registry:5000/team/app:v1", "localhost/app", "registry:5000/team/app:*"},
		{"registry:5000/team/app", "localhost/app", "registry:5000/team/app:*"},
		{"registry:5000/team/app-other:v1", "", ""},
		{"registry:5000/team/app:v1@" + digestA, "localhost/pinned", digestA}, // a digest beats a pattern
		{"registry:5000/team/app@" + digestA, "localhost/pinned", digestA},    // name@digest, no tag
		{digestA, "localhost/pinned", digestA},                                // an image id
		{strings.TrimPrefix(digestA, "sha256:"), "localhost/pinned", digestA}, // an image id without sha256:
		{"docker.io/library/nginx:1.27@" + digestB, "localhost/pinned", "docker.io/library/nginx@" + digestB},
		{"other.io/nginx@" + digestB, "localhost/pinned", "docker.io/library/nginx@" + digestB}, // the digest decides
		{"Not/A/Valid:Name@" + digestB, "localhost/pinned", "docker.io/library/nginx@" + digestB},
		{"quay.io/prometheus/node-exporter:v1.8.0", "localhost/any", "quay.io/*"},
		{"quay.io/x@" + strings.Replace(digestA, "a", "c", -1), "localhost/any", "quay.io/*"},
		{"not a reference", "", ""},
		{"", "", ""},
		{"quay.io/" + strings.Repeat("x", maxImageLen), "", ""},
	} {
		ref, p, pattern, ok := c.MatchImage(tc.image)
		if ok != (tc.ref != "") || ref != tc.ref || pattern != tc.pattern {
			t.Errorf("MatchImage(%.60q) = %q, %q, %v; want %q, %q", tc.image, ref, pattern, ok, tc.ref, tc.pattern)
			continue
		}
		if ok && (p == nil || p.Name != ref) {
			t.Errorf("MatchImage(%q) profile = %+v", tc.image, p)
		}
	}
}

func TestMatchImageMostSpecificPatternWins(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", profileYAML("a-broad", `images: ["*"]`))
	writeFile(t, dir, "b.yaml", profileYAML("b-library", `images: ["docker.io/library/*"]`))
	writeFile(t, dir, "c.yaml", profileYAML("c-nginx", `images: ["docker.io/library/nginx:*"]`))
	writeFile(t, dir, "d.yaml", profileYAML("d-exact", `images: ["docker.io/library/nginx:1.27*", "docker.io/library/nginx:1.27"]`))
	c, _ := open(t, dir)
	for image, want := range map[string]string{
		"busybox":          "localhost/b-library",
		"quay.io/x:1":      "localhost/a-broad",
		"nginx:1.26":       "localhost/c-nginx",
		"nginx:1.27.1":     "localhost/d-exact",
		"nginx@" + digestA: "localhost/b-library", // no tag: nginx:* does not see it
	} {
		if ref, _, _, _ := c.MatchImage(image); ref != want {
			t.Errorf("MatchImage(%q) = %q, want %q", image, ref, want)
		}
	}
	// Same specificity: the exact selector (no wildcard) wins over the
	// pattern with an empty wildcard.
	if _, _, pattern, _ := c.MatchImage("nginx:1.27"); pattern != "docker.io/library/nginx:1.27" {
		t.Errorf("nginx:1.27 matched %q", pattern)
	}
}

func TestMatchImageTieGoesToNameOrderAndWarnsOnce(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "1.yaml", profileYAML("zeta", `images: ["docker.io/library/busybox:1*"]`))
	writeFile(t, dir, "2.yaml", profileYAML("alpha", `images: ["docker.io/library/busybox:*1"]`))
	c, hook := open(t, dir)
	hook.Reset()
	for range 3 {
		if ref, _, _, _ := c.MatchImage("busybox:1.1"); ref != "localhost/alpha" {
			t.Errorf("tie went to %q, want localhost/alpha", ref)
		}
	}
	var warnings []string
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			warnings = append(warnings, e.Message)
		}
	}
	want := `image selectors "docker.io/library/busybox:*1" of localhost/alpha and "docker.io/library/busybox:1*" of localhost/zeta match equally well; localhost/alpha wins by name order (make one selector more specific)`
	if !slices.Equal(warnings, []string{want}) {
		t.Errorf("warnings = %q\nwant once: %q", warnings, want)
	}
}

func TestConcurrentLookupsDuringReload(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", profileYAML("web", `images: ["nginx:*"]`))
	c, _ := open(t, dir)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if p, err := c.Lookup("localhost/web"); err != nil || p.Name != "localhost/web" {
					t.Errorf("Lookup during reload = %+v, %v", p, err)
					return
				}
				c.MatchImage("nginx:1")
			}
		})
	}
	for i := range 50 {
		mode := []string{"mode: audit", "mode: enforce"}[i%2]
		writeFile(t, dir, "web.yaml", profileYAML("web", `images: ["nginx:*"]`, mode))
		reload(t, c)
	}
	close(stop)
	wg.Wait()
}

func TestWatchFiresOnChangeAfterFileWrite(t *testing.T) {
	dir := t.TempDir()
	c, _ := open(t, dir)
	changes := watch(t, c)

	writeFile(t, dir, "web.yaml", profileYAML("web"))
	expectChange(t, changes, "localhost/web")
	if _, err := c.Lookup("localhost/web"); err != nil {
		t.Error(err)
	}

	writeFile(t, dir, "web.yaml", profileYAML("web", "mode: audit"))
	expectChange(t, changes, "localhost/web")

	// Write to a temporary file and rename it into place, as editors and
	// config management do.
	tmp := writeFile(t, dir, ".web.yaml.tmp", profileYAML("web"))
	if err := os.Rename(tmp, filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	expectChange(t, changes, "localhost/web")

	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	expectChange(t, changes, "localhost/web")
	if _, err := c.Lookup("localhost/web"); err == nil {
		t.Error("removed profile still there")
	}
}

// TestWatchSeesConfigMapUpdate: a Kubernetes ConfigMap volume holds
// symlinks name → ..data/name, and an update swaps the ..data symlink to a
// new hidden directory; no event names a *.yaml file.
func TestWatchSeesConfigMapUpdate(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "..2025_01_01")
	if err := os.Mkdir(v1, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, v1, "web.yaml", profileYAML("web"))
	mustSymlink(t, "..2025_01_01", filepath.Join(dir, "..data"))
	mustSymlink(t, "..data/web.yaml", filepath.Join(dir, "web.yaml"))
	c, _ := open(t, dir)
	if _, err := c.Lookup("localhost/web"); err != nil {
		t.Fatal(err)
	}
	changes := watch(t, c)

	v2 := filepath.Join(dir, "..2025_01_02")
	if err := os.Mkdir(v2, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, v2, "web.yaml", profileYAML("web", "mode: audit"))
	mustSymlink(t, "..2025_01_02", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	expectChange(t, changes, "localhost/web")
	if p, _ := c.Lookup("localhost/web"); p.Mode != profiles.ModeAudit {
		t.Error("the new version is not in force")
	}
}

// TestWatchSeesConfigMapKeysAddedAndRemoved follows the kubelet's whole
// update of a ConfigMap volume (AtomicWriter) when a key is added and one
// removed: the new ..TIMESTAMP directory, the ..data swap by renaming a
// temporary symlink over it, the new key's symlink, the removed key's
// symlink and the old directory going away. For a moment the removed key's
// symlink dangles.
func TestWatchSeesConfigMapKeysAddedAndRemoved(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "..2025_01_01_00_00_00.1")
	if err := os.Mkdir(v1, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, v1, "web.yaml", profileYAML("web"))
	mustSymlink(t, filepath.Base(v1), filepath.Join(dir, "..data"))
	mustSymlink(t, "..data/web.yaml", filepath.Join(dir, "web.yaml"))
	c, _ := open(t, dir)
	changes := watch(t, c)

	v2 := filepath.Join(dir, "..2025_01_01_00_01_00.2")
	if err := os.Mkdir(v2, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, v2, "api.yaml", profileYAML("api"))
	mustSymlink(t, filepath.Base(v2), filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, "..data/api.yaml", filepath.Join(dir, "api.yaml"))
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(v1); err != nil {
		t.Fatal(err)
	}

	// One rescan or several, depending on timing: wait for the end state.
	deadline := time.After(5 * time.Second)
	for {
		_, errAPI := c.Lookup("localhost/api")
		_, errWeb := c.Lookup("localhost/web")
		if errAPI == nil && errWeb != nil {
			return
		}
		select {
		case <-changes:
		case <-deadline:
			t.Fatalf("after the update: localhost/api: %v; localhost/web still there: %v", errAPI, errWeb == nil)
		}
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestWatchPicksUpDirCreatedLater(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profiles.d")
	c, _ := open(t, dir)
	changes := watch(t, c)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The directory's watch is added when its creation is seen; a file
	// written before that is found by the rescan that follows.
	writeFile(t, dir, "web.yaml", profileYAML("web"))
	expectChange(t, changes, "localhost/web")
	writeFile(t, dir, "api.yaml", profileYAML("api"))
	expectChange(t, changes, "localhost/api")
}

func TestWatchReturnsWhenContextEnds(t *testing.T) {
	c, _ := open(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Watch(ctx, nil) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return")
	}
}

// watch runs c.Watch until the test ends and returns its onChange calls.
func watch(t *testing.T, c *Catalog) <-chan []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan []string, 16)
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, func(refs []string) { changes <- refs }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	return changes
}

func expectChange(t *testing.T, changes <-chan []string, want ...string) {
	t.Helper()
	select {
	case got := <-changes:
		if !slices.Equal(got, want) {
			t.Errorf("onChange(%q), want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no onChange(%q) within 5s", want)
	}
}

func logged(hook *test.Hook, level logrus.Level, msg, errText string) bool {
	for _, e := range hook.AllEntries() {
		if e.Level != level || e.Message != msg {
			continue
		}
		if err, ok := e.Data[logrus.ErrorKey].(error); ok && strings.Contains(err.Error(), errText) {
			return true
		}
	}
	return false
}

func messages(hook *test.Hook) []string {
	var s []string
	for _, e := range hook.AllEntries() {
		line, _ := e.String()
		s = append(s, line)
	}
	return s
}
