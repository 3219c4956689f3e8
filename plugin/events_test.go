package plugin

import (
	"testing"

	"github.com/containerd/nri/pkg/api"
)

// A runtime whose NRI predates validation refuses a plugin that subscribes
// to it; one that has it must get it (it closes the timed-out-request gap).
func TestValidationSubscribedOnlyWhereTheRuntimeKnowsIt(t *testing.T) {
	p := &Plugin{}
	crio134, _ := api.InferVersionFromRuntime("cri-o", "v1.34.0")
	for _, tt := range []struct {
		runtime, version, nri string
		want                  bool
	}{
		{"containerd", "v2.4.2", "v0.12.3", true},
		{"containerd", "v2.2.0", "v0.10.0", true},
		{"containerd", "v2.1.4", "v0.8.0", false},
		{"containerd", "1.7.35", "v0.6.1", false},
		{"cri-o", "1.34.0", crio134, false}, // NRI's table says v0.10.0; its go.mod says v0.9.1
		{"cri-o", "1.34.0", "v0.9.1", false},
		{"cri-o", "1.35.0", "v0.11.0", true},
		{"containerd", "v2.4.2", "unknown", false},
		{"other", "", "", false},
	} {
		m := p.events(tt.runtime, tt.version, tt.nri)
		if got := m.IsSet(api.Event_VALIDATE_CONTAINER_ADJUSTMENT); got != tt.want {
			t.Errorf("%s %s, NRI %q: subscribes to validation = %v, want %v", tt.runtime, tt.version, tt.nri, got, tt.want)
		}
		if !m.IsSet(api.Event_CREATE_CONTAINER) || !m.IsSet(api.Event_RUN_POD_SANDBOX) {
			t.Errorf("NRI %q: mask %s lacks the container events", tt.nri, m.PrettyString())
		}
	}
}
