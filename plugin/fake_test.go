package plugin_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/catalog"
	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/plugin"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/nrisim"
)

// fakeEnforcer keeps the maps in memory and, like the kernel's cgroup_mkdir
// program, binds a staged path when the test's "runtime" creates its cgroup.
// The real thing is exercised in the VM suite (test/kernel).
type fakeEnforcer struct {
	mu       sync.Mutex
	names    map[string]enforcement.ProfileID
	profiles map[enforcement.ProfileID]*profiles.Compiled
	staged   map[string]enforcement.Binding
	bindings map[uint64]enforcement.Binding
	sets     int // SetProfile calls
	// Fail closed: marked parent paths and the fallback binding; fallback
	// records by cgroup id.
	parents   map[string]enforcement.ParentKind
	fbBinding enforcement.Binding
	fallbacks map[uint64]enforcement.FallbackRecord
}

func newFake() *fakeEnforcer {
	return &fakeEnforcer{
		names:     map[string]enforcement.ProfileID{},
		profiles:  map[enforcement.ProfileID]*profiles.Compiled{},
		staged:    map[string]enforcement.Binding{},
		bindings:  map[uint64]enforcement.Binding{},
		parents:   map[string]enforcement.ParentKind{},
		fallbacks: map[uint64]enforcement.FallbackRecord{},
	}
}

func (f *fakeEnforcer) SetFallback(parents []enforcement.Parent, id enforcement.ProfileID, mode profiles.Mode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.profiles[id] == nil {
		return fmt.Errorf("profile %d is not loaded", id)
	}
	f.parents = map[string]enforcement.ParentKind{}
	for _, p := range parents {
		f.parents[p.Path] = p.Kind
	}
	f.fbBinding = enforcement.Binding{Profile: id, Mode: mode, Fallback: true}
	return nil
}

func (f *fakeEnforcer) ClearFallback() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.parents = map[string]enforcement.ParentKind{}
	return nil
}

func (f *fakeEnforcer) StageUnconfined(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.staged[path] = enforcement.Binding{Unconfined: true}
	return nil
}

func (f *fakeEnforcer) Fallbacks() (map[uint64]enforcement.FallbackRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[uint64]enforcement.FallbackRecord{}
	for k, v := range f.fallbacks {
		out[k] = v
	}
	return out, nil
}

// fallbackFor is what the kernel's bind_fallback decides for a new cgroup
// (bpf/krsi.c), on paths: the binding, or false. Call with f.mu held.
func (f *fakeEnforcer) fallbackFor(path string) bool {
	parent := filepath.Dir(path)
	if k, ok := f.parents[parent]; ok {
		return k == enforcement.ParentOfContainers
	}
	name := filepath.Base(parent)
	pod := strings.HasPrefix(name, "pod") || strings.HasPrefix(name, "kubepods-") && strings.Contains(name, "pod")
	return f.parents[filepath.Dir(parent)] == enforcement.ParentOfPods && pod &&
		!strings.HasPrefix(filepath.Base(path), "crio-conmon-")
}

func (f *fakeEnforcer) SetProfile(c *profiles.Compiled) (enforcement.ProfileID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets++
	id, ok := f.names[c.Name]
	if !ok {
		id = enforcement.ProfileID(f.sets) // never reused, as in the kernel maps
		f.names[c.Name] = id
	}
	f.profiles[id] = c
	return id, nil
}

func (f *fakeEnforcer) StageContainer(path string, id enforcement.ProfileID, mode profiles.Mode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.profiles[id] == nil {
		return fmt.Errorf("profile %d is not loaded", id)
	}
	f.staged[path] = enforcement.Binding{Profile: id, Mode: mode, ExecPending: true}
	return nil
}

func (f *fakeEnforcer) Arm(id uint64) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bindings[id]
	if !ok || !b.ExecPending {
		return false, nil
	}
	b.ExecPending = false
	f.bindings[id] = b
	return true, nil
}

func (f *fakeEnforcer) Unstage(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.staged, path)
	return nil
}

func (f *fakeEnforcer) Bind(id uint64, p enforcement.ProfileID, mode profiles.Mode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bindings[id] = enforcement.Binding{Profile: p, Mode: mode}
	delete(f.fallbacks, id)
	return nil
}

func (f *fakeEnforcer) Unbind(id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.bindings, id)
	delete(f.fallbacks, id)
	return nil
}

func (f *fakeEnforcer) Lookup(id uint64) (enforcement.Binding, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bindings[id]
	return b, ok, nil
}

func (f *fakeEnforcer) Bindings() (map[uint64]enforcement.Binding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[uint64]enforcement.Binding{}
	for k, v := range f.bindings {
		out[k] = v
	}
	return out, nil
}

func (f *fakeEnforcer) Staged() (map[string]enforcement.Binding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]enforcement.Binding{}
	for k, v := range f.staged {
		out[k] = v
	}
	return out, nil
}

func (f *fakeEnforcer) binding(id uint64) enforcement.Binding {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bindings[id]
}

func (f *fakeEnforcer) RemoveUnusedProfiles(keep []enforcement.ProfileID) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	used := map[enforcement.ProfileID]bool{}
	for _, id := range keep {
		used[id] = true
	}
	for _, b := range f.bindings {
		used[b.Profile] = true
	}
	for _, b := range f.staged {
		used[b.Profile] = true
	}
	var removed []string
	for id, c := range f.profiles {
		if !used[id] {
			removed = append(removed, c.Name)
			delete(f.profiles, id)
			delete(f.names, c.Name)
		}
	}
	return removed, nil
}

// profileOf says which profile name a cgroup id is bound to, "" if none.
func (f *fakeEnforcer) profileOf(id uint64) (string, profiles.Mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bindings[id]
	if !ok {
		return "", ""
	}
	return f.profiles[b.Profile].Name, b.Mode
}

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
	logs    *logBuffer
}

// logBuffer keeps what the plugin logged, for tests that assert on it.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
		e.logs = &logBuffer{}
	}
	log.Out = io.MultiWriter(newTestWriter(e.t), e.logs)
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

// mkCgroup is the runtime creating a container's cgroup: the fake kernel
// binds it if its path was staged.
func (e *env) mkCgroup(path string) uint64 {
	e.t.Helper()
	dir := filepath.Join(e.cg.Dir, path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	id, err := cgroup.ID(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.fake == nil {
		return id // no plugin, no kernel side
	}
	e.fake.mu.Lock()
	defer e.fake.mu.Unlock()
	if b, ok := e.fake.staged[path]; ok {
		if !b.Unconfined {
			e.fake.bindings[id] = b
		}
	} else if e.fake.fallbackFor(path) {
		e.fake.bindings[id] = e.fake.fbBinding
		e.fake.fallbacks[id] = enforcement.FallbackRecord{Since: time.Now().Add(-90 * time.Second)}
	}
	return id
}
