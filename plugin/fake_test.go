package plugin_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/fallbackrule"
)

// fakeEnforcer keeps the maps in memory and, like the kernel's cgroup_mkdir
// program, binds a staged path when the test's "runtime" creates its cgroup.
// The real thing is exercised in the VM suite (test/kernel).
type fakeEnforcer struct {
	mu       sync.Mutex
	names    map[string]enforced.ProfileID
	profiles map[enforced.ProfileID]*profiles.Compiled
	staged   map[string]enforced.Binding
	bindings map[uint64]enforced.Binding
	sets     int // SetProfile calls
	// Fail closed: marked parent paths and the fallback binding; fallback
	// records by cgroup id.
	parents   map[string]enforced.ParentKind
	fbBinding enforced.Binding
	fallbacks map[uint64]enforced.FallbackRecord
}

func newFake() *fakeEnforcer {
	return &fakeEnforcer{
		names:     map[string]enforced.ProfileID{},
		profiles:  map[enforced.ProfileID]*profiles.Compiled{},
		staged:    map[string]enforced.Binding{},
		bindings:  map[uint64]enforced.Binding{},
		parents:   map[string]enforced.ParentKind{},
		fallbacks: map[uint64]enforced.FallbackRecord{},
	}
}

func (f *fakeEnforcer) SetFallback(parents []enforced.Parent, id enforced.ProfileID, mode profiles.Mode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.profiles[id] == nil {
		return fmt.Errorf("profile %d is not loaded", id)
	}
	f.parents = map[string]enforced.ParentKind{}
	for _, p := range parents {
		f.parents[p.Path] = p.Kind
	}
	f.fbBinding = enforced.Binding{Profile: id, Mode: mode, Fallback: true}
	return nil
}

func (f *fakeEnforcer) ClearFallback() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.parents = map[string]enforced.ParentKind{}
	return nil
}

func (f *fakeEnforcer) StageUnconfined(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.staged[path] = enforced.Binding{Unconfined: true}
	return nil
}

func (f *fakeEnforcer) Fallbacks() (map[uint64]enforced.FallbackRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.fallbacks), nil
}

func (f *fakeEnforcer) SetProfile(c *profiles.Compiled) (enforced.ProfileID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets++
	id, ok := f.names[c.Name]
	if !ok {
		id = enforced.ProfileID(f.sets) // never reused, as in the kernel maps
		f.names[c.Name] = id
	}
	f.profiles[id] = c
	return id, nil
}

func (f *fakeEnforcer) StageContainer(path string, id enforced.ProfileID, mode profiles.Mode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.profiles[id] == nil {
		return fmt.Errorf("profile %d is not loaded", id)
	}
	f.staged[path] = enforced.Binding{Profile: id, Mode: mode, ExecPending: true}
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

func (f *fakeEnforcer) Bind(id uint64, p enforced.ProfileID, mode profiles.Mode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bindings[id] = enforced.Binding{Profile: p, Mode: mode}
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

func (f *fakeEnforcer) Lookup(id uint64) (enforced.Binding, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bindings[id]
	return b, ok, nil
}

func (f *fakeEnforcer) Bindings() (map[uint64]enforced.Binding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.bindings), nil
}

func (f *fakeEnforcer) Staged() (map[string]enforced.Binding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.staged), nil
}

func (f *fakeEnforcer) binding(id uint64) enforced.Binding {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bindings[id]
}

func (f *fakeEnforcer) RemoveUnusedProfiles(keep []enforced.ProfileID) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	used := map[enforced.ProfileID]bool{}
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

// mkCgroup is the runtime creating a container's cgroup: the fake kernel
// binds it if its path was staged, else to the fallback as the kernel's rule
// would (fallbackrule, whose cases the kernel test runs against the C).
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
	} else if fallbackrule.Binds(path, e.fake.parents) {
		e.fake.bindings[id] = e.fake.fbBinding
		e.fake.fallbacks[id] = enforced.FallbackRecord{Since: time.Now().Add(-90 * time.Second)}
	}
	return id
}
