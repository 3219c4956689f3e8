package plugin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	nri "github.com/containerd/nri/pkg/adaptation"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/plugin"
	"github.com/krsi-dev/krsi/profiles"
)

// recordEnv is a plugin whose node config allows recording in namespace
// "default" (and changes it with edit), with its record directory.
func recordEnv(t testing.TB, edit func(*plugin.Config)) (*env, plugin.Config) {
	t.Helper()
	cfg := plugin.DefaultConfig()
	cfg.RecordDir = t.TempDir()
	cfg.Recording.Namespaces = []string{"default"}
	if edit != nil {
		edit(&cfg)
	}
	return newEnv(t, cfg, newFake()), cfg
}

func TestRecordAnnotationRefusedUnlessTheNodeAllowsIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*plugin.Config)
		err  string
	}{
		{name: "off by default", edit: func(c *plugin.Config) { c.Recording.Namespaces = nil },
			err: `krsi: container app of pod default/pod-a: annotation record.krsi.dev/container.app: value "myapp": namespace default may not record (rule recording.namespaces: []): a recorded container runs under a profile that denies nothing; remove the annotation, or have the node admin add default to recording.namespaces in the krsi config`},
		{name: "another namespace allowed", edit: func(c *plugin.Config) { c.Recording.Namespaces = []string{"dev"} },
			err: `namespace default may not record (rule recording.namespaces: [dev])`},
		{name: "allowed", err: ""},
		{name: "every namespace", edit: func(c *plugin.Config) { c.Recording.Namespaces = []string{"*"} }, err: ""},
		{name: "exempt: the annotation is not read", edit: func(c *plugin.Config) {
			c.Recording.Namespaces = nil
			c.ExemptPods = []string{"default/pod-a"}
		}, err: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := recordEnv(t, tc.edit)
			p := pod("a", map[string]string{"record.krsi.dev/container.app": "myapp"})
			err := e.run.Create(p, ctr(p, "c1", "app", "/k8s.io/c1", "busybox:1"))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("got %v\nwant an error with %s", err, tc.err)
			}
		})
	}
}

func TestRecordingsAreCappedPerNode(t *testing.T) {
	e, cfg := recordEnv(t, func(c *plugin.Config) { c.Recording.MaxRecordings = 2 })
	// One recorded profile waits in the directory; the same name again
	// replaces it and does not count.
	if err := os.WriteFile(filepath.Join(cfg.RecordDir, "old.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	create := func(id, name string) error {
		p := pod(id, map[string]string{"record.krsi.dev/container.app": name})
		return e.run.Create(p, ctr(p, "c"+id, "app", "/k8s.io/c"+id, "busybox:1"))
	}
	if err := create("a", "first"); err != nil {
		t.Fatalf("the first recording (1 file + 1 in progress = 2) is refused: %v", err)
	}
	err := create("b", "second")
	want := fmt.Sprintf(`annotation record.krsi.dev/container.app: value "second": the node holds 2 recorded profiles (1 files in %s, 1 recordings in progress), its cap (rule recording.maxRecordings: 2); collect and remove the files in %[1]s, or have the node admin raise recording.maxRecordings in the krsi config`, cfg.RecordDir)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	err = create("c", "first")
	if err == nil || !strings.Contains(err.Error(), `value "first": container app of pod default/pod-a is being recorded as first already; choose another name`) {
		t.Fatalf("the same name twice: %v", err)
	}
	// Recording into old.yaml again replaces it: 1 in progress, no other file.
	if err := create("d", "old"); err != nil {
		t.Fatalf("re-recording a waiting file is refused: %v", err)
	}
}

func TestRecordingBeyondItsCapsIsNotWritten(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*plugin.Config)
		log  string
	}{
		{"too many paths", func(c *plugin.Config) { c.Recording.MaxPaths = 1 }, "rule=\"recording.maxPaths: 1\""},
		{"too large", func(c *plugin.Config) { c.Recording.MaxBytes = 100 }, "rule=\"recording.maxBytes: 100\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, cfg := recordEnv(t, tc.edit)
			p := pod("a", map[string]string{"record.krsi.dev/container.app": "myapp"})
			c := ctr(p, "c1", "app", "/k8s.io/c1", "busybox:1")
			if err := e.run.Create(p, c); err != nil {
				t.Fatal(err)
			}
			id := e.mkCgroup("/k8s.io/c1")
			if err := e.run.StartContainer(p, c); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/usr/bin/app", "/etc/app.conf"} {
				e.plugin.Observe(enforced.Event{CgroupID: id, Hook: "file_open", Reason: "default",
					Path: path, Access: profiles.AccessRead, Comm: "app"}, eventlog.Source{})
			}
			if _, err := e.run.NRI().StopContainer(context.Background(), &nri.StopContainerRequest{Pod: p, Container: c}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(cfg.RecordDir, "myapp.yaml")); !os.IsNotExist(err) {
				t.Fatalf("the recording was written (%v)", err)
			}
			if !strings.Contains(e.logText(), tc.log) {
				t.Errorf("the log does not name the rule %s:\n%s", tc.log, e.logText())
			}
		})
	}
}

