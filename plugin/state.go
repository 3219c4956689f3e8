package plugin

import "github.com/krsi-dev/krsi/enforced"

// state is what the plugin knows of the node: the containers it confines,
// the profiles it loaded, and the cgroups it staged unconfined. The runtime's
// events name a container by its id; the kernel's events name a cgroup id and
// a profile id and come by the thousand a second, each under the plugin's
// lock, so every one of the three has its own index and an event costs two
// map lookups however many containers the node runs (BenchmarkIdentify).
// Keep the indexes through the methods below: a container whose cgroup id
// is set without setCgroup is never identified. Use it with Plugin.mu held.
type state struct {
	containers map[string]*tracked // by container id
	cgroups    map[uint64]*tracked // the same containers, by cgroup id once seen
	loaded     map[string]loaded   // by profile ref
	refs       map[enforced.ProfileID]string
	// open are unconfined containers whose cgroup path is staged as such
	// (fail closed on), by container id; sandboxes the same for pod sandboxes
	// whose cgroup did not exist at RunPodSandbox, by pod id.
	open      map[string]string
	sandboxes map[string]string
}

func newState() state {
	s := state{loaded: map[string]loaded{}, refs: map[enforced.ProfileID]string{}}
	s.forgetContainers()
	return s
}

// forgetContainers drops every container and staging, keeping the loaded
// profiles: Synchronize rebuilds the rest from what the runtime reports.
func (s *state) forgetContainers() {
	s.containers, s.cgroups = map[string]*tracked{}, map[uint64]*tracked{}
	s.open, s.sandboxes = map[string]string{}, map[string]string{}
}

// track adds a container, indexed by its cgroup too if that is known. It
// replaces one tracked under the same id (a retried CreateContainer).
func (s *state) track(t *tracked) {
	if old, ok := s.containers[t.id]; ok {
		s.untrack(old)
	}
	s.containers[t.id] = t
	if t.cgroupID != 0 {
		s.cgroups[t.cgroupID] = t
	}
}

// setCgroup records the id of the container's cgroup, once it exists.
func (s *state) setCgroup(t *tracked, id uint64) {
	if t.cgroupID != 0 && s.cgroups[t.cgroupID] == t {
		delete(s.cgroups, t.cgroupID)
	}
	t.cgroupID = id
	if id != 0 && s.containers[t.id] == t {
		s.cgroups[id] = t
	}
}

// untrack forgets a container.
func (s *state) untrack(t *tracked) {
	delete(s.containers, t.id)
	if s.cgroups[t.cgroupID] == t {
		delete(s.cgroups, t.cgroupID)
	}
}

// byCgroup is the container whose cgroup has the id, or nil. Id 0 is no
// cgroup: the kernel reports it for a process it cannot place.
func (s *state) byCgroup(id uint64) *tracked {
	if id == 0 {
		return nil
	}
	return s.cgroups[id]
}

// load records a profile written to the kernel under ref.
func (s *state) load(ref string, l loaded) {
	if old, ok := s.loaded[ref]; ok && old.id != l.id && s.refs[old.id] == ref {
		delete(s.refs, old.id)
	}
	s.loaded[ref] = l
	s.refs[l.id] = ref
}

// profile is the loaded profile with the kernel's id, and its ref.
func (s *state) profile(id enforced.ProfileID) (string, loaded, bool) {
	ref, ok := s.refs[id]
	if !ok {
		return "", loaded{}, false
	}
	return ref, s.loaded[ref], true
}
