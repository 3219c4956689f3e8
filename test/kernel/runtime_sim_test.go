package kernel_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	nri "github.com/containerd/nri/pkg/adaptation"
	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// simRuntime is the runtime side of the fault and load tests: NRI's own
// runtime half (pkg/adaptation) over a real socket, with the bookkeeping a
// runtime does — which pods and containers exist, reported to a plugin
// when it connects — and the cgroups runc would create, made and removed
// by hand. Every operation holds off plugin synchronization while it runs,
// as containerd does (BlockPluginSync), so a plugin that connects mid-way
// sees the runtime's state before or after it, never half of it.
type simRuntime struct {
	t    testing.TB
	sock string
	cg   cgroup.Mount
	top  string // hierarchy path all of this runtime's cgroups live under

	rt     *nri.Adaptation
	synced chan struct{}
	// The runtime listens on an inner socket; plugins connect to sock, a
	// proxy in front of it. Stopping a runtime in-process leaves its
	// external plugins' connections open (a real runtime's exit closes
	// them): the proxy closes them, as the kernel would.
	proxy      net.Listener
	proxyConns []net.Conn
	proxyMu    sync.Mutex

	mu   sync.Mutex
	pods map[string]*nri.PodSandbox
	ctrs map[string]*nri.Container
}

// simContainer is one container the test created.
type simContainer struct {
	pod  *nri.PodSandbox
	ctr  *nri.Container
	path string // cgroup v2 hierarchy path
	dir  string // its directory
}

