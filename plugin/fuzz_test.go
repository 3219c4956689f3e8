package plugin_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/catalog"
	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/plugin"
	"github.com/krsi-dev/krsi/selector"
)

// FuzzCreateContainer feeds the plugin CreateContainer requests decoded
// from arbitrary bytes the way the NRI stub decodes what the runtime sends
// (vtproto). The plugin must not panic; its errors stay short; and a
// container it accepts is staged whenever selection gives it a profile —
// never let through unconfined. Synchronize takes the same pod and
// container without panicking.
func FuzzCreateContainer(f *testing.F) {
	profDir := f.TempDir()
	cat, err := catalog.Open([]string{profDir}, logrus.New())
	if err != nil {
		f.Fatal(err)
	}
	for _, req := range []*api.CreateContainerRequest{
		{Pod: &api.PodSandbox{Id: "p", Name: "web", Namespace: "shop", Annotations: map[string]string{"profile.krsi.dev/pod": "builtin/wx"}},
			Container: &api.Container{Id: "c", PodSandboxId: "p", Name: "app", Linux: &api.LinuxContainer{CgroupsPath: "/kubepods/besteffort/podu/c"}}},
		{Pod: &api.PodSandbox{Id: "p", Name: "web", Namespace: "shop"},
			Container: &api.Container{Id: "c", PodSandboxId: "p", Name: "app", Image: &api.Image{Name: "nginx:1.27", Digest: "sha256:" + strings.Repeat("a", 64)},
				Annotations: map[string]string{"mode.krsi.dev/container.app": "audit", "profile.krsi.dev/container.app": "builtin/no-shell"},
				Linux:       &api.LinuxContainer{CgroupsPath: "kubepods-besteffort-podu.slice:cri-containerd:c"}}},
		{Pod: &api.PodSandbox{Id: "p", Annotations: map[string]string{"record.krsi.dev/container.app": "rec"}},
			Container: &api.Container{Id: "c", Name: "app", Linux: &api.LinuxContainer{CgroupsPath: "/"}}},
	} {
		data, err := req.MarshalVT()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req api.CreateContainerRequest
		if err := req.UnmarshalVT(data); err != nil {
			return // the stub refuses it before krsi sees it
		}
		fake := newFake()
		cfg := plugin.DefaultConfig()
		cg := cgroup.Mount{Dir: t.TempDir(), Root: "/"}
		log := logrus.New()
		log.SetLevel(logrus.PanicLevel)
		p := plugin.New(cfg, fake, cat, cg, log)
		_, _, err := p.CreateContainer(context.Background(), req.Pod, req.Container)
		if err != nil {
			if len(err.Error()) > 4096 {
				t.Fatalf("error is %d bytes long", len(err.Error()))
			}
		} else if ownRecordKey(req.Pod, req.Container) && !slices.Contains(cfg.ExemptNamespaces, req.Pod.GetNamespace()) {
			t.Fatal("a container with a record annotation was accepted on a node that allows recording nowhere")
		} else if !hasRecordKey(req.Pod, req.Container) {
			d, serr := selector.Select(cfg.Selection(), cat, selector.Container{
				Name: req.Container.GetName(), Namespace: req.Pod.GetNamespace(), Pod: req.Pod.GetName(),
				Image: plugin.ImageOf(req.Container), PodAnnotations: req.Pod.GetAnnotations(), Annotations: req.Container.GetAnnotations(),
			})
			if serr != nil {
				t.Fatalf("selection fails (%v) but the plugin accepted the container", serr)
			}
			if d.Profile != nil && len(fake.staged) == 0 {
				t.Fatalf("profile %s selected, nothing staged: the container would run unconfined", d.Ref)
			}
		}
		var pods []*api.PodSandbox
		if req.Pod != nil {
			pods = append(pods, req.Pod)
		}
		var ctrs []*api.Container
		if req.Container != nil {
			ctrs = append(ctrs, req.Container)
		}
		if _, err := p.Synchronize(context.Background(), pods, ctrs); err != nil {
			t.Fatalf("Synchronize: %v", err)
		}
	})
}

// ownRecordKey: the container carries a record annotation for itself.
func ownRecordKey(pod *api.PodSandbox, ctr *api.Container) bool {
	key := "record.krsi.dev/container." + plugin.NameOf(ctr)
	_, own := ctr.GetAnnotations()[key]
	_, pods := pod.GetAnnotations()[key]
	return own || pods
}

func hasRecordKey(pod *api.PodSandbox, ctr *api.Container) bool {
	for _, m := range []map[string]string{pod.GetAnnotations(), ctr.GetAnnotations()} {
		for k := range m {
			if strings.HasPrefix(k, "record.krsi.dev") {
				return true
			}
		}
	}
	return false
}

// FuzzParseConfig feeds the node configuration parser arbitrary YAML (a
// pre-registered krsi gets it from the runtime in Configure). It must not
// panic, and what it accepts has the fields the plugin cannot run without.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"",
		"socketPath: /run/nri.sock\npinDir: /sys/fs/bpf/krsi\ndefaultProfile: builtin/wx\n",
		"pluginIndex: \"1\"\n",
		"exemptNamespaces: [kube-system]\nexemptPods: [a/b]\nallowUnconfined: true\n",
		"a: &x [1]\nb: *x\n",
		"policy:\n  default:\n    profiles: [builtin/*]\n    bindingImageProfiles: [localhost/*]\n  namespaces:\n    team-a:\n      profiles: []\n      allowUnconfined: true\n",
		"policy:\n  namespaces:\n    Team: {}\n",
		"recording:\n  namespaces: [dev, \"*\"]\n  maxRecordings: 1\n  maxPaths: 0\n",
		"recording:\n  maxBytes: 99999999999999999999\n",
		"---\n---\n",
		"healthAddr: \":9465\"\nmetricsAddr: 127.0.0.1:9464\n",
		"healthAddr: \"[::1]:http\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := plugin.ParseConfig("fuzz.conf", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.conf") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if cfg.SocketPath == "" || cfg.PinDir == "" || cfg.PluginName == "" || len(cfg.PluginIndex) != 2 {
			t.Fatalf("accepted an unusable configuration: %+v", cfg)
		}
		for key, addr := range map[string]string{"healthAddr": cfg.HealthAddr, "metricsAddr": cfg.MetricsAddr} {
			if err := plugin.CheckListenAddr(key, addr); err != nil {
				t.Fatalf("accepted an address krsi cannot serve on: %v", err)
			}
		}
		// What is accepted is a policy the node can apply: never one it
		// would have to guess at (and so possibly weaken).
		if err := cfg.Policy.Check(); err != nil {
			t.Fatalf("accepted a policy that does not check: %v", err)
		}
		if err := cfg.Recording.Check(); err != nil || cfg.Recording.MaxRecordings < 1 || cfg.Recording.MaxBytes < 1 || cfg.Recording.MaxPaths < 1 {
			t.Fatalf("accepted recording settings %+v: %v", cfg.Recording, err)
		}
		if len(cfg.Recording.Namespaces) == 0 && cfg.Recording.Allows("default") {
			t.Fatal("recording allowed with no namespace listed")
		}
	})
}
