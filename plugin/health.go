package plugin

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/api"
)

// readiness is whether the plugin serves the runtime, for /readyz: it is
// connected to the runtime's NRI socket and has processed the Synchronize of
// that connection (the runtime sends no container event before it). Each
// connection attempt has a number, so that a late report from an old
// connection (its Synchronize finishing after it closed) changes nothing.
type readiness struct {
	mu     sync.Mutex
	conn   uint64 // the current connection attempt; 0 before the first
	closed bool   // the current connection ended
	synced bool   // the runtime's Synchronize was processed on conn
	why    string // why not ready
}

// connecting starts a new connection attempt and returns its number. A
// reason left by the last attempt stays until this one gets further.
func (r *readiness) connecting(where string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conn++
	r.closed, r.synced = false, false
	if r.why == "" {
		r.why = "connecting to NRI at " + where
	}
	return r.conn
}

// current is the connection the runtime's calls come in on now.
func (r *readiness) current() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn
}

// configured: the runtime took the registration on conn.
func (r *readiness) configured(conn uint64, where string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if conn == r.conn && !r.closed && !r.synced {
		r.why = "connected to NRI at " + where + "; waiting for the runtime's Synchronize"
	}
}

// synchronized: the runtime's Synchronize on conn was processed.
func (r *readiness) synchronized(conn uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if conn == r.conn && !r.closed {
		r.synced, r.why = true, ""
	}
}

// lost: connection conn ended, or could not be made, for why.
func (r *readiness) lost(conn uint64, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if conn == r.conn {
		r.closed, r.synced, r.why = true, false, why
	}
}

func (r *readiness) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.synced {
		return nil
	}
	if r.why == "" {
		return errors.New("not connected to NRI yet: the plugin has not started")
	}
	return errors.New(r.why)
}

// nriAddress names the connection to the runtime in readiness reasons.
func (p *Plugin) nriAddress() string {
	if os.Getenv(api.PluginSocketEnvVar) != "" {
		return "the socket the runtime handed over (" + api.PluginSocketEnvVar + ", pre-registered plugin)"
	}
	return p.cfg.SocketPath
}

// Ready returns nil when the plugin serves the runtime: connected to its NRI
// socket and synchronized on that connection. Otherwise the error says what
// is missing, e.g. "not connected to NRI at /var/run/nri/nri.sock: …".
func (p *Plugin) Ready() error { return p.ready.err() }

// liveness tells a busy plugin from a stuck one. Every NRI callback, profile
// swap and event lookup takes the plugin's lock: held for long, it stops
// them all (the runtime drops a plugin that does not answer in 2 s).
type liveness struct {
	mu sync.Mutex
	// busySince is when the first of consecutive probes found the lock
	// held; zero when the last probe took it.
	busySince time.Time
	// stuckAfter is how long consecutive probes may find it held.
	stuckAfter time.Duration
	// wait is how long one probe tries to take it.
	wait time.Duration
}

// Defaults of liveness: a Synchronize of a full node holds the lock well
// under a second; probes come every 10 s (the kubelet's default period).
const (
	defaultStuckAfter = 30 * time.Second
	defaultProbeWait  = 100 * time.Millisecond
)

// Alive returns nil unless the plugin's state has been locked, in every
// probe, for longer than stuckAfter: an NRI callback, a profile update or an
// event lookup is stuck, and krsi serves nobody until it is restarted. It
// never blocks for longer than a probe's wait.
func (p *Plugin) Alive() error {
	l := &p.live
	l.mu.Lock()
	defer l.mu.Unlock()
	deadline := time.Now().Add(l.wait)
	for {
		if p.mu.TryLock() {
			p.mu.Unlock()
			l.busySince = time.Time{}
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	now := time.Now()
	if l.busySince.IsZero() {
		l.busySince = now
		return nil
	}
	if held := now.Sub(l.busySince); held > l.stuckAfter {
		return fmt.Errorf("the plugin's state has been locked since %s (%s): an NRI callback or a profile update is stuck",
			l.busySince.UTC().Format(time.RFC3339), held.Round(time.Second))
	}
	return nil
}
