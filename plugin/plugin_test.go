package plugin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	nri "github.com/containerd/nri/pkg/adaptation"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/plugin"
	"github.com/krsi-dev/krsi/profiles"
)

const nodeProfile = `apiVersion: krsi.dev/v1
kind: Profile
name: web
images: ["docker.io/library/nginx:*"]
memory:
  wx: deny
`

func pod(id string, annotations map[string]string) *nri.PodSandbox {
	return &nri.PodSandbox{Id: id, Name: "pod-" + id, Namespace: "default", Uid: "uid-" + id, Annotations: annotations}
}

func ctr(p *nri.PodSandbox, id, name, cgroupsPath, image string) *nri.Container {
	return &nri.Container{
		Id: id, PodSandboxId: p.Id, Name: name,
		Annotations: map[string]string{"io.kubernetes.cri.image-name": image},
		Linux:       &nri.LinuxContainer{CgroupsPath: cgroupsPath},
	}
}

func TestCreateContainerStagesTheSelectedProfile(t *testing.T) {
	tests := []struct {
		name        string
		cfg         func(*plugin.Config)
		annotations map[string]string
		image       string
		cgroupsPath string
		wantPath    string
		wantProfile string
		wantMode    profiles.Mode
	}{
		{
			name:        "container annotation, cgroupfs",
			annotations: map[string]string{"profile.krsi.dev/container.app": "builtin/wx"},
			image:       "busybox:1", cgroupsPath: "/kubepods/besteffort/poda/c1",
			wantPath: "/kubepods/besteffort/poda/c1", wantProfile: "builtin/wx", wantMode: profiles.ModeEnforce,
		},
		{
			name:        "pod annotation, systemd driver",
			annotations: map[string]string{"profile.krsi.dev/pod": "builtin/no-shell"},
			image:       "busybox:1", cgroupsPath: "kubepods-besteffort-poda.slice:cri-containerd:c1",
			wantPath:    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-poda.slice/cri-containerd-c1.scope",
			wantProfile: "builtin/no-shell", wantMode: profiles.ModeEnforce,
		},
		{
			name:  "image profile file",
			image: "docker.io/library/nginx:1.27", cgroupsPath: "/k8s.io/c1",
			wantPath: "/k8s.io/c1", wantProfile: "localhost/web", wantMode: profiles.ModeEnforce,
		},
		{
			name:  "node default",
			cfg:   func(c *plugin.Config) { c.DefaultProfile = "builtin/readonly-root" },
			image: "busybox:1", cgroupsPath: "/k8s.io/c1",
			wantPath: "/k8s.io/c1", wantProfile: "builtin/readonly-root", wantMode: profiles.ModeEnforce,
		},
		{
			name: "mode toward stricter",
			annotations: map[string]string{"profile.krsi.dev/container.app": "builtin/wx",
				"mode.krsi.dev/container.app": "audit"},
			cfg:   func(c *plugin.Config) { c.AllowModeRelax = true },
			image: "busybox:1", cgroupsPath: "/k8s.io/c1",
			wantPath: "/k8s.io/c1", wantProfile: "builtin/wx", wantMode: profiles.ModeAudit,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := plugin.DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			e := newEnv(t, cfg, newFake())
			p := pod("a", tt.annotations)
			c := ctr(p, "c1", "app", tt.cgroupsPath, tt.image)
			if err := e.run.Create(p, c); err != nil {
				t.Fatalf("CreateContainer: %v", err)
			}
			id := e.mkCgroup(tt.wantPath)
			if name, mode := e.fake.profileOf(id); name != tt.wantProfile || mode != tt.wantMode {
				t.Fatalf("cgroup %s bound to %q (%s); want %q (%s)", tt.wantPath, name, mode, tt.wantProfile, tt.wantMode)
			}
			if tt.wantProfile == "" {
				return
			}
			// Exec rules wait for the entrypoint (runc 1.1's start-up execs)
			// and are armed before the runtime starts it.
			if b := e.fake.binding(id); !b.ExecPending {
				t.Fatalf("after CreateContainer, cgroup %s exec rules are armed; want them pending until StartContainer", tt.wantPath)
			}
			if err := e.run.StartContainer(p, c); err != nil {
				t.Fatalf("StartContainer: %v", err)
			}
			if b := e.fake.binding(id); b.ExecPending {
				t.Fatalf("after StartContainer, cgroup %s exec rules still wait for the entrypoint", tt.wantPath)
			}
		})
	}
}

