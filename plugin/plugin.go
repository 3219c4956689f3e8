// Package plugin is krsi's NRI plugin: the runtime (containerd, CRI-O) tells
// it about every pod and container; it selects a profile for each container,
// has the enforcement package load it and stage the container's cgroup, so
// the kernel binds the cgroup as the runtime creates it. Step in the
// pipeline: runtime event → selection → enforcement (maps) → kernel.
//
// It never touches a BPF map: Enforcer is all it knows of the kernel side.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/recorder"
	"github.com/krsi-dev/krsi/selector"
)

// Enforcer is what the plugin needs of the enforcement package, the only
// code that touches BPF: the plugin asks it (cmd/krsi wires in an
// *enforcement.Enforcer) and imports none of it.
type Enforcer interface {
	SetProfile(*profiles.Compiled) (enforced.ProfileID, error)
	StageContainer(path string, id enforced.ProfileID, mode profiles.Mode) error
	Arm(cgroupID uint64) (bool, error)
	Unstage(path string) error
	Bind(cgroupID uint64, id enforced.ProfileID, mode profiles.Mode) error
	Unbind(cgroupID uint64) error
	Lookup(cgroupID uint64) (enforced.Binding, bool, error)
	Bindings() (map[uint64]enforced.Binding, error)
	Staged() (map[string]enforced.Binding, error)
	// Fail closed (fallback.go).
	SetFallback(parents []enforced.Parent, id enforced.ProfileID, mode profiles.Mode) error
	ClearFallback() error
	StageUnconfined(path string) error
	Fallbacks() (map[uint64]enforced.FallbackRecord, error)
	RemoveUnusedProfiles(keep []enforced.ProfileID) ([]string, error)
}

// Plugin handles the runtime's NRI events.
type Plugin struct {
	cfg     Config
	enf     Enforcer
	catalog selector.Catalog
	cgroups cgroup.Mount
	log     logrus.FieldLogger

	// timed, if set, is told how long each NRI callback took (metrics).
	timed func(callback string, d time.Duration)
	// counted, if set, is told how many profiles are loaded (metrics).
	counted func(n int)
	// conn is the current connection's stub: Configure asks it which NRI
	// version the runtime speaks.
	conn stub.Stub

	// ready and live answer the daemon's health probes (health.go).
	ready readiness
	live  liveness

	mu       sync.Mutex
	state    state // state.go
	fallback fallbackState
}

// tracked is a container krsi confines.
type tracked struct {
	id, name, pod, namespace string
	podID, image             string
	path                     string             // cgroup v2 hierarchy path
	cgroupID                 uint64             // 0 until the cgroup is seen; set by state.setCgroup
	rec                      *recorder.Recorder // set while the run is recorded
	recordAs                 string
	ref                      string
	profile                  enforced.ProfileID
	mode                     profiles.Mode
	created                  time.Time
}

// loaded is a profile written to the kernel, and the compiled version it was.
type loaded struct {
	id       enforced.ProfileID
	compiled *profiles.Compiled
}

var (
	_ stub.ConfigureInterface       = (*Plugin)(nil)
	_ stub.SynchronizeInterface     = (*Plugin)(nil)
	_ stub.CreateContainerInterface = (*Plugin)(nil)
	_ stub.StartContainerInterface  = (*Plugin)(nil)
	_ stub.StopContainerInterface   = (*Plugin)(nil)
	_ stub.RemoveContainerInterface = (*Plugin)(nil)
	_ stub.RemovePodInterface       = (*Plugin)(nil)
	_ stub.RunPodInterface          = (*Plugin)(nil)

	_ stub.ValidateContainerAdjustmentInterface = (*Plugin)(nil)
)

// New makes a plugin. cg is the cgroup v2 mount where container cgroups appear.
func New(cfg Config, enf Enforcer, catalog selector.Catalog, cg cgroup.Mount, log logrus.FieldLogger) *Plugin {
	return &Plugin{
		cfg:     cfg,
		enf:     enf,
		catalog: catalog,
		cgroups: cg,
		log:     log,
		state:   newState(),
		live:    liveness{stuckAfter: defaultStuckAfter, wait: defaultProbeWait},
	}
}

// TimeCallbacks makes every NRI callback report its duration to f (set it
// before Run). The runtime gives a plugin 2 s per request by default.
func (p *Plugin) TimeCallbacks(f func(callback string, d time.Duration)) { p.timed = f }

// CountProfiles makes the plugin report how many profiles it has loaded into
// the kernel whenever that changes (set it before Run).
func (p *Plugin) CountProfiles(f func(n int)) { p.counted = f }