func newSimRuntime(t testing.TB, top string) *simRuntime {
	t.Helper()
	dir, err := os.MkdirTemp("", "nri-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cg, err := cgroup.Find()
	if err != nil {
		t.Fatal(err)
	}
	r := &simRuntime{t: t, sock: filepath.Join(dir, "nri.sock"), cg: cg, top: top,
		synced: make(chan struct{}, 16), pods: map[string]*nri.PodSandbox{}, ctrs: map[string]*nri.Container{}}
	t.Cleanup(func() { removeTree(filepath.Join(cg.Dir, top)) })
	r.start()
	t.Cleanup(func() { r.stop() })
	return r
}

// start brings the runtime (up again) on its socket.
func (r *simRuntime) start() {
	r.t.Helper()
	syncFn := func(ctx context.Context, cb nri.SyncCB) error {
		r.mu.Lock()
		pods := make([]*nri.PodSandbox, 0, len(r.pods))
		for _, p := range r.pods {
			pods = append(pods, p)
		}
		ctrs := make([]*nri.Container, 0, len(r.ctrs))
		for _, c := range r.ctrs {
			ctrs = append(ctrs, c)
		}
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
	dir := filepath.Dir(r.sock)
	// containerd's NRI timeouts as the e2e node sets them for an emulated CPU
	// (test/e2e/lib.sh): with the 2 s default, a krsi slowed by a busy host
	// is dropped and reconnects, which the tests count as a fault.
	nri.SetPluginRequestTimeout(15 * time.Second)
	nri.SetPluginRegistrationTimeout(30 * time.Second)
	rt, err := nri.New("containerd", "2.4.2", syncFn, update,
		nri.WithSocketPath(r.sock+".rt"), nri.WithPluginPath(filepath.Join(dir, "plugins")),
		nri.WithPluginConfigPath(filepath.Join(dir, "conf.d")))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := rt.Start(); err != nil {
		r.t.Fatal(err)
	}
	// Start synchronizes the (absent) pre-installed plugins through syncFn:
	// that is no plugin connecting.
	r.drainSynced()
	r.rt = rt
	os.Remove(r.sock)
	l, err := net.Listen("unix", r.sock)
	if err != nil {
		r.t.Fatal(err)
	}
	r.proxyMu.Lock()
	r.proxy = l
	r.proxyMu.Unlock()
	go r.serveProxy(l)
}

func (r *simRuntime) serveProxy(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("unix", r.sock+".rt")
		if err != nil {
			c.Close()
			continue
		}
		r.proxyMu.Lock()
		r.proxyConns = append(r.proxyConns, c, u)
		r.proxyMu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(u, c)
		go pipe(c, u)
	}
}

// stop is the runtime going away: its socket and every plugin connection
// close.
func (r *simRuntime) stop() {
	if r.rt != nil {
		r.rt.Stop()
		r.rt = nil
	}
	r.proxyMu.Lock()
	defer r.proxyMu.Unlock()
	if r.proxy != nil {
		r.proxy.Close()
		r.proxy = nil
	}
	for _, c := range r.proxyConns {
		c.Close()
	}
	r.proxyConns = nil
}

// waitSynced waits for a plugin to connect and synchronize.
func (r *simRuntime) waitSynced(within time.Duration) bool {
	select {
	case <-r.synced:
		return true
	case <-time.After(within):
		return false
	}
}

// drainSynced forgets synchronizations seen so far.
func (r *simRuntime) drainSynced() {
	for {
		select {
		case <-r.synced:
		default:
			return
		}
	}
}

func (r *simRuntime) newContainer(id string, annotations map[string]string) *simContainer {
	path := r.top + "/pod-" + id + "/" + id
	pod := &nri.PodSandbox{Id: "pod-" + id, Name: "pod-" + id, Namespace: "default", Uid: "uid-" + id, Annotations: annotations}
	ctr := &nri.Container{Id: id, PodSandboxId: pod.Id, Name: "app", Linux: &nri.LinuxContainer{CgroupsPath: path}}
	return &simContainer{pod: pod, ctr: ctr, path: path, dir: filepath.Join(r.cg.Dir, path)}
}

// create is a runtime creating a container: NRI CreateContainer, then (if
// mkdir) its cgroup. With start, StartContainer follows. The container
// exists for the runtime once CreateContainer has succeeded.
func (r *simRuntime) create(c *simContainer, mkdir, start bool) error {
	block := r.rt.BlockPluginSync()
	defer block.Unblock()
	ctx := context.Background()
	if err := r.rt.RunPodSandbox(ctx, &nri.RunPodSandboxRequest{Pod: c.pod}); err != nil {
		return fmt.Errorf("RunPodSandbox: %w", err)
	}
	if _, err := r.rt.CreateContainer(ctx, &nri.CreateContainerRequest{Pod: c.pod, Container: c.ctr}); err != nil {
		return fmt.Errorf("CreateContainer: %w", err)
	}
	r.mu.Lock()
	r.pods[c.pod.Id], r.ctrs[c.ctr.Id] = c.pod, c.ctr
	r.mu.Unlock()
	if !mkdir {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if !start {
		return nil
	}
	if err := r.rt.StartContainer(ctx, &nri.StartContainerRequest{Pod: c.pod, Container: c.ctr}); err != nil {
		return fmt.Errorf("StartContainer: %w", err)
	}
	return nil
}

// remove is a runtime removing a container and its pod, and runc removing
// the cgroup.
func (r *simRuntime) remove(c *simContainer) error {
	block := r.rt.BlockPluginSync()
	defer block.Unblock()
	ctx := context.Background()
	r.mu.Lock()
	delete(r.ctrs, c.ctr.Id)
	delete(r.pods, c.pod.Id)
	r.mu.Unlock()
	if _, err := r.rt.StopContainer(ctx, &nri.StopContainerRequest{Pod: c.pod, Container: c.ctr}); err != nil {
		return fmt.Errorf("StopContainer: %w", err)
	}
	_ = unix.Rmdir(c.dir)
	_ = unix.Rmdir(filepath.Dir(c.dir))
	if err := r.rt.RemoveContainer(ctx, &nri.RemoveContainerRequest{Pod: c.pod, Container: c.ctr}); err != nil {
		return fmt.Errorf("RemoveContainer: %w", err)
	}
	if err := r.rt.RemovePodSandbox(ctx, &nri.RemovePodSandboxRequest{Pod: c.pod}); err != nil {
		return fmt.Errorf("RemovePodSandbox: %w", err)
	}
	return nil
}

// daemon is `krsi plugin` as a node runs it: its own process, so that it
// can be SIGKILLed like a crashed daemon.
type daemon struct {
	t       testing.TB
	cfgPath string
	logPath string
	// bin is the krsi binary start runs, KRSI_BIN when empty; env is added
	// to its environment (the upgrade tests: another build, a crash step).
	bin    string
	env    []string
	cmd    *exec.Cmd
	waited chan struct{}
}

// newDaemon writes a node configuration for the runtime's socket, pin dir
// and profile dir. It does not start the daemon.
func newDaemon(t testing.TB, sock, pinDir, profileDir string) *daemon {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("socketPath: %s\npinDir: %s\nprofileDirs: [%s]\nrecordDir: %s\n",
		sock, pinDir, profileDir, filepath.Join(dir, "recorded"))
	d := &daemon{t: t, cfgPath: filepath.Join(dir, "krsi.yaml"), logPath: filepath.Join(dir, "krsi.log")}
	if err := os.WriteFile(d.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.kill()
		enforcement.Unload(pinDir)
		if t.Failed() {
			data, _ := os.ReadFile(d.logPath)
			lines := strings.Split(string(data), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			t.Logf("krsi's log (last lines):\n%s", strings.Join(lines, "\n"))
		}
	})
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logf.Close()
	bin := d.bin
	if bin == "" {
		bin = kerneltest.Env(d.t, "KRSI_BIN")
	}
	cmd := exec.Command(bin, "plugin", "--config", d.cfgPath,
		"--log-format", "text", "--events-socket", "")
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.cmd, d.waited = cmd, make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(cmd, d.waited)
}

// kill SIGKILLs the daemon and waits until it is gone.
func (d *daemon) kill() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.waited
	d.cmd = nil
}

// exited waits up to within for the daemon to end on its own (a crash or a
// refusal to start) and says whether it did.
func (d *daemon) exited(within time.Duration) bool {
	if d.cmd == nil {
		return true
	}
	select {
	case <-d.waited:
		d.cmd = nil
		return true
	case <-time.After(within):
		return false
	}
}

// memory returns the daemon's resident and peak resident set, in KiB.
func (d *daemon) memory() (rss, hwm int) {
	if d.cmd == nil {
		return 0, 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "VmRSS:" {
			rss, _ = strconv.Atoi(f[1])
		}
		if len(f) >= 2 && f[0] == "VmHWM:" {
			hwm, _ = strconv.Atoi(f[1])
		}
	}
	return rss, hwm
}

func (d *daemon) log() string {
	data, _ := os.ReadFile(d.logPath)
	return string(data)
}

// writeProfiles writes node profile files into a new directory.
func writeProfiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// execDenyProfile is a node profile named name that denies one path.
func execDenyProfile(name, path string) string {
	return "apiVersion: krsi.dev/v1\nkind: Profile\nname: " + name + "\nexec:\n  deny: [" + path + "]\n"
}

// pinnedState reads what the kernel holds now, as `krsi status` does.
func pinnedState(t testing.TB, pinDir string) *enforcement.Status {
	t.Helper()
	st, err := enforcement.ReadStatus(pinDir)
	if err != nil {
		t.Fatalf("read pinned state: %v", err)
	}
	return st
}