func TestCreateContainerRefusesBadInput(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		cgroupsPath string
		wantErr     []string
	}{
		{"unknown builtin", map[string]string{"profile.krsi.dev/container.app": "builtin/nope"}, "/k8s.io/c1",
			[]string{"profile.krsi.dev/container.app", "nope"}},
		{"unknown node profile", map[string]string{"profile.krsi.dev/pod": "localhost/missing"}, "/k8s.io/c1",
			[]string{"profile.krsi.dev/pod", "missing"}},
		{"forbidden opt-out", map[string]string{"profile.krsi.dev/pod": "unconfined"}, "/k8s.io/c1",
			[]string{"profile.krsi.dev/pod", "unconfined"}},
		{"forbidden relax", map[string]string{"profile.krsi.dev/pod": "builtin/wx", "mode.krsi.dev/container.app": "audit"},
			"/k8s.io/c1", []string{"mode.krsi.dev/container.app"}},
		{"cgroup path that cannot be staged", map[string]string{"profile.krsi.dev/pod": "builtin/wx"}, "/a/../b",
			[]string{"cgroupsPath", "refusing to run it unconfined"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			e := newEnv(t, plugin.DefaultConfig(), fake)
			p := pod("a", tt.annotations)
			err := e.run.Create(p, ctr(p, "c1", "app", tt.cgroupsPath, "busybox:1"))
			if err == nil {
				t.Fatal("CreateContainer succeeded; want it refused")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if len(fake.staged) != 0 {
				t.Errorf("a refused container left a staging: %v", fake.staged)
			}
		})
	}
}

func TestNoProfileMeansUnconfined(t *testing.T) {
	fake := newFake()
	e := newEnv(t, plugin.DefaultConfig(), fake)
	p := pod("a", nil)
	c := ctr(p, "c1", "app", "/k8s.io/c1", "busybox:1")
	if err := e.run.Create(p, c); err != nil {
		t.Fatal(err)
	}
	id := e.mkCgroup("/k8s.io/c1")
	if name, _ := fake.profileOf(id); name != "" {
		t.Fatalf("bound to %q without any profile selected", name)
	}
}

func TestStartContainerBindsWhenStagingWasMissed(t *testing.T) {
	fake := newFake()
	e := newEnv(t, plugin.DefaultConfig(), fake)
	p := pod("a", map[string]string{"profile.krsi.dev/pod": "builtin/no-shell"})
	// Outside the marked parents (no fallback), and under one (the kernel
	// gave it the fallback, builtin/wx): either way the start binds it.
	for _, path := range []string{"/elsewhere/c1", "/k8s.io/c2"} {
		c := ctr(p, filepath.Base(path), "app", path, "busybox:1")
		if err := e.run.Create(p, c); err != nil {
			t.Fatal(err)
		}
		fake.Unstage(path) // as if the kernel had missed it
		id := e.mkCgroup(path)
		if name, _ := fake.profileOf(id); name == "builtin/no-shell" {
			t.Fatal("test setup: the cgroup should not have its profile")
		}
		if err := e.run.StartContainer(p, c); err != nil {
			t.Fatal(err)
		}
		if name, _ := fake.profileOf(id); name != "builtin/no-shell" {
			t.Fatalf("%s: after StartContainer bound to %q, want builtin/no-shell", path, name)
		}
	}
}

func TestStartContainerFailsWithoutItsCgroup(t *testing.T) {
	e := newEnv(t, plugin.DefaultConfig(), newFake())
	p := pod("a", map[string]string{"profile.krsi.dev/pod": "builtin/wx"})
	c := ctr(p, "c1", "app", "/k8s.io/c1", "busybox:1")
	if err := e.run.Create(p, c); err != nil {
		t.Fatal(err)
	}
	err := e.run.StartContainer(p, c)
	if err == nil || !strings.Contains(err.Error(), "refusing to start it unconfined") {
		t.Fatalf("StartContainer with no cgroup: %v", err)
	}
}

