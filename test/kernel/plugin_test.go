package kernel_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	nri "github.com/containerd/nri/pkg/adaptation"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/catalog"
	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/plugin"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// pluginEnv is the container flow without a container runtime binary: NRI's
// own runtime half in this process, krsi's plugin connected to it over a real
// socket and enforcing with real pinned programs, and the cgroups a runtime
// would create made by the test.
type pluginEnv struct {
	rt     *nri.Adaptation
	enf    *enforcement.Enforcer
	cg     cgroup.Mount
	plugin *plugin.Plugin
}

func startPlugin(t *testing.T, profileFile string) *pluginEnv {
	t.Helper()
	dir, err := os.MkdirTemp("", "nri-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	profDir := filepath.Join(dir, "profiles.d")
	os.Mkdir(profDir, 0o755)
	if err := os.WriteFile(filepath.Join(profDir, "p.yaml"), []byte(profileFile), 0o644); err != nil {
		t.Fatal(err)
	}

	cfg := plugin.DefaultConfig()
	cfg.SocketPath = filepath.Join(dir, "nri.sock")
	cfg.PinDir = "/sys/fs/bpf/krsi-plugin-" + filepath.Base(dir)
	cfg.ProfileDirs = []string{profDir}
	t.Cleanup(func() { enforcement.Unload(cfg.PinDir) })

	synced := make(chan struct{}, 1)
	rt, err := nri.New("containerd", "2.4.2",
		func(ctx context.Context, cb nri.SyncCB) error {
			_, err := cb(ctx, nil, nil)
			synced <- struct{}{}
			return err
		},
		func(context.Context, []*nri.ContainerUpdate) ([]*nri.ContainerUpdate, error) { return nil, nil },
		nri.WithSocketPath(cfg.SocketPath), nri.WithPluginPath(filepath.Join(dir, "plugins")),
		nri.WithPluginConfigPath(filepath.Join(dir, "conf.d")))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Stop)

	enf, err := enforcement.Open(enforcement.Options{PinDir: cfg.PinDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enf.Close() })
	log := logrus.New()
	cat, err := catalog.Open(cfg.ProfileDirs, log)
	if err != nil {
		t.Fatal(err)
	}
	cg, err := cgroup.Find()
	if err != nil {
		t.Fatal(err)
	}
	p := plugin.New(cfg, enf, cat, cg, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-synced:
	case <-time.After(20 * time.Second):
		t.Fatal("plugin did not synchronize")
	}
	// The runtime routes requests to a plugin only after its Synchronize: an
	// unknown profile is refused once it does.
	ready := &nri.PodSandbox{Id: "ready", Name: "ready", Annotations: map[string]string{"profile.krsi.dev/pod": "builtin/not-a-profile"}}
	readyCtr := &nri.Container{Id: "ready", PodSandboxId: "ready", Name: "ready", Linux: &nri.LinuxContainer{CgroupsPath: "/ready"}}
	for i := 0; ; i++ {
		if _, err := rt.CreateContainer(context.Background(), &nri.CreateContainerRequest{Pod: ready, Container: readyCtr}); err != nil {
			break
		}
		if i == 200 {
			t.Fatal("the runtime did not route requests to the plugin")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &pluginEnv{rt: rt, enf: enf, cg: cg, plugin: p}
}

// createContainer sends the runtime's CreateContainer and, like runc, then
// creates the container's cgroup (parents first). It returns the cgroup's
// directory.
func (e *pluginEnv) createContainer(t *testing.T, annotations map[string]string, id, cgroupsPath string) string {
	t.Helper()
	pod := &nri.PodSandbox{Id: "pod-" + id, Name: "pod-" + id, Namespace: "default", Annotations: annotations}
	ctr := &nri.Container{Id: id, PodSandboxId: pod.Id, Name: "app", Linux: &nri.LinuxContainer{CgroupsPath: cgroupsPath}}
	ctx := context.Background()
	if err := e.rt.RunPodSandbox(ctx, &nri.RunPodSandboxRequest{Pod: pod}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.CreateContainer(ctx, &nri.CreateContainerRequest{Pod: pod, Container: ctr}); err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	path, err := cgroup.FromCgroupsPath(cgroupsPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.cg.Dir, path)
	top := filepath.Join(e.cg.Dir, strings.Split(strings.TrimPrefix(path, "/"), "/")[0])
	t.Cleanup(func() { removeTree(top) })
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func removeTree(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeTree(filepath.Join(dir, e.Name()))
		}
	}
	_ = unix.Rmdir(dir)
}

// execIn starts argv as the first process of the cgroup (cloned into it) and
// returns the error of its exec, as a runtime would see it.
func execIn(t *testing.T, dir string, argv ...string) error {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	return cmd.Run()
}

func TestPluginConfinesAContainerFromItsFirstExec(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	e := startPlugin(t, "apiVersion: krsi.dev/v1\nkind: Profile\nname: no-probe\nexec:\n  deny: ["+probe+"]\n")
	tests := []struct{ name, cgroupsPath string }{
		{"cgroupfs driver", "/krsitest/besteffort/pod1/ctr-fs"},
		{"systemd driver", "krsitest-besteffort-pod2.slice:cri-containerd:ctr-sd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := e.createContainer(t, map[string]string{"profile.krsi.dev/container.app": "localhost/no-probe"},
				filepath.Base(tt.cgroupsPath), tt.cgroupsPath)
			err := execIn(t, dir, probe, "open", "/dev/null", "r")
			if err == nil || !strings.Contains(err.Error(), "operation not permitted") {
				t.Fatalf("the container's first exec: %v; want EPERM", err)
			}
			// The same binary runs outside the container's cgroup.
			if err := exec.Command(probe, "open", "/dev/null", "r").Run(); err != nil {
				t.Fatalf("outside the container: %v", err)
			}
		})
	}
}

