package kernel_test

import (
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
	"github.com/krsi-dev/krsi/test/nrisim"
)

// pluginEnv is the container flow without a container runtime binary: NRI's
// own runtime half in this process (nrisim), krsi's plugin connected to it
// over a real socket and enforcing with real pinned programs, and the cgroups
// a runtime would create made by the test.
type pluginEnv struct {
	rt     *nrisim.Runtime
	enf    *enforcement.Enforcer
	cg     cgroup.Mount
	plugin *plugin.Plugin
}

func startPlugin(t *testing.T, profileFile string) *pluginEnv {
	t.Helper()
	rt := nrisim.Start(t)
	profDir := writeProfiles(t, map[string]string{"p": profileFile})
	cfg := plugin.DefaultConfig()
	cfg.SocketPath = rt.Sock
	cfg.PinDir = "/sys/fs/bpf/krsi-plugin-" + filepath.Base(filepath.Dir(rt.Sock))
	cfg.ProfileDirs = []string{profDir}
	t.Cleanup(func() { enforcement.Unload(cfg.PinDir) })

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
	rt.Connect(t, p, 20*time.Second)
	return &pluginEnv{rt: rt, enf: enf, cg: cg, plugin: p}
}

// createContainer sends the runtime's CreateContainer and, like runc, then
// creates the container's cgroup (parents first). It returns the cgroup's
// directory.
func (e *pluginEnv) createContainer(t *testing.T, annotations map[string]string, id, cgroupsPath string) string {
	t.Helper()
	pod := &nri.PodSandbox{Id: "pod-" + id, Name: "pod-" + id, Namespace: "default", Annotations: annotations}
	ctr := &nri.Container{Id: id, PodSandboxId: pod.Id, Name: "app", Linux: &nri.LinuxContainer{CgroupsPath: cgroupsPath}}
	if err := e.rt.Create(pod, ctr); err != nil {
		t.Fatal(err)
	}
	path, err := cgroup.FromCgroupsPath(cgroupsPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.cg.Dir, path)
	top := filepath.Join(e.cg.Dir, strings.Split(strings.TrimPrefix(path, "/"), "/")[0])
	t.Cleanup(func() { kerneltest.RemoveCgroup(top) })
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
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
	if err := e.rt.StartContainer(pod, ctr); err != nil {
		t.Fatal(err)
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
