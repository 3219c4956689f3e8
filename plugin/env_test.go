package plugin_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/krsi-dev/krsi/catalog"
	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/plugin"
	"github.com/krsi-dev/krsi/test/nrisim"
)

// env is one test's runtime (nrisim: NRI's own runtime half, over a real
// socket), fake cgroup tree and plugin.
type env struct {
	t       testing.TB
	fake    *fakeEnforcer
	cg      cgroup.Mount
	run     *nrisim.Runtime
	stop    func() // the plugin's
	plugin  *plugin.Plugin
	catalog *catalog.Catalog
	profDir string        // the node's profile directory (holds web.yaml)
	logs    *logtest.Hook // every plugin's log entries, in order
}

// logText is what the plugin logged, as its log shows it, for tests that
// assert on it.
func (e *env) logText() string {
	var text []byte
	for _, entry := range e.logs.AllEntries() {
		line, err := entry.Bytes()
		if err != nil {
			e.t.Fatalf("format a log entry: %v", err)
		}
		text = append(text, line...)
	}
	return string(text)
}

func newEnv(t testing.TB, cfg plugin.Config, fake *fakeEnforcer, opts ...nrisim.Option) *env {
	t.Helper()
	e := &env{t: t, fake: fake, run: nrisim.Start(t, opts...), cg: cgroup.Mount{Dir: filepath.Join(t.TempDir(), "cgroup"), Root: "/"},
		logs: new(logtest.Hook)}
	t.Cleanup(func() { // after the plugin has stopped
		if t.Failed() {
			t.Logf("the plugin's log:\n%s", e.logText())
		}
	})
	if fake != nil { // nil: a runtime with no plugin, the baseline of benchmarks
		e.startPlugin(cfg)
	}
	return e
}

func (e *env) startPlugin(cfg plugin.Config) {
	e.t.Helper()
	cfg.SocketPath = e.run.Sock
	if e.profDir == "" {
		e.profDir = e.t.TempDir()
		if err := os.WriteFile(filepath.Join(e.profDir, "web.yaml"), []byte(nodeProfile), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	log := logrus.New()
	log.AddHook(e.logs)
	// Not to the test's log: the plugin's goroutines may still log (a
	// connection closing) after the test ends, which testing turns into a
	// panic. newEnv shows the log if the test fails.
	log.Out = io.Discard
	cat, err := catalog.Open([]string{e.profDir}, log)
	if err != nil {
		e.t.Fatal(err)
	}
	p := plugin.New(cfg, e.fake, cat, e.cg, log)
	if err := p.ArmFallback(); err != nil {
		e.t.Fatal(err)
	}
	e.plugin, e.catalog = p, cat
	e.stop = e.run.Connect(e.t, p, 10*time.Second)
}

func (e *env) stopPlugin() {
	if e.stop != nil {
		e.stop()
		e.stop = nil
	}
}
