package selector

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krsi-dev/krsi/catalog"
	"github.com/krsi-dev/krsi/profiles"
)

// testCatalog is a real catalog with three node profiles:
// localhost/web (enforce, selects nginx images), localhost/audited (audit)
// and localhost/cache (selects redis images).
func testCatalog(tb testing.TB) *catalog.Catalog {
	tb.Helper()
	dir := tb.TempDir()
	for name, extra := range map[string]string{
		"web":     `images: ["docker.io/library/nginx:*"]`,
		"audited": "mode: audit",
		"cache":   `images: ["*/redis:*"]`,
	} {
		body := "apiVersion: krsi.dev/v1\nkind: Profile\nname: " + name + "\nmemory: {wx: deny}\n" + extra + "\n"
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	c, err := catalog.Open([]string{dir}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if p := c.Problems(); len(p) > 0 {
		tb.Fatalf("test profiles: %v", p)
	}
	return c
}

func container(image string, podAnn map[string]string) Container {
	return Container{Name: "app", Namespace: "shop", Pod: "front-0", Image: image, PodAnnotations: podAnn}
}

// crio returns c as CRI-O shows it: the pod's annotations copied into the
// container's.
func crio(c Container) Container {
	own := map[string]string{"io.kubernetes.cri-o.ContainerType": "container"}
	for k, v := range c.PodAnnotations {
		own[k] = v
	}
	for k, v := range c.Annotations {
		own[k] = v
	}
	c.Annotations = own
	return c
}

func TestSelectPrecedence(t *testing.T) {
	cat := testCatalog(t)
	cfg := Config{DefaultProfile: "builtin/wx", AllowUnconfined: true}
	for _, tc := range []struct {
		name      string
		image     string
		ann       map[string]string
		ref, why  string
		mode      profiles.Mode
		noProfile bool
	}{
		{
			name:  "container annotation beats everything",
			image: "nginx:1.27",
			ann: map[string]string{
				"profile.krsi.dev/container.app": "builtin/no-shell",
				"profile.krsi.dev/pod":           "builtin/readonly-root",
				"profile.krsi.dev":               "builtin/nginx",
			},
			ref: "builtin/no-shell", why: "annotation profile.krsi.dev/container.app", mode: profiles.ModeEnforce,
		},
		{
			name:  "annotation for another container is ignored",
			image: "nginx:1.27",
			ann: map[string]string{
				"profile.krsi.dev/container.sidecar": "builtin/no-shell",
				"profile.krsi.dev/pod":               "builtin/readonly-root",
			},
			ref: "builtin/readonly-root", why: "annotation profile.krsi.dev/pod", mode: profiles.ModeEnforce,
		},
		{
			name: "pod annotation beats profile.krsi.dev",
			ann: map[string]string{
				"profile.krsi.dev/pod": "localhost/audited",
				"profile.krsi.dev":     "builtin/nginx",
			},
			ref: "localhost/audited", why: "annotation profile.krsi.dev/pod", mode: profiles.ModeAudit,
		},
		{
			name:  "profile.krsi.dev beats the image",
			image: "nginx:1.27",
			ann:   map[string]string{"profile.krsi.dev": "builtin/nginx"},
			ref:   "builtin/nginx", why: "annotation profile.krsi.dev", mode: profiles.ModeEnforce,
		},
		{
			name:  "image beats the node default",
			image: "nginx:1.27",
			ref:   "localhost/web", why: "image nginx:1.27 matches localhost/web (pattern docker.io/library/nginx:*)", mode: profiles.ModeEnforce,
		},
		{
			name:  "image pattern with a registry port",
			image: "registry:5000/team/redis:7",
			ref:   "localhost/cache", why: "image registry:5000/team/redis:7 matches localhost/cache (pattern */redis:*)", mode: profiles.ModeEnforce,
		},
		{
			name:  "node default",
			image: "busybox:1.36",
			ref:   "builtin/wx", why: "node default", mode: profiles.ModeEnforce,
		},
		{
			name: "node default without an image",
			ref:  "builtin/wx", why: "node default", mode: profiles.ModeEnforce,
		},
		{
			name:  "unconfined by annotation where allowed",
			image: "nginx:1.27",
			ann:   map[string]string{"profile.krsi.dev/pod": "unconfined"},
			ref:   "unconfined", why: "annotation profile.krsi.dev/pod", noProfile: true,
		},
		{
			name: "unrelated annotations are ignored",
			ann:  map[string]string{"io.kubernetes.cri.sandbox-id": "x", "krsi.dev/whatever": "y", "profile.krsi.devx": "z"},
			ref:  "builtin/wx", why: "node default", mode: profiles.ModeEnforce,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := container(tc.image, tc.ann)
			for style, c := range map[string]Container{"containerd": c, "cri-o": crio(c)} {
				d, err := Select(cfg, cat, c)
				if err != nil {
					t.Fatalf("%s: %v", style, err)
				}
				if d.Ref != tc.ref || d.Why != tc.why || d.Mode != tc.mode || (d.Profile == nil) != tc.noProfile {
					t.Errorf("%s: Select = {%q %v %q %q}\nwant {%q profile:%v %q %q}", style, d.Ref, d.Profile != nil, d.Mode, d.Why, tc.ref, !tc.noProfile, tc.mode, tc.why)
				}
				if d.Profile != nil && d.Profile.Name != d.Ref {
					t.Errorf("%s: Profile.Name = %q, Ref %q", style, d.Profile.Name, d.Ref)
				}
			}
		})
	}
}

func TestSelectWithoutDefaultIsUnconfined(t *testing.T) {
	d, err := Select(Config{}, testCatalog(t), container("busybox", nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Decision{Ref: "unconfined", Why: "no annotation or image selector chose a profile, and the node has no default profile"}
	if d != want {
		t.Errorf("Select = %+v, want %+v", d, want)
	}
}

func TestContainerOwnAnnotationWinsOverPodAnnotation(t *testing.T) {
	c := container("", map[string]string{"profile.krsi.dev/pod": "builtin/wx"})
	c.Annotations = map[string]string{"profile.krsi.dev/pod": "builtin/no-shell"}
	d, err := Select(Config{}, testCatalog(t), c)
	if err != nil || d.Ref != "builtin/no-shell" {
		t.Errorf("Select = %+v, %v; want builtin/no-shell", d, err)
	}
}

func TestSelectExemptions(t *testing.T) {
	cat := testCatalog(t)
	cfg := Config{DefaultProfile: "builtin/wx", ExemptNamespaces: []string{"kube-system"}, ExemptPods: []string{"shop/debug"}}
	// Exemptions apply before annotations are read: even bad ones.
	bad := map[string]string{"profile.krsi.dev/pod": "builtin/nope", "profile.krsi.dev/oops": ""}
	for _, tc := range []struct {
		ns, pod, why string
	}{
		{"kube-system", "coredns-1", "namespace kube-system is exempt"},
		{"shop", "debug", "pod shop/debug is exempt"},
	} {
		c := Container{Name: "app", Namespace: tc.ns, Pod: tc.pod, Image: "nginx", PodAnnotations: bad}
		d, err := Select(cfg, cat, c)
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.ns, tc.pod, err)
		}
		if want := (Decision{Why: tc.why}); d != want || !d.Exempt() {
			t.Errorf("%s/%s: Select = %+v, want %+v", tc.ns, tc.pod, d, want)
		}
	}
	// A pod of the same name in another namespace is not exempt.
	c := Container{Name: "app", Namespace: "other", Pod: "debug"}
	if d, err := Select(cfg, cat, c); err != nil || d.Ref != "builtin/wx" {
		t.Errorf("other/debug: Select = %+v, %v", d, err)
	}
}

func TestSelectModeOverrides(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		name  string
		relax bool
		ann   map[string]string
		mode  profiles.Mode
		why   string
		err   string
	}{
		{
			name: "audit to enforce is always allowed",
			ann:  map[string]string{"profile.krsi.dev/pod": "localhost/audited", "mode.krsi.dev/container.app": "enforce"},
			mode: profiles.ModeEnforce,
			why:  "annotation profile.krsi.dev/pod; mode enforce from annotation mode.krsi.dev/container.app",
		},
		{
			name:  "enforce to audit where the node allows it",
			relax: true,
			ann:   map[string]string{"profile.krsi.dev/pod": "builtin/wx", "mode.krsi.dev/container.app": "audit"},
			mode:  profiles.ModeAudit,
			why:   "annotation profile.krsi.dev/pod; mode audit from annotation mode.krsi.dev/container.app",
		},
		{
			name: "enforce to audit where the node forbids it",
			ann:  map[string]string{"profile.krsi.dev/pod": "builtin/wx", "mode.krsi.dev/container.app": "audit"},
			err:  `annotation mode.krsi.dev/container.app: value "audit": profile builtin/wx is in enforce mode and namespace shop may not relax it to audit (rule allowModeRelax: false); remove the annotation, or have the node admin set allowModeRelax: true in the krsi config`,
		},
		{
			name: "the same mode is no change",
			ann:  map[string]string{"profile.krsi.dev/pod": "builtin/wx", "mode.krsi.dev/container.app": "enforce"},
			mode: profiles.ModeEnforce,
			why:  "annotation profile.krsi.dev/pod",
		},
		{
			name: "audit on an audit profile needs no permission",
			ann:  map[string]string{"profile.krsi.dev/pod": "localhost/audited", "mode.krsi.dev/container.app": "audit"},
			mode: profiles.ModeAudit,
			why:  "annotation profile.krsi.dev/pod",
		},
		{
			name: "mode of the node default",
			ann:  map[string]string{"mode.krsi.dev/container.app": "enforce"},
			mode: profiles.ModeEnforce,
			why:  "node default",
		},
		{
			name: "another container's mode is ignored",
			ann:  map[string]string{"profile.krsi.dev/pod": "builtin/wx", "mode.krsi.dev/container.sidecar": "bogus"},
			mode: profiles.ModeEnforce,
			why:  "annotation profile.krsi.dev/pod",
		},
		{
			name:  "mode of an unconfined container",
			relax: true,
			ann:   map[string]string{"profile.krsi.dev/pod": "unconfined", "mode.krsi.dev/container.app": "audit"},
			err:   `annotation mode.krsi.dev/container.app: value "audit": the container has no profile to set the mode of (unconfined: annotation profile.krsi.dev/pod); remove the annotation or select a profile`,
		},
		{
			name: "unknown mode",
			ann:  map[string]string{"mode.krsi.dev/container.app": "Audit"},
			err:  `annotation mode.krsi.dev/container.app: value "Audit" is neither audit nor enforce`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{DefaultProfile: "builtin/wx", AllowUnconfined: true, AllowModeRelax: tc.relax}
			d, err := Select(cfg, cat, container("", tc.ann))
			if tc.err != "" {
				assertError(t, d, err, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Mode != tc.mode || d.Why != tc.why {
				t.Errorf("Select = %q %q, want %q %q", d.Mode, d.Why, tc.mode, tc.why)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	cat := testCatalog(t)
	dir := catDir(cat)
	known := "this node has builtin/nginx, builtin/no-shell, builtin/readonly-root, builtin/wx, localhost/audited, localhost/cache, localhost/web"
	forms := "profile.krsi.dev, profile.krsi.dev/pod, profile.krsi.dev/container.<container-name> or mode.krsi.dev/container.<container-name>"
	for _, tc := range []struct {
		name string
		ann  map[string]string
		cfg  *Config
		err  string
	}{
		{
			name: "unknown builtin",
			ann:  map[string]string{"profile.krsi.dev/container.app": "builtin/strict"},
			err:  `annotation profile.krsi.dev/container.app: value "builtin/strict": unknown profile "builtin/strict"; ` + known,
		},
		{
			name: "unknown node profile",
			ann:  map[string]string{"profile.krsi.dev/pod": "localhost/api"},
			err:  `annotation profile.krsi.dev/pod: value "localhost/api": unknown profile "localhost/api": no file in ` + dir + ` defines name: api; ` + known,
		},
		{
			name: "bare name, with a hint",
			ann:  map[string]string{"profile.krsi.dev": "wx"},
			err:  `annotation profile.krsi.dev: value "wx" is not builtin/NAME, localhost/NAME or unconfined; did you mean builtin/wx?`,
		},
		{
			name: "bare node profile name, with a hint",
			ann:  map[string]string{"profile.krsi.dev": "web"},
			err:  `annotation profile.krsi.dev: value "web" is not builtin/NAME, localhost/NAME or unconfined; did you mean localhost/web?`,
		},
		{
			name: "unknown form",
			ann:  map[string]string{"profile.krsi.dev": "runtime/default"},
			err:  `annotation profile.krsi.dev: value "runtime/default" is not builtin/NAME, localhost/NAME or unconfined`,
		},
		{
			name: "a lower-precedence annotation is checked too",
			ann:  map[string]string{"profile.krsi.dev/container.app": "builtin/wx", "profile.krsi.dev": "builtin/nope"},
			err:  `annotation profile.krsi.dev: value "builtin/nope": unknown profile "builtin/nope"; ` + known,
		},
		{
			name: "empty value",
			ann:  map[string]string{"profile.krsi.dev/pod": ""},
			err:  `annotation profile.krsi.dev/pod: empty value; want builtin/NAME, localhost/NAME or unconfined, or remove the annotation`,
		},
		{
			name: "white space",
			ann:  map[string]string{"profile.krsi.dev/pod": "builtin/wx "},
			err:  `annotation profile.krsi.dev/pod: value "builtin/wx " contains white space; want builtin/NAME, localhost/NAME or unconfined, written without spaces`,
		},
		{
			name: "too long",
			ann:  map[string]string{"profile.krsi.dev/pod": "builtin/" + strings.Repeat("x", 300)},
			err:  `annotation profile.krsi.dev/pod: value is 308 bytes long, at most 256; want builtin/NAME, localhost/NAME or unconfined`,
		},
		{
			name: "unconfined where the node forbids it",
			ann:  map[string]string{"profile.krsi.dev/container.app": "unconfined"},
			cfg:  &Config{DefaultProfile: "builtin/wx"},
			err:  `annotation profile.krsi.dev/container.app: value "unconfined": namespace shop may not opt out of krsi (rule allowUnconfined: false); remove the annotation or name a profile (builtin/NAME, localhost/NAME), or have the node admin set allowUnconfined: true in the krsi config`,
		},
		{
			name: "unknown key form",
			ann:  map[string]string{"profile.krsi.dev/containers.app": "builtin/wx"},
			err:  `annotation profile.krsi.dev/containers.app: not a krsi annotation: want ` + forms,
		},
		{
			name: "unknown key form for another container",
			ann:  map[string]string{"profile.krsi.dev/sidecar": "builtin/wx"},
			err:  `annotation profile.krsi.dev/sidecar: not a krsi annotation: want ` + forms,
		},
		{
			name: "invalid container name in a key",
			ann:  map[string]string{"profile.krsi.dev/container.App_1": "builtin/wx"},
			err:  `annotation profile.krsi.dev/container.App_1: "App_1" is not a container name (at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)`,
		},
		{
			name: "pod-wide mode",
			ann:  map[string]string{"mode.krsi.dev/pod": "audit"},
			err:  `annotation mode.krsi.dev/pod: the mode is set per container: use mode.krsi.dev/container.<container-name>`,
		},
		{
			name: "bare mode key",
			ann:  map[string]string{"mode.krsi.dev": "audit"},
			err:  `annotation mode.krsi.dev: the mode is set per container: use mode.krsi.dev/container.<container-name>`,
		},
		{
			name: "several bad keys: the first in key order",
			ann:  map[string]string{"profile.krsi.dev/zz": "x", "mode.krsi.dev/x": "y", "profile.krsi.dev/aa": "z"},
			err:  `annotation mode.krsi.dev/x: not a krsi annotation: want ` + forms,
		},
		{
			name: "unknown node default",
			cfg:  &Config{DefaultProfile: "localhost/gone"},
			err:  `node default profile: unknown profile "localhost/gone": no file in ` + dir + ` defines name: gone; ` + known,
		},
		{
			name: "unconfined default where the node forbids it",
			cfg:  &Config{DefaultProfile: "unconfined"},
			err:  `node default profile is "unconfined", but the node config does not allow unconfined containers (AllowUnconfined); set a default profile or allow unconfined`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{DefaultProfile: "builtin/wx", AllowUnconfined: true}
			if tc.cfg != nil {
				cfg = *tc.cfg
			}
			c := container("busybox", tc.ann)
			for style, c := range map[string]Container{"containerd": c, "cri-o": crio(c)} {
				d, err := Select(cfg, cat, c)
				assertError(t, d, err, tc.err)
				var ae *AnnotationError
				if isAnn := errors.As(err, &ae); isAnn != strings.HasPrefix(tc.err, "annotation ") {
					t.Errorf("%s: error type %T", style, err)
				}
			}
		})
	}
}

func TestHugeAnnotationIsRejectedFast(t *testing.T) {
	cat := testCatalog(t)
	huge := strings.Repeat("x", 10<<20)
	for _, ann := range []map[string]string{
		{"profile.krsi.dev/container.app": huge},
		{"mode.krsi.dev/container.app": huge},
		{"profile.krsi.dev/container." + huge: "builtin/wx"},
		{"profile.krsi.dev/" + huge: "builtin/wx"},
	} {
		start := time.Now()
		d, err := Select(Config{DefaultProfile: "builtin/wx"}, cat, container("", ann))
		if err == nil {
			t.Errorf("Select accepted a 10 MB annotation: %+v", d)
		}
		if len(err.Error()) > 512 {
			t.Errorf("error is %d bytes long", len(err.Error()))
		}
		if elapsed := time.Since(start); elapsed > 50*time.Millisecond {
			t.Errorf("rejecting took %v", elapsed)
		}
	}
	// A huge value for another container is not even read.
	if _, err := Select(Config{DefaultProfile: "builtin/wx"}, cat, container("", map[string]string{"profile.krsi.dev/container.other": huge})); err != nil {
		t.Error(err)
	}
}

func TestConfigValidate(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		cfg Config
		err string
	}{
		{Config{}, ""},
		{Config{DefaultProfile: "builtin/wx", ExemptNamespaces: []string{"kube-system"}, ExemptPods: []string{"shop/debug-0"}}, ""},
		{Config{DefaultProfile: "unconfined", AllowUnconfined: true}, ""},
		{Config{DefaultProfile: "unconfined"}, `default profile "unconfined" needs AllowUnconfined`},
		{Config{DefaultProfile: "wx"}, `default profile: profile reference "wx" is neither builtin/NAME nor localhost/NAME; this node has builtin/nginx, builtin/no-shell, builtin/readonly-root, builtin/wx, localhost/audited, localhost/cache, localhost/web`},
		{Config{ExemptNamespaces: []string{"Kube-System"}}, `exempt namespace "Kube-System" is not a namespace name (a DNS label: lower-case letters, digits and '-', at most 63)`},
		{Config{ExemptPods: []string{"debug"}}, `exempt pod "debug": want namespace/name`},
	} {
		err := tc.cfg.Validate(cat)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("Validate(%+v) = %q\nwant %q", tc.cfg, got, tc.err)
		}
	}
}

func assertError(t *testing.T, d Decision, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Select = %+v, nil; want error %s", d, want)
	}
	if err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
	if d != (Decision{}) {
		t.Errorf("an error came with a decision: %+v", d)
	}
}

func catDir(c *catalog.Catalog) string { return c.Dirs()[0] }
