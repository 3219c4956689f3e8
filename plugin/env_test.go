package plugin_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	profDir string // the node's profile directory (holds web.yaml)
	logs    *logtest.Hook // every plugin's log entries, in order
}

// logText is what the plugin logged, as its log shows it, for tests that
// assert on it.
func (e *env) logText() string {
	var b strings.Builder
	for _, entry := range e.logs.AllEntries() {
		line, err := entry.String()
		if err != nil {
			e.t.Fatalf("format a log entry: %v", err)
		}
		b.WriteString(line)
	}
	return b.String()
}

func newEnv(t testing.TB, cfg plugin.Config, fake *fakeEnforcer) *env {
	t.Helper()
	e := &env{t: t, fake: fake, run: nrisim.Start(t), cg: cgroup.Mount{Dir: filepath.Join(t.TempDir(), "cgroup"), Root: "/"}}
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
	if e.logs == nil {
		e.logs = new(logtest.Hook)
	}
	log.AddHook(e.logs)
	log.Out = newTestWriter(e.t)
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

// testWriter sends the plugin's log to the test's until the test ends: the
// plugin's goroutines may still log (a connection closing) after that, which
// testing turns into a panic.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func newTestWriter(t testing.TB) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(b))
	}
	return len(b), nil
}