// TestPolicyRefusalNamesNamespaceKeyValueAndRule: through NRI's real
// socket, a profile the namespace may not choose fails the container.
func TestPolicyRefusalNamesNamespaceKeyValueAndRule(t *testing.T) {
	cfg, err := plugin.ParseConfig("10-krsi.conf", []byte(`
policy:
  default:
    profiles: ["builtin/wx"]
  namespaces:
    default:
      profiles: ["localhost/*"]
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, cfg, newFake())
	p := pod("a", map[string]string{"profile.krsi.dev/container.app": "builtin/wx"})
	err = e.run.Create(p, ctr(p, "c1", "app", "/k8s.io/c1", "busybox:1"))
	want := `krsi: container app of pod default/pod-a: annotation profile.krsi.dev/container.app: value "builtin/wx": namespace default may not choose this profile (rule policy.namespaces.default.profiles: [localhost/*]); name a profile the rule allows, or have the node admin add it to policy.namespaces.default.profiles in the krsi config`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	p = pod("b", map[string]string{"profile.krsi.dev/container.app": "localhost/web"})
	if err := e.run.Create(p, ctr(p, "c2", "app", "/k8s.io/c2", "busybox:1")); err != nil {
		t.Fatalf("a profile the namespace may choose is refused: %v", err)
	}
}

func TestConfigPolicyAndRecording(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		check   func(plugin.Config) string
	}{
		{in: "recording:\n  namespaces: [dev]\n", check: func(c plugin.Config) string {
			if c.Recording.MaxRecordings != 16 || c.Recording.MaxPaths != 10000 || c.Recording.MaxBytes != 1<<20 {
				return fmt.Sprintf("the caps left out lost their defaults: %+v", c.Recording)
			}
			return ""
		}},
		{in: "policy:\n  namespaces:\n    shop:\n      profiles: []\n", check: func(c plugin.Config) string {
			if r := c.Policy.Namespaces["shop"]; r.Profiles == nil {
				return "profiles: [] read as not set (any profile)"
			}
			return ""
		}},
		{in: "policy:\n  namespaces:\n    shop:\n      profiles:\n", check: func(c plugin.Config) string {
			if r := c.Policy.Namespaces["shop"]; r.Profiles != nil {
				return "profiles: (null) read as an empty list"
			}
			return ""
		}},
		{in: "policy:\n  default:\n    profiles: [wx]\n", err: `10-krsi.conf: policy.default.profiles[0]: "wx": want builtin/NAME or localhost/NAME`},
		{in: "policy:\n  default:\n    profile: [builtin/wx]\n", err: "field profile not found"},
		{in: "recording:\n  maxRecordings: 0\n", err: "10-krsi.conf: recording.maxRecordings: 0, want 1 to 10000 (to turn recording off, leave recording.namespaces empty)"},
		{in: "recording:\n  namespaces: [Dev]\n", err: `10-krsi.conf: recording.namespaces[0]: "Dev" is not a namespace name`},
	} {
		cfg, err := plugin.ParseConfig("10-krsi.conf", []byte(tc.in))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseConfig(%q): %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseConfig(%q) = %v; want %s", tc.in, err, tc.err)
		case tc.check != nil:
			if msg := tc.check(cfg); msg != "" {
				t.Errorf("ParseConfig(%q): %s", tc.in, msg)
			}
		}
	}
}