func (p *Plugin) time(callback string, start time.Time) {
	if p.timed != nil {
		p.timed(callback, time.Since(start))
	}
}

// Run connects to the runtime and serves it until ctx ends. When the runtime
// goes away (a restart), Run connects again: the runtime then replays what is
// running through Synchronize.
//
// A pre-registered plugin (started by the runtime from /opt/nri/plugins, its
// connection handed over in NRI_PLUGIN_SOCKET) cannot reconnect: it returns,
// and the runtime starts it again only when the runtime itself restarts
// (docs/failure-modes.md). Enforcement stays pinned meanwhile.
func (p *Plugin) Run(ctx context.Context, opts ...stub.Option) error {
	preRegistered := os.Getenv(api.PluginSocketEnvVar) != ""
	where := p.nriAddress()
	var base []stub.Option
	if !preRegistered {
		base = append(base, stub.WithPluginName(p.cfg.PluginName), stub.WithPluginIdx(p.cfg.PluginIndex),
			stub.WithSocketPath(p.cfg.SocketPath))
	}
	backoff := 100 * time.Millisecond
	for {
		conn := p.ready.connecting(where)
		onClose := stub.WithOnClose(func() {
			p.log.Warn("connection to the runtime closed")
			p.ready.lost(conn, "connection to NRI at "+where+" closed; reconnecting")
		})
		s, err := stub.New(p, slices.Concat(base, []stub.Option{onClose}, opts)...)
		if err != nil {
			p.ready.lost(conn, fmt.Sprintf("not connected to NRI at %s: create NRI stub: %v", where, err))
			return fmt.Errorf("create NRI stub: %w", err)
		}
		p.conn = s
		start := time.Now()
		err = s.Run(ctx)
		if ctx.Err() != nil {
			p.ready.lost(conn, "krsi is stopping")
			return nil
		}
		if err == nil {
			err = errors.New("the connection ended")
		}
		if preRegistered {
			p.ready.lost(conn, fmt.Sprintf("not connected to NRI at %s: %v; a pre-registered plugin "+
				"cannot reconnect, the runtime starts it again when it restarts", where, err))
			return fmt.Errorf("NRI connection from the runtime ended: %w", err)
		}
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		p.ready.lost(conn, fmt.Sprintf("not connected to NRI at %s: %v; retrying in %s", where, err, backoff))
		p.log.WithError(err).WithField("retry_in", backoff.String()).Warn("NRI connection ended")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// ProfilesChanged re-writes the loaded profiles among refs (node profile
// files that changed): each is swapped in the kernel in one step, so every
// container using it moves to the new version at once.
func (p *Plugin) ProfilesChanged(refs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ref := range refs {
		l, ok := p.state.loaded[ref]
		if !ok {
			continue
		}
		c, err := p.catalog.Lookup(ref)
		if err != nil {
			// Removed or broken: the version in the kernel stays in force for
			// the containers using it; new containers cannot select it.
			p.log.WithError(err).WithField("profile", ref).Warn("profile file removed or broken; running containers keep the version in force")
			continue
		}
		if _, err := p.enf.SetProfile(c); err != nil {
			p.log.WithError(err).WithField("profile", ref).Error("updating profile in the kernel failed; the previous version stays enforced")
			continue
		}
		p.state.load(ref, loaded{id: l.id, compiled: c})
		p.log.WithField("profile", ref).Info("profile updated for running containers")
	}
}

// Identify says which container and profile an event came from. It runs for
// every event the kernel reports, so it looks up, never scans.
func (p *Plugin) Identify(cgroupID uint64, profile enforced.ProfileID) eventlog.Source {
	p.mu.Lock()
	defer p.mu.Unlock()
	var src eventlog.Source
	if ref, l, ok := p.state.profile(profile); ok {
		src.Profile, src.Rules = ref, l.compiled.Rules
	}
	if t := p.state.byCgroup(cgroupID); t != nil {
		src.Container, src.ContainerID, src.Pod, src.Namespace, src.Image = t.name, t.id, t.pod, t.namespace, t.image
	}
	return src
}

// ensureProfile loads a selected profile into the kernel unless this version
// of it is there already.
func (p *Plugin) ensureProfile(ref string, c *profiles.Compiled) (enforced.ProfileID, error) {
	if l, ok := p.state.loaded[ref]; ok && l.compiled == c {
		return l.id, nil
	}
	id, err := p.enf.SetProfile(c)
	if err != nil {
		return 0, fmt.Errorf("load profile %s: %w", ref, err)
	}
	p.state.load(ref, loaded{id: id, compiled: c})
	if p.counted != nil {
		p.counted(len(p.state.loaded))
	}
	return id, nil
}
