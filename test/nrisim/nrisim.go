// Package nrisim is the container runtime's half of NRI for krsi's tests:
// NRI's own runtime (pkg/adaptation) serving a real socket, the bookkeeping
// a runtime does (which pods and containers exist, reported to a plugin when
// it connects), and a proxy in front of the socket, so that a runtime stopped
// in-process closes its plugins' connections as a real runtime's exit does.
//
// The plugin's tests use it with an in-memory enforcer; the kernel tests
// (test/kernel, in the VM) with the real one, the `krsi plugin` daemon and
// real cgroups. The cgroups are the caller's to make: a runtime makes them
// between Create and StartContainer (runc), and removes them in Remove.
package nrisim

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	nri "github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/stub"
)

// Runtime is one simulated runtime.
type Runtime struct {
	// Sock is where plugins connect.
	Sock string

	tb     testing.TB
	rt     *nri.Adaptation
	synced chan struct{}
	proxy  *Proxy
	direct bool // no proxy: WithoutProxy

	mu   sync.Mutex
	pods []*nri.PodSandbox
	ctrs []*nri.Container
}

// Option changes how Start sets the runtime up.
type Option func(*Runtime)

// Timeouts sets NRI's plugin request and registration timeouts (they are
// NRI's process-wide settings). containerd's 2 s default request timeout
// drops a plugin slowed by an emulated CPU, which a test would count as a
// fault: the e2e node raises them the same way (test/e2e/lib.sh).
func Timeouts(request, registration time.Duration) Option {
	return func(*Runtime) {
		nri.SetPluginRequestTimeout(request)
		nri.SetPluginRegistrationTimeout(registration)
	}
}

// WithoutProxy has plugins connect to the runtime's own socket, for
// benchmarks: the proxy's copying would count as the plugin's latency. Stop
// then leaves their connections open.
func WithoutProxy() Option {
	return func(r *Runtime) { r.direct = true }
}

// Start starts a runtime on a new socket; it stops when the test ends.
func Start(tb testing.TB, opts ...Option) *Runtime {
	tb.Helper()
	// Unix socket paths are short: not tb.TempDir(), as NRI's own tests do.
	dir, err := os.MkdirTemp("", "nri-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	r := &Runtime{Sock: filepath.Join(dir, "nri.sock"), tb: tb, synced: make(chan struct{}, 16)}
	for _, o := range opts {
		o(r)
	}
	r.Restart()
	tb.Cleanup(r.Stop)
	return r
}

// Restart brings a stopped runtime up again on its socket; Start calls it a
// first time. A plugin that was connected reconnects and is synchronized
// with what the runtime has.
func (r *Runtime) Restart() {
	r.tb.Helper()
	syncFn := func(ctx context.Context, cb nri.SyncCB) error {
		r.mu.Lock()
		pods, ctrs := slices.Clone(r.pods), slices.Clone(r.ctrs)
		r.mu.Unlock()
		_, err := cb(ctx, pods, ctrs)
		if err == nil {
			select {
			case r.synced <- struct{}{}:
			default:
			}
		}
		return err
	}
	update := func(context.Context, []*nri.ContainerUpdate) ([]*nri.ContainerUpdate, error) { return nil, nil }
	dir, sock := filepath.Dir(r.Sock), r.Sock+".rt"
	if r.direct {
		sock = r.Sock
	}
	rt, err := nri.New("containerd", "2.4.2", syncFn, update,
		nri.WithSocketPath(sock), nri.WithPluginPath(filepath.Join(dir, "plugins")),
		nri.WithPluginConfigPath(filepath.Join(dir, "conf.d")))
	if err != nil {
		r.tb.Fatal(err)
	}
	if err := rt.Start(); err != nil {
		r.tb.Fatal(err)
	}
	// Start synchronizes the (absent) pre-installed plugins through syncFn:
	// that is no plugin connecting.
	r.DrainSynced()
	r.rt = rt
	if !r.direct {
		os.Remove(r.Sock)
		r.proxy = StartProxy(r.tb, r.Sock, sock)
	}
}

// Stop is the runtime going away: its socket and every plugin connection
// close.
func (r *Runtime) Stop() {
	if r.rt != nil {
		r.rt.Stop()
		r.rt = nil
	}
	if r.proxy != nil {
		r.proxy.Drop()
		r.proxy = nil
	}
}

// NRI is the runtime's NRI half, to send a plugin any event directly.
func (r *Runtime) NRI() *nri.Adaptation { return r.rt }

// Report sets what the runtime reports to a plugin that connects, in place
// of what Create and Remove kept track of: a test's account of what ran
// while the plugin was away.
func (r *Runtime) Report(pods []*nri.PodSandbox, ctrs []*nri.Container) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pods, r.ctrs = slices.Clone(pods), slices.Clone(ctrs)
}

// Forget drops containers by id from what the runtime reports: they went
// away while no plugin was connected.
func (r *Runtime) Forget(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctrs = slices.DeleteFunc(r.ctrs, func(c *nri.Container) bool { return slices.Contains(ids, c.GetId()) })
}

