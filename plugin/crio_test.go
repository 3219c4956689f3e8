package plugin_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	nri "github.com/containerd/nri/pkg/adaptation"

	"github.com/krsi-dev/krsi/plugin"
)

// crioCtr is a container as CRI-O 1.34 reports it over NRI (server/nri-api.go,
// internal/factory/container): the name from the kubelet's label
// io.kubernetes.container.name (label "" = no such label: a client other than
// the kubelet), the pod's annotations copied into the container's, then CRI-O's
// own (metadata, image), cgroupfs path <parent>/crio-<id>.
func crioCtr(p *nri.PodSandbox, id, name, label, image string) *nri.Container {
	ann := maps.Clone(p.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	ann["io.kubernetes.cri-o.Metadata"] = fmt.Sprintf(`{"name":%q,"attempt":0}`, name)
	ann["io.kubernetes.cri-o.ImageName"] = image
	if label != "" {
		ann["io.kubernetes.container.name"] = label
	}
	return &nri.Container{
		Id: id, PodSandboxId: p.Id, Name: label, Annotations: ann,
		Linux: &nri.LinuxContainer{CgroupsPath: "/kubepods/besteffort/pod" + p.Uid + "/crio-" + id},
	}
}

func TestCRIOContainersSelectAsOnContainerd(t *testing.T) {
	wx := map[string]string{"profile.krsi.dev/container.app": "builtin/wx"}
	tests := []struct {
		name        string
		podAnn      map[string]string
		ctrName     string
		label       string
		image       string
		wantProfile string
	}{
		{"annotation for this container", wx, "app", "app", "busybox:1", "builtin/wx"},
		// The pod's annotation, copied into every container, still names one.
		{"annotation for another container", wx, "side", "side", "busybox:1", ""},
		// No kubelet label: NRI's name is empty; CRI-O's metadata has it.
		{"no name label", wx, "app", "", "busybox:1", "builtin/wx"},
		{"no name label, another container", wx, "side", "", "busybox:1", ""},
		// The image comes only as CRI-O's annotation.
		{"image profile", nil, "app", "app", "docker.io/library/nginx:1.27", "localhost/web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			e := newEnv(t, plugin.DefaultConfig(), fake)
			p := pod("a", tt.podAnn)
			c := crioCtr(p, "c1", tt.ctrName, tt.label, tt.image)
			if err := e.run.Create(p, c); err != nil {
				t.Fatalf("CreateContainer: %v", err)
			}
			id := e.mkCgroup(c.Linux.CgroupsPath)
			if name, _ := fake.profileOf(id); name != tt.wantProfile {
				t.Fatalf("container %s bound to %q; want %q", tt.ctrName, name, tt.wantProfile)
			}
		})
	}
}

func TestCRIOContainerWithoutLabelIsNamedInErrors(t *testing.T) {
	e := newEnv(t, plugin.DefaultConfig(), newFake())
	p := pod("a", map[string]string{"profile.krsi.dev/container.app": "builtin/nope"})
	err := e.run.Create(p, crioCtr(p, "c1", "app", "", "busybox:1"))
	if err == nil || !strings.Contains(err.Error(), "krsi: container app of pod default/pod-a: ") {
		t.Fatalf("CreateContainer: %v; want it refused, naming container app", err)
	}
}
