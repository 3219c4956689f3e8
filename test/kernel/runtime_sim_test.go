package kernel_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	nri "github.com/containerd/nri/pkg/adaptation"
	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/test/kerneltest"
	"github.com/krsi-dev/krsi/test/nrisim"
)

// simRuntime is the runtime side of the fault and load tests: nrisim's
// runtime, and the cgroups runc would create, made and removed by hand.
type simRuntime struct {
	*nrisim.Runtime
	cg  cgroup.Mount
	top string // hierarchy path all of this runtime's cgroups live under
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
	cg, err := cgroup.Find()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kerneltest.RemoveCgroup(filepath.Join(cg.Dir, top)) })
	// containerd's NRI timeouts as the e2e node sets them for an emulated
	// CPU: with the 2 s default, a krsi slowed by a busy host is dropped and
	// reconnects, which the tests count as a fault.
	rt := nrisim.Start(t, nrisim.Timeouts(15*time.Second, 30*time.Second))
	return &simRuntime{Runtime: rt, cg: cg, top: top}
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
	if err := r.Create(c.pod, c.ctr); err != nil || !mkdir {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil || !start {
		return err
	}
	return r.StartContainer(c.pod, c.ctr)
}

// remove is a runtime removing a container and its pod, and runc removing
// the cgroup.
func (r *simRuntime) remove(c *simContainer) error {
	return r.Remove(c.pod, c.ctr, func() {
		_ = unix.Rmdir(c.dir)
		_ = unix.Rmdir(filepath.Dir(c.dir))
	})
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