// Create is a runtime creating a pod and a container in it: RunPodSandbox,
// then CreateContainer. The pod and container exist for the runtime once
// CreateContainer has succeeded. Like every operation here, it holds off
// plugin synchronization while it runs, as containerd does
// (BlockPluginSync), so a plugin that connects mid-way sees the runtime's
// state before or after it, never half of it.
func (r *Runtime) Create(pod *nri.PodSandbox, ctr *nri.Container) error {
	block := r.rt.BlockPluginSync()
	defer block.Unblock()
	ctx := context.Background()
	// krsi takes part in RunPodSandbox (fail closed): a pod NRI cannot carry
	// (a 10 MB annotation) is refused there, before any container.
	if err := r.rt.RunPodSandbox(ctx, &nri.RunPodSandboxRequest{Pod: pod}); err != nil {
		return fmt.Errorf("RunPodSandbox: %w", err)
	}
	if _, err := r.rt.CreateContainer(ctx, &nri.CreateContainerRequest{Pod: pod, Container: ctr}); err != nil {
		return fmt.Errorf("CreateContainer: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pods = append(slices.DeleteFunc(r.pods, func(p *nri.PodSandbox) bool { return p.GetId() == pod.GetId() }), pod)
	r.ctrs = append(slices.DeleteFunc(r.ctrs, func(c *nri.Container) bool { return c.GetId() == ctr.GetId() }), ctr)
	return nil
}

// StartContainer is the runtime starting a created container (runc start),
// once its cgroup exists.
func (r *Runtime) StartContainer(pod *nri.PodSandbox, ctr *nri.Container) error {
	block := r.rt.BlockPluginSync()
	defer block.Unblock()
	if err := r.rt.StartContainer(context.Background(), &nri.StartContainerRequest{Pod: pod, Container: ctr}); err != nil {
		return fmt.Errorf("StartContainer: %w", err)
	}
	return nil
}

// Remove is a runtime removing a container and its pod: StopContainer,
// rmdir (runc removing the cgroup; may be nil), RemoveContainer,
// RemovePodSandbox. The runtime forgets them first.
func (r *Runtime) Remove(pod *nri.PodSandbox, ctr *nri.Container, rmdir func()) error {
	block := r.rt.BlockPluginSync()
	defer block.Unblock()
	ctx := context.Background()
	r.mu.Lock()
	r.ctrs = slices.DeleteFunc(r.ctrs, func(c *nri.Container) bool { return c.GetId() == ctr.GetId() })
	r.pods = slices.DeleteFunc(r.pods, func(p *nri.PodSandbox) bool { return p.GetId() == pod.GetId() })
	r.mu.Unlock()
	if _, err := r.rt.StopContainer(ctx, &nri.StopContainerRequest{Pod: pod, Container: ctr}); err != nil {
		return fmt.Errorf("StopContainer: %w", err)
	}
	if rmdir != nil {
		rmdir()
	}
	if err := r.rt.RemoveContainer(ctx, &nri.RemoveContainerRequest{Pod: pod, Container: ctr}); err != nil {
		return fmt.Errorf("RemoveContainer: %w", err)
	}
	if err := r.rt.RemovePodSandbox(ctx, &nri.RemovePodSandboxRequest{Pod: pod}); err != nil {
		return fmt.Errorf("RemovePodSandbox: %w", err)
	}
	return nil
}

// WaitSynced waits for a plugin to connect and synchronize.
func (r *Runtime) WaitSynced(within time.Duration) bool {
	select {
	case <-r.synced:
		return true
	case <-time.After(within):
		return false
	}
}

// DrainSynced forgets synchronizations seen so far: call it before starting
// a plugin, to wait for that plugin's and not one left from an earlier.
func (r *Runtime) DrainSynced() {
	for {
		select {
		case <-r.synced:
		default:
			return
		}
	}
}

// Plugin is krsi's plugin as the runtime sees it: Run connects to the
// runtime and serves it until ctx ends (plugin.Plugin).
type Plugin interface {
	Run(ctx context.Context, opts ...stub.Option) error
}

// Connect runs p until the test ends or stop is called, and returns once
// the runtime has synchronized with it and routes requests to it.
func (r *Runtime) Connect(tb testing.TB, p Plugin, within time.Duration) (stop func()) {
	tb.Helper()
	r.DrainSynced()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	tb.Cleanup(stop)
	if !r.WaitSynced(within) {
		tb.Fatalf("the plugin did not synchronize with the runtime in %s", within)
	}
	r.WaitRouted(tb)
	return stop
}

// WaitRouted returns once the runtime routes requests to krsi's plugin: the
// runtime adds a plugin to its list only after the plugin's Synchronize, so
// a request sent right after it may not reach the plugin. A container with
// an unknown profile is refused exactly when it does.
func (r *Runtime) WaitRouted(tb testing.TB) {
	tb.Helper()
	pod := &nri.PodSandbox{Id: "ready", Name: "ready", Namespace: "default",
		Annotations: map[string]string{"profile.krsi.dev/pod": "builtin/not-a-profile"}}
	ctr := &nri.Container{Id: "ready", PodSandboxId: "ready", Name: "ready",
		Linux: &nri.LinuxContainer{CgroupsPath: "/ready"}}
	for i := 0; i < 200; i++ {
		if _, err := r.rt.CreateContainer(context.Background(), &nri.CreateContainerRequest{Pod: pod, Container: ctr}); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatal("the runtime did not route requests to the plugin in 2s")
}

// Proxy forwards connections from one unix socket to another; Drop is the
// far end going away, as the kernel closes a dead process's sockets.
type Proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// StartProxy listens on path and forwards to target until Drop or the end
// of the test.
func StartProxy(tb testing.TB, path, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{ln: ln}
	tb.Cleanup(p.Drop)
	go p.serve(target)
	return p
}

func (p *Proxy) serve(target string) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("unix", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(u, c)
		go pipe(c, u)
	}
}

// Drop stops accepting and closes every connection.
func (p *Proxy) Drop() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