func TestRemoveReleasesEverything(t *testing.T) {
	fake := newFake()
	e := newEnv(t, plugin.DefaultConfig(), fake)
	p := pod("a", map[string]string{"profile.krsi.dev/pod": "builtin/wx"})
	c := ctr(p, "c1", "app", "/k8s.io/c1", "busybox:1")
	if err := e.run.Create(p, c); err != nil {
		t.Fatal(err)
	}
	id := e.mkCgroup("/k8s.io/c1")
	if err := e.run.StartContainer(p, c); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.run.NRI().StopContainer(ctx, &nri.StopContainerRequest{Pod: p, Container: c}); err != nil {
		t.Fatal(err)
	}
	if err := e.run.NRI().RemoveContainer(ctx, &nri.RemoveContainerRequest{Pod: p, Container: c}); err != nil {
		t.Fatal(err)
	}
	if name, _ := fake.profileOf(id); name != "" || len(fake.staged) != 0 {
		t.Fatalf("after removal: bound to %q, staged %v", name, fake.staged)
	}
}

func TestProfileIsLoadedOncePerVersion(t *testing.T) {
	fake := newFake()
	e := newEnv(t, plugin.DefaultConfig(), fake)
	before := fake.sets // the fallback profile, loaded at start-up
	for i, id := range []string{"c1", "c2", "c3"} {
		p := pod(id, map[string]string{"profile.krsi.dev/pod": "builtin/no-shell"})
		if err := e.run.Create(p, ctr(p, id, "app", "/k8s.io/"+id, "busybox:1")); err != nil {
			t.Fatal(err)
		}
		if fake.sets-before != 1 {
			t.Fatalf("after %d containers SetProfile ran %d times; want once", i+1, fake.sets-before)
		}
	}
}

func TestRestartReconcilesWithTheRuntime(t *testing.T) {
	fake := newFake()
	e := newEnv(t, plugin.DefaultConfig(), fake)
	live := pod("a", map[string]string{"profile.krsi.dev/pod": "builtin/wx"})
	gone := pod("b", map[string]string{"profile.krsi.dev/pod": "builtin/wx"})
	lc := ctr(live, "c1", "app", "/k8s.io/c1", "busybox:1")
	gc := ctr(gone, "c2", "app", "/k8s.io/c2", "busybox:1")
	for _, pc := range []struct {
		p *nri.PodSandbox
		c *nri.Container
	}{{live, lc}, {gone, gc}} {
		if err := e.run.Create(pc.p, pc.c); err != nil {
			t.Fatal(err)
		}
	}
	liveID := e.mkCgroup("/k8s.io/c1")
	nestedID := e.mkCgroup("/k8s.io/c1/nested") // made while krsi was away: no inheritance
	goneID := e.mkCgroup("/k8s.io/c2")

	// krsi goes away; c2 is removed meanwhile; krsi comes back and the runtime
	// reports what runs.
	e.stopPlugin()
	e.run.Report([]*nri.PodSandbox{live}, []*nri.Container{lc})
	e.startPlugin(plugin.DefaultConfig())

	if name, _ := fake.profileOf(liveID); name != "builtin/wx" {
		t.Errorf("live container bound to %q after restart", name)
	}
	if name, _ := fake.profileOf(nestedID); name != "builtin/wx" {
		t.Errorf("nested cgroup of a live container bound to %q after restart", name)
	}
	if name, _ := fake.profileOf(goneID); name != "" {
		t.Errorf("removed container still bound to %q", name)
	}
	if _, ok := fake.staged["/k8s.io/c2"]; ok {
		t.Error("removed container still staged")
	}
}

