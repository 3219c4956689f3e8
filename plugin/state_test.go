package plugin

import (
	"fmt"
	"testing"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/recorder"
)

// The cgroup index follows every change of a container, so that Identify
// names the container that owns a cgroup now and nobody else.
func TestIdentifyFollowsTheContainersCgroup(t *testing.T) {
	wx := &profiles.Compiled{Name: "builtin/wx"}
	for _, tt := range []struct {
		name   string
		change func(s *state, a, b *tracked)
		want   map[uint64]string // cgroup id → container id, "" none
	}{
		{"tracked with its cgroup", func(s *state, a, b *tracked) {}, map[uint64]string{1: "a", 2: "", 0: ""}},
		{"cgroup seen later", func(s *state, a, b *tracked) { s.setCgroup(b, 2) }, map[uint64]string{1: "a", 2: "b"}},
		{"cgroup moved", func(s *state, a, b *tracked) { s.setCgroup(a, 3) }, map[uint64]string{1: "", 3: "a"}},
		{"forgotten", func(s *state, a, b *tracked) { s.untrack(a) }, map[uint64]string{1: ""}},
		{"created again", func(s *state, a, b *tracked) {
			s.track(&tracked{id: "a", cgroupID: 4})
		}, map[uint64]string{1: "", 4: "a"}},
		{"cgroup set on an untracked container", func(s *state, a, b *tracked) {
			s.untrack(b)
			s.setCgroup(b, 5)
		}, map[uint64]string{5: ""}},
		{"all forgotten", func(s *state, a, b *tracked) { s.forgetContainers() }, map[uint64]string{1: ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &Plugin{state: newState()} // Identify needs nothing else
			p.state.load("builtin/wx", loaded{id: 7, compiled: wx})
			a, b := &tracked{id: "a", cgroupID: 1}, &tracked{id: "b"}
			p.state.track(a)
			p.state.track(b)
			tt.change(&p.state, a, b)
			for id, want := range tt.want {
				src := p.Identify(id, 7)
				if src.ContainerID != want || src.Profile != "builtin/wx" {
					t.Errorf("Identify(cgroup %d, profile 7) = container %q, profile %q; want %q, builtin/wx",
						id, src.ContainerID, src.Profile, want)
				}
			}
		})
	}
}

// A profile written again (ProfilesChanged) keeps its id; one loaded under a
// new id no longer answers to the old one.
func TestIdentifyNamesTheProfileByItsKernelID(t *testing.T) {
	s := newState()
	s.load("localhost/a", loaded{id: 1, compiled: &profiles.Compiled{}})
	s.load("localhost/a", loaded{id: 2, compiled: &profiles.Compiled{}})
	s.load("localhost/b", loaded{id: 3, compiled: &profiles.Compiled{}})
	for id, want := range map[enforced.ProfileID]string{1: "", 2: "localhost/a", 3: "localhost/b", 0: ""} {
		if ref, _, _ := s.profile(id); ref != want {
			t.Errorf("profile %d: %q, want %q", id, ref, want)
		}
	}
}

// benchPlugin is a plugin tracking n containers, cgroup ids 1..n, all under
// one loaded profile; the last one is being recorded.
func benchPlugin(tb testing.TB, n int) *Plugin {
	tb.Helper()
	p := &Plugin{state: newState()} // Identify and Observe need nothing else
	p.state.load("builtin/wx", loaded{id: 1, compiled: &profiles.Compiled{Name: "builtin/wx"}})
	for i := 1; i <= n; i++ {
		t := &tracked{id: fmt.Sprint("c", i), name: "app", pod: fmt.Sprint("pod-", i), namespace: "default", cgroupID: uint64(i), profile: 1}
		if i == n {
			t.rec, t.recordAs = recorder.New(), "app"
		}
		p.state.track(t)
	}
	return p
}

// BenchmarkIdentify times Identify and Observe, which run under the
// plugin's lock for every event the kernel reports (Observe for suppressed
// ones too), with 10 and 10,000 containers on the node: the same time for
// both is what a lookup gives; a scan grows a thousandfold.
//
//	go test -run '^$' -bench 'Identify' -count 5 ./plugin
func BenchmarkIdentify(b *testing.B) {
	for _, n := range []int{10, 10000} {
		p := benchPlugin(b, n)
		b.Run(fmt.Sprintf("identify/containers=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				id := uint64(i%n) + 1
				if src := p.Identify(id, 1); src.ContainerID == "" || src.Profile != "builtin/wx" {
					b.Fatalf("Identify(%d, 1) = %+v", id, src)
				}
			}
		})
		// Events of a container that is not recorded: the usual case.
		b.Run(fmt.Sprintf("observe/containers=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				p.Observe(enforced.Event{CgroupID: uint64(i%(n-1)) + 1}, eventlog.Source{})
			}
		})
		b.Run(fmt.Sprintf("observe-recorded/containers=%d", n), func(b *testing.B) {
			ev := enforced.Event{CgroupID: uint64(n), Hook: "file_open", Reason: "default", Path: "/etc/hosts", Access: profiles.AccessRead}
			for i := 0; i < b.N; i++ {
				p.Observe(ev, eventlog.Source{})
			}
			b.StopTimer()
			if got := p.state.byCgroup(uint64(n)).rec.Events(); got < b.N {
				b.Fatalf("the recorder saw %d events of %d", got, b.N)
			}
		})
	}
}
