package plugin_test

import (
	"context"
	"strings"
	"testing"

	nri "github.com/containerd/nri/pkg/adaptation"

	"github.com/krsi-dev/krsi/plugin"
)

// Huge and adversarial input from the runtime side, sent over NRI's real
// socket: each one gets a precise error, and the plugin goes on serving
// (the next, ordinary container is confined as usual).
func TestHugeAndAdversarialInputIsRefusedAndKrsiServesOn(t *testing.T) {
	fake := newFake()
	e := newEnv(t, plugin.DefaultConfig(), fake)
	wx := map[string]string{"profile.krsi.dev/pod": "builtin/wx"}
	tests := []struct {
		name        string
		annotations map[string]string
		cgroupsPath string
		image       string
		wantErr     []string
	}{
		// NRI's transport (ttrpc) carries at most 4 MiB a message: the
		// runtime fails the request before krsi sees it, so the container
		// is not created (it is not an error that drops the plugin).
		{"10 MB annotation", map[string]string{"profile.krsi.dev/pod": strings.Repeat("x", 10<<20)}, "/k8s.io/h1", "busybox:1",
			[]string{"exceed", "maximum message size"}},
		{"10 MB of annotations krsi does not read", map[string]string{"other.example.com/blob": strings.Repeat("x", 10<<20)}, "/k8s.io/h2", "busybox:1",
			[]string{"maximum message size"}},
		{"1 MB profile annotation", map[string]string{"profile.krsi.dev/pod": strings.Repeat("x", 1<<20)}, "/k8s.io/h3", "busybox:1",
			[]string{"annotation profile.krsi.dev/pod: value is 1048576 bytes long, at most 256"}},
		{"1 MB container name in an annotation key", map[string]string{"profile.krsi.dev/container." + strings.Repeat("a", 1<<20): "builtin/wx"}, "/k8s.io/h4", "busybox:1",
			[]string{"is not a container name"}},
		{"1 MB image name", nil, "/k8s.io/h5", strings.Repeat("i", 1<<20),
			[]string{"image name", "is 1048576 bytes long"}},
		{"root cgroup", wx, "/", "busybox:1",
			[]string{"names the root cgroup", "refusing to run it unconfined"}},
		{"100,000 annotations", manyAnnotations(100000), "/k8s.io/h6", "busybox:1",
			[]string{"not a krsi annotation"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pod("bad"+string(rune('a'+i)), tt.annotations)
			err := e.run.Create(p, ctr(p, "bad", "app", tt.cgroupsPath, tt.image))
			if err == nil {
				t.Fatal("CreateContainer succeeded; want it refused")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %.300q lacks %q", err, w)
				}
			}
			if len(err.Error()) > 2048 {
				t.Errorf("the error is %d bytes long", len(err.Error()))
			}
			if len(fake.staged) != 0 {
				t.Errorf("a refused container left a staging: %v", fake.staged)
			}
			// Still serving: an ordinary container is staged with its profile.
			ok := pod("ok"+string(rune('a'+i)), wx)
			path := "/k8s.io/ok" + string(rune('a'+i))
			if err := e.run.Create(ok, ctr(ok, "ok"+string(rune('a'+i)), "app", path, "busybox:1")); err != nil {
				t.Fatalf("the next container: %v", err)
			}
			if _, staged := fake.staged[path]; !staged {
				t.Fatal("the next container was not staged: krsi stopped serving")
			}
			if err := e.run.NRI().RemoveContainer(context.Background(), &nri.RemoveContainerRequest{Pod: ok,
				Container: ctr(ok, "ok"+string(rune('a'+i)), "app", path, "busybox:1")}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// manyAnnotations is n annotations of which one is a malformed krsi key.
func manyAnnotations(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n - 1 {
		m["example.com/k"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i)] = "v"
	}
	m["profile.krsi.dev/bogus"] = "builtin/wx"
	return m
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