func TestConfigRejectsUnknownFields(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"defaultProfile: builtin/wx\n", ""},
		{"defaultProfil: builtin/wx\n", "field defaultProfil not found"},
		{"pluginIndex: \"7\"\n", `pluginIndex "7": want two digits`},
		{"socketPath: \"\"\n", "must not be empty"},
		{"a: 1\n---\nb: 2\n", "field a not found"},
	}
	for _, tt := range tests {
		_, err := plugin.ParseConfig("10-krsi.conf", []byte(tt.in))
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ParseConfig(%q) = %v; want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestNodeProfileChangeSwapsRunningContainers(t *testing.T) {
	fake := newFake()
	e := newEnv(t, plugin.DefaultConfig(), fake)
	p := pod("a", nil)
	if err := e.run.Create(p, ctr(p, "c1", "app", "/k8s.io/c1", "docker.io/library/nginx:1.27")); err != nil {
		t.Fatal(err)
	}
	id := e.mkCgroup("/k8s.io/c1")
	bound := func() *profiles.Compiled {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return fake.profiles[fake.bindings[id].Profile]
	}
	if c := bound(); c == nil || c.Name != "localhost/web" || c.UsesExec() {
		t.Fatalf("bound to %+v; want localhost/web with no exec rules", c)
	}

	file := filepath.Join(e.profDir, "web.yaml")
	reload := func() {
		t.Helper()
		changed, err := e.catalog.Reload()
		if err != nil {
			t.Fatal(err)
		}
		e.plugin.ProfilesChanged(changed)
	}
	if err := os.WriteFile(file, []byte(nodeProfile+"exec:\n  deny: [/bin/sh]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reload()
	v2 := bound()
	if v2 == nil || !v2.UsesExec() || fake.bindings[id].Profile == 0 {
		t.Fatalf("after the edit bound to %+v; want the new version, same binding", v2)
	}

	// A broken edit: the version in force stays.
	if err := os.WriteFile(file, []byte(nodeProfile+"exec:\n  deny: [relative/path]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reload()
	if got := bound(); got != v2 {
		t.Fatalf("a broken file replaced the profile in force: %+v", got)
	}
}

func TestRecordAnnotationRecordsTheRunIntoAProfile(t *testing.T) {
	fake := newFake()
	cfg := plugin.DefaultConfig()
	cfg.RecordDir = t.TempDir()
	cfg.Recording.Namespaces = []string{"default"}
	e := newEnv(t, cfg, fake)
	p := pod("a", map[string]string{"record.krsi.dev/container.app": "myapp"})
	c := ctr(p, "c1", "app", "/k8s.io/c1", "busybox:1")
	if err := e.run.Create(p, c); err != nil {
		t.Fatal(err)
	}
	id := e.mkCgroup("/k8s.io/c1")
	if name, mode := fake.profileOf(id); name != "krsi/record" || mode != profiles.ModeAudit {
		t.Fatalf("a recorded container is bound to %q (%s); want krsi/record in audit mode", name, mode)
	}
	if err := e.run.StartContainer(p, c); err != nil {
		t.Fatal(err)
	}
	e.plugin.Observe(enforced.Event{CgroupID: id, Hook: "bprm_check_security", Reason: "default",
		Path: "/usr/bin/app", Access: profiles.AccessExec, Comm: "app"}, eventlog.Source{})
	e.plugin.Observe(enforced.Event{CgroupID: id, Hook: "file_open", Reason: "default",
		Path: "/etc/app.conf", Access: profiles.AccessRead, Comm: "app"}, eventlog.Source{})
	e.plugin.Observe(enforced.Event{CgroupID: id + 1, Hook: "file_open", Reason: "default",
		Path: "/etc/other", Access: profiles.AccessRead, Comm: "x"}, eventlog.Source{}) // another cgroup

	if _, err := e.run.NRI().StopContainer(context.Background(), &nri.StopContainerRequest{Pod: p, Container: c}); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(cfg.RecordDir, "myapp.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: myapp", `"/usr/bin/app"`, `path: "/etc/app.conf"`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("recorded profile lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(string(text), "/etc/other") {
		t.Errorf("another cgroup's event was recorded:\n%s", text)
	}
}

func TestRecordAnnotationRejectsBadNames(t *testing.T) {
	e := newEnv(t, plugin.DefaultConfig(), newFake())
	p := pod("a", map[string]string{"record.krsi.dev/container.app": "../etc/passwd"})
	err := e.run.Create(p, ctr(p, "c1", "app", "/k8s.io/c1", "busybox:1"))
	if err == nil || !strings.Contains(err.Error(), "record.krsi.dev/container.app") {
		t.Fatalf("want the bad record name refused, naming the annotation; got %v", err)
	}
}

// The example node configuration in deploy/ is what a node gets by default.
func TestDeployedConfigIsTheDefault(t *testing.T) {
	data, err := os.ReadFile("../deploy/nri/10-krsi.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := plugin.ParseConfig("10-krsi.conf", data)
	if err != nil {
		t.Fatal(err)
	}
	def := plugin.DefaultConfig()
	if fmt.Sprint(cfg) != fmt.Sprint(def) {
		t.Fatalf("deploy/nri/10-krsi.conf = %+v\ndefaults             = %+v", cfg, def)
	}
}

// Fail closed: what the kernel's fallback leaves for the plugin to do.

const qosPath = "/kubepods/besteffort"

func kubePod(id string, annotations map[string]string) *nri.PodSandbox {
	p := pod(id, annotations)
	p.Linux = &nri.LinuxPodSandbox{CgroupParent: qosPath + "/pod" + id, CgroupsPath: qosPath + "/pod" + id + "/sandbox-" + id}
	return p
}

func TestUnconfinedContainerIsStagedSoTheFallbackSkipsIt(t *testing.T) {
	fake := newFake()
	e := newEnv(t, plugin.DefaultConfig(), fake)
	p := kubePod("a", nil)
	c := ctr(p, "c1", "app", qosPath+"/poda/c1", "busybox:1")
	e.mkCgroup(qosPath + "/poda")
	if err := e.run.Create(p, c); err != nil {
		t.Fatal(err)
	}
	if b := fake.staged[qosPath+"/poda/c1"]; !b.Unconfined {
		t.Fatalf("unconfined container staged as %+v; want unconfined", b)
	}
	id := e.mkCgroup(qosPath + "/poda/c1")
	if name, _ := fake.profileOf(id); name != "" {
		t.Fatalf("a container krsi left unconfined got %q", name)
	}
	c.Pid = 0
	if err := e.run.StartContainer(p, c); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.staged[qosPath+"/poda/c1"]; ok {
		t.Fatal("the unconfined staging outlived the start")
	}
}

func TestSandboxIsReleasedFromTheFallback(t *testing.T) {
	fake := newFake()
	e := newEnv(t, plugin.DefaultConfig(), fake)
	p := kubePod("a", map[string]string{"profile.krsi.dev/pod": "builtin/no-shell"})
	e.mkCgroup(qosPath + "/poda")
	sandbox := e.mkCgroup(qosPath + "/poda/sandbox-a") // the runtime made it before telling NRI
	if name, _ := fake.profileOf(sandbox); name != "builtin/wx" {
		t.Fatalf("test setup: the sandbox should have the fallback, has %q", name)
	}
	if err := e.run.NRI().RunPodSandbox(context.Background(), &nri.RunPodSandboxRequest{Pod: p}); err != nil {
		t.Fatal(err)
	}
	if name, _ := fake.profileOf(sandbox); name != "" {
		t.Fatalf("the pod sandbox is still bound to %q after RunPodSandbox", name)
	}
}

func TestSynchronizeMovesFallbackContainersToTheirProfile(t *testing.T) {
	fake := newFake()
	e := newEnv(t, plugin.DefaultConfig(), fake)
	e.stopPlugin()

	// Created while krsi was down: the kernel gave all three the fallback.
	wx := kubePod("a", map[string]string{"profile.krsi.dev/pod": "builtin/no-shell"})
	plain := kubePod("b", nil)
	e.mkCgroup(qosPath + "/poda")
	e.mkCgroup(qosPath + "/podb")
	sandbox := e.mkCgroup(qosPath + "/poda/sandbox-a")
	confined := e.mkCgroup(qosPath + "/poda/c1")
	open := e.mkCgroup(qosPath + "/podb/c2")
	for _, id := range []uint64{sandbox, confined, open} {
		if name, _ := fake.profileOf(id); name != "builtin/wx" {
			t.Fatalf("test setup: cgroup %d should have the fallback, has %q", id, name)
		}
	}
	e.run.Report([]*nri.PodSandbox{wx, plain},
		[]*nri.Container{ctr(wx, "c1", "app", qosPath+"/poda/c1", "busybox:1"), ctr(plain, "c2", "app", qosPath+"/podb/c2", "busybox:1")})
	e.startPlugin(plugin.DefaultConfig())

	if name, _ := fake.profileOf(confined); name != "builtin/no-shell" {
		t.Errorf("container with an annotation: bound to %q after Synchronize, want builtin/no-shell", name)
	}
	if b, _, _ := fake.Lookup(confined); b.Fallback {
		t.Error("its binding is still flagged fallback")
	}
	if name, _ := fake.profileOf(open); name != "" {
		t.Errorf("container selected unconfined still bound to %q", name)
	}
	if name, _ := fake.profileOf(sandbox); name != "" {
		t.Errorf("pod sandbox still bound to %q", name)
	}
	if recs, _ := fake.Fallbacks(); len(recs) != 0 {
		t.Errorf("fallback records left: %v", recs)
	}
	logs := e.logText()
	for _, want := range []string{
		`msg="container ran under the fallback profile (created while krsi was down or too slow)" cgroup=/kubepods/besteffort/poda/c1 container=app container_id=c1 fallback_profile=builtin/wx for=1m30`,
		`now=builtin/no-shell`,
		`container_id=c2 fallback_profile=builtin/wx for=1m30`,
		`now="unconfined (as selected)"`,
		`msg="pod sandbox released from the fallback profile" cgroup=/kubepods/besteffort/poda/sandbox-a`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestFallbackConfig(t *testing.T) {
	def := plugin.DefaultConfig()
	if got := def.Fallback(); got != "builtin/wx" {
		t.Errorf("fallback with no default profile = %q, want builtin/wx", got)
	}
	def.DefaultProfile = "localhost/web"
	if got := def.Fallback(); got != "localhost/web" {
		t.Errorf("fallback with a default profile = %q, want it", got)
	}
	def.DefaultProfile = "unconfined"
	if got := def.Fallback(); got != "builtin/wx" {
		t.Errorf("fallback with default unconfined = %q, want builtin/wx", got)
	}
	for _, tt := range []struct{ in, wantErr string }{
		{"podCgroupParents: [/kubepods]\ncontainerCgroupParents: []\n", ""},
		{"podCgroupParents: [/]\n", "the cgroup root holds the host's own cgroups"},
		{"podCgroupParents: [kubepods]\n", `"kubepods" is not a clean absolute cgroup path`},
		{"podCgroupParents: [/kubepods/../system.slice]\n", "not a clean absolute cgroup path"},
		{"podCgroupParents: [/kubepods]\ncontainerCgroupParents: [/kubepods]\n", "listed twice"},
	} {
		_, err := plugin.ParseConfig("10-krsi.conf", []byte(tt.in))
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ParseConfig(%q) = %v; want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestFallbackOffLeavesTheKernelUnmarked(t *testing.T) {
	fake := newFake()
	cfg := plugin.DefaultConfig()
	cfg.FallbackProfile = "unconfined"
	e := newEnv(t, cfg, fake)
	e.mkCgroup(qosPath + "/podz")
	if id := e.mkCgroup(qosPath + "/podz/c1"); fake.bindings[id] != (enforced.Binding{}) {
		t.Fatalf("fail closed off, yet a new container got %+v", fake.bindings[id])
	}
}

func TestValidationFollowsACgroupAnotherPluginMoved(t *testing.T) {
	fake := newFake()
	e := newEnv(t, plugin.DefaultConfig(), fake)
	p := kubePod("a", map[string]string{"profile.krsi.dev/pod": "builtin/no-shell"})
	c := ctr(p, "c1", "app", qosPath+"/poda/c1", "busybox:1")
	if err := e.run.Create(p, c); err != nil {
		t.Fatal(err)
	}
	req := &nri.ValidateContainerAdjustmentRequest{Pod: p, Container: c,
		Adjust: &nri.ContainerAdjustment{Linux: &nri.LinuxContainerAdjustment{CgroupsPath: qosPath + "/poda/moved"}}}
	if err := e.plugin.ValidateContainerAdjustment(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if b, ok := fake.staged[qosPath+"/poda/moved"]; !ok || b.Unconfined {
		t.Fatalf("moved cgroup staged as %+v, %v; want the container's profile", b, ok)
	}
	if _, ok := fake.staged[qosPath+"/poda/c1"]; ok {
		t.Fatal("the old path is still staged")
	}
	req.Adjust.Linux.CgroupsPath = "/a/../b"
	if err := e.plugin.ValidateContainerAdjustment(context.Background(), req); err == nil ||
		!strings.Contains(err.Error(), "which krsi cannot stage") {
		t.Fatalf("a cgroups_path krsi cannot stage: %v", err)
	}
}
