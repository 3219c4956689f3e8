package plugin_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"testing"
	"time"

	nri "github.com/containerd/nri/pkg/adaptation"
	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/plugin"
	"github.com/krsi-dev/krsi/test/nrisim"
)

var wxAnnotation = map[string]string{"profile.krsi.dev/container.app": "builtin/wx"}

// BenchmarkCreateStartContainer times CreateContainer + StartContainer of one
// container (annotated builtin/wx, cgroupfs path) through NRI's runtime half
// over its real socket: once with no plugin (the baseline: NRI's own cost)
// and once with krsi connected. krsi's added latency is the difference of the
// two, reported as p50 and p99 over b.N containers; sandbox-p50 is the
// RunPodSandbox before each (krsi subscribes to it to release sandboxes from
// the fail-closed fallback). The enforcer is the
// in-memory fake: the kernel map writes are measured in the VM suite's
// enforcement benchmarks. The runtime's own work (creating the cgroup) is
// outside the timing.
//
//	go test -run '^$' -bench CreateStartContainer -benchtime 1000x ./plugin
func BenchmarkCreateStartContainer(b *testing.B) {
	for _, tt := range []struct {
		name string
		fake *fakeEnforcer
		ann  map[string]string
		noFC bool
	}{
		{"runtime-only", nil, wxAnnotation, false},
		{"with-krsi", newFake(), wxAnnotation, false},
		// No profile selected: krsi stages it "unconfined" so that the kernel's
		// fallback skips it (fail closed).
		{"with-krsi-unannotated", newFake(), nil, false},
		{"with-krsi-unannotated-fail-closed-off", newFake(), nil, true},
	} {
		b.Run(tt.name, func(b *testing.B) {
			cfg := plugin.DefaultConfig()
			if tt.noFC {
				cfg.FallbackProfile = "unconfined"
			}
			e := newEnv(b, cfg, tt.fake, nrisim.WithoutProxy())
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			sandbox := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := fmt.Sprintf("c%d", i)
				p := pod(id, tt.ann)
				c := ctr(p, id, "app", "/k8s.io/"+id, "busybox:1")
				t0 := time.Now()
				if err := e.run.NRI().RunPodSandbox(ctx, &nri.RunPodSandboxRequest{Pod: p}); err != nil {
					b.Fatal(err)
				}
				sandbox = append(sandbox, time.Since(t0))
				t0 = time.Now()
				if _, err := e.run.NRI().CreateContainer(ctx, &nri.CreateContainerRequest{Pod: p, Container: c}); err != nil {
					b.Fatal(err)
				}
				d := time.Since(t0)
				b.StopTimer()
				e.mkCgroup("/k8s.io/" + id)
				b.StartTimer()
				t0 = time.Now()
				if err := e.run.StartContainer(p, c); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, d+time.Since(t0))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			sort.Slice(sandbox, func(i, j int) bool { return sandbox[i] < sandbox[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(sandbox[len(sandbox)/2].Microseconds()), "sandbox-p50-µs")
		})
	}
}

// NRI's runtime half and stub log through logrus' standard logger; their
// chatter would bury test and benchmark output (the plugin's own log goes to
// the test's log).
func TestMain(m *testing.M) {
	logrus.SetOutput(io.Discard)
	os.Exit(m.Run())
}