func TestPluginEnforcesWXInAContainer(t *testing.T) {
	kerneltest.Require(t)
	e := startPlugin(t, "apiVersion: krsi.dev/v1\nkind: Profile\nname: unused\n")
	dir := e.createContainer(t, map[string]string{"profile.krsi.dev/pod": "builtin/wx"},
		"wx1", "krsitest-pod3.slice:crio:wx1")
	events, err := e.enf.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	// StartContainer, as the runtime sends it once the container's process exists.
	pod := &nri.PodSandbox{Id: "pod-wx1", Name: "pod-wx1", Namespace: "default"}
	ctr := &nri.Container{Id: "wx1", PodSandboxId: pod.Id, Name: "app",
		Linux: &nri.LinuxContainer{CgroupsPath: "krsitest-pod3.slice:crio:wx1"}}
	if err := e.rt.StartContainer(context.Background(), &nri.StartContainerRequest{Pod: pod, Container: ctr}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	if r := kerneltest.Run(t, dir, kerneltest.Env(t, "KRSI_PROBE"), "mprotect-rw-rx"); !r.Denied() {
		t.Fatalf("W^X in a builtin/wx container: %s", r)
	}
	// The event names the container it came from.
	events.SetDeadline(time.Now().Add(5 * time.Second))
	ev, err := events.Read()
	if err != nil {
		t.Fatal(err)
	}
	src := e.plugin.Identify(ev.CgroupID, ev.ProfileID)
	if src.Container != "app" || src.Pod != "pod-wx1" || src.Namespace != "default" || src.ContainerID != "wx1" ||
		src.Profile != "builtin/wx" || ev.Reason != "wx-anonymous" {
		t.Fatalf("event %+v identified as %+v", ev, src)
	}
	id, err := cgroup.ID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok, err := e.enf.Lookup(id); err != nil || !ok || !b.Staged {
		t.Fatalf("binding = %+v, %v, %v; want staged at creation", b, ok, err)
	}
}
