package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/metrics"
	"github.com/krsi-dev/krsi/profiles"
)

// fakeSource is a kernel side whose reads can fail.
type fakeSource struct {
	bindings map[uint64]enforced.Binding
	staged   map[string]enforced.Binding
	dropped  uint64
	failed   uint64
	nested   uint64
	usage    []enforced.MapUsage
	err      error // returned by Bindings and MapUsage when set
}

func (f *fakeSource) Bindings() (map[uint64]enforced.Binding, error) { return f.bindings, f.err }
func (f *fakeSource) Staged() (map[string]enforced.Binding, error)   { return f.staged, nil }
func (f *fakeSource) DroppedEvents() (uint64, error)                 { return f.dropped, nil }
func (f *fakeSource) FailedBindings() (uint64, error)                { return f.failed, nil }
func (f *fakeSource) NestedRefused() (uint64, error)                 { return f.nested, nil }
func (f *fakeSource) MapUsage() ([]enforced.MapUsage, error)         { return f.usage, f.err }

func source() *fakeSource {
	return &fakeSource{
		bindings: map[uint64]enforced.Binding{
			10: {Profile: 1, Mode: profiles.ModeEnforce, Staged: true},
			11: {Profile: 1, Mode: profiles.ModeEnforce, Inherited: true},
			12: {Profile: 2, Mode: profiles.ModeAudit},
		},
		staged:  map[string]enforced.Binding{"/kubepods/pod1/ctr": {Profile: 1}},
		dropped: 7,
		failed:  2,
		nested:  4,
		usage: []enforced.MapUsage{
			{Name: "krsi_bindings", Entries: 3, MaxEntries: 65536},
			{Name: "krsi_rules", Entries: 40, MaxEntries: 1 << 20},
		},
	}
}

// scrape is a Prometheus scrape of m's handler, done in memory: the test VM
// has no network, not even loopback.
func scrape(t *testing.T, m *metrics.Metrics) prometheus.Gatherer {
	t.Helper()
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("GET /metrics: %d %s", rec.Code, rec.Body)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		byName, err := parser.TextToMetricFamilies(rec.Body)
		if err != nil {
			return nil, fmt.Errorf("parse /metrics: %w", err)
		}
		var out []*dto.MetricFamily
		for _, f := range byName {
			out = append(out, f)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
		return out, nil
	})
}

func TestScrapeServesKernelStateReadAtScrapeTime(t *testing.T) {
	src := source()
	g := scrape(t, metrics.New(src))
	want := `
# HELP krsi_bound_cgroups Cgroups bound to a profile in the kernel (krsi_bindings), by mode. Nested cgroups that inherited a binding count too.
# TYPE krsi_bound_cgroups gauge
krsi_bound_cgroups{mode="audit"} 1
krsi_bound_cgroups{mode="enforce"} 2
# HELP krsi_staged_cgroups Cgroup paths staged to be bound when the runtime creates them (krsi_staged).
# TYPE krsi_staged_cgroups gauge
krsi_staged_cgroups 1
# HELP krsi_events_dropped_total Events the kernel could not queue because the ring buffer was full, since the maps were created. Enforcement is unaffected; the decisions are lost to logs and metrics.
# TYPE krsi_events_dropped_total counter
krsi_events_dropped_total 7
# HELP krsi_failed_bindings_total Cgroups the kernel could not bind at creation (staged or inherited) because krsi_bindings was full, since the maps were created.
# TYPE krsi_failed_bindings_total counter
krsi_failed_bindings_total 2
# HELP krsi_nested_refused_total Cgroups created inside bound ones that the kernel left unbound because their container had used its quota of nested bindings (or all containers their share of krsi_bindings), since the maps were created. No bound process can enter them.
# TYPE krsi_nested_refused_total counter
krsi_nested_refused_total 4
# HELP krsi_map_entries Entries in a BPF map that grows with use.
# TYPE krsi_map_entries gauge
krsi_map_entries{map="krsi_bindings"} 3
krsi_map_entries{map="krsi_rules"} 40
# HELP krsi_map_max_entries Capacity of a BPF map; an update fails once krsi_map_entries reaches it.
# TYPE krsi_map_max_entries gauge
krsi_map_max_entries{map="krsi_bindings"} 65536
krsi_map_max_entries{map="krsi_rules"} 1.048576e+06
`
	names := []string{"krsi_bound_cgroups", "krsi_staged_cgroups", "krsi_events_dropped_total",
		"krsi_failed_bindings_total", "krsi_nested_refused_total", "krsi_map_entries", "krsi_map_max_entries"}
	if err := testutil.GatherAndCompare(g, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}

	// The next scrape reads the kernel again.
	src.dropped = 9
	src.bindings[13] = enforced.Binding{Profile: 2, Mode: profiles.ModeAudit}
	want = `
# HELP krsi_bound_cgroups Cgroups bound to a profile in the kernel (krsi_bindings), by mode. Nested cgroups that inherited a binding count too.
# TYPE krsi_bound_cgroups gauge
krsi_bound_cgroups{mode="audit"} 2
krsi_bound_cgroups{mode="enforce"} 2
# HELP krsi_events_dropped_total Events the kernel could not queue because the ring buffer was full, since the maps were created. Enforcement is unaffected; the decisions are lost to logs and metrics.
# TYPE krsi_events_dropped_total counter
krsi_events_dropped_total 9
`
	if err := testutil.GatherAndCompare(g, strings.NewReader(want), "krsi_bound_cgroups", "krsi_events_dropped_total"); err != nil {
		t.Fatal(err)
	}
}

func TestScrapeCountsDecisionsNRILatencyAndProfiles(t *testing.T) {
	m := metrics.New(source())
	m.ObserveEvent("bprm_check_security", "denied", "builtin/wx", "web")
	m.ObserveEvent("bprm_check_security", "denied", "builtin/wx", "web")
	m.ObserveEvent("file_open", "audited", "shop/api", "shop")
	m.ObserveNRI("CreateContainer", 30*time.Microsecond)
	m.ObserveNRI("CreateContainer", 3*time.Millisecond)
	m.ObserveNRI("CreateContainer", 3*time.Second)
	m.SetProfilesLoaded(4)
	want := `
# HELP krsi_decisions_total Operations the kernel denied (enforce mode) or let through and reported (audit mode), from its events, by LSM hook, action (denied, audited), profile and pod namespace. Events lost in the ring buffer are not counted here: see krsi_events_dropped_total.
# TYPE krsi_decisions_total counter
krsi_decisions_total{action="audited",hook="file_open",namespace="shop",profile="shop/api"} 1
krsi_decisions_total{action="denied",hook="bprm_check_security",namespace="web",profile="builtin/wx"} 2
# HELP krsi_nri_callback_duration_seconds Time krsi took to answer an NRI callback from the runtime, by callback. The runtime gives up on a plugin after 2s by default.
# TYPE krsi_nri_callback_duration_seconds histogram
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="5e-05"} 1
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.0001"} 1
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.00025"} 1
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.0005"} 1
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.001"} 1
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.0025"} 1
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.005"} 2
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.01"} 2
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.025"} 2
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.05"} 2
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.1"} 2
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.25"} 2
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="0.5"} 2
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="1"} 2
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="2"} 2
krsi_nri_callback_duration_seconds_bucket{callback="CreateContainer",le="+Inf"} 3
krsi_nri_callback_duration_seconds_sum{callback="CreateContainer"} 3.00303
krsi_nri_callback_duration_seconds_count{callback="CreateContainer"} 3
# HELP krsi_profiles_loaded Profiles the plugin has written to the kernel.
# TYPE krsi_profiles_loaded gauge
krsi_profiles_loaded 4
`
	err := testutil.GatherAndCompare(scrape(t, m), strings.NewReader(want),
		"krsi_decisions_total", "krsi_nri_callback_duration_seconds", "krsi_profiles_loaded")
	if err != nil {
		t.Fatal(err)
	}
}

func TestScrapeLeavesOutWhatTheKernelCouldNotRead(t *testing.T) {
	src := source()
	src.err = errors.New("bpf: operation not permitted")
	g := scrape(t, metrics.New(src))
	want := `
# HELP krsi_metrics_read_errors_total Scrapes that could not read a kernel value, by what was read; that value was left out.
# TYPE krsi_metrics_read_errors_total counter
krsi_metrics_read_errors_total{read="bindings"} 1
krsi_metrics_read_errors_total{read="map_usage"} 1
# HELP krsi_staged_cgroups Cgroup paths staged to be bound when the runtime creates them (krsi_staged).
# TYPE krsi_staged_cgroups gauge
krsi_staged_cgroups 1
`
	err := testutil.GatherAndCompare(g, strings.NewReader(want),
		"krsi_metrics_read_errors_total", "krsi_staged_cgroups", "krsi_bound_cgroups", "krsi_map_entries")
	if err != nil {
		t.Fatal(err)
	}
}

// Metrics off is a nil *Metrics that the event path calls for every event:
// each call must neither panic nor cost an allocation.
func TestNilMetricsObserveNothing(t *testing.T) {
	var m *metrics.Metrics
	for _, tt := range []struct {
		name string
		call func()
	}{
		{"ObserveEvent", func() { m.ObserveEvent("file_open", "denied", "p", "ns") }},
		{"ObserveNRI", func() { m.ObserveNRI("CreateContainer", time.Millisecond) }},
		{"SetProfilesLoaded", func() { m.SetProfilesLoaded(1) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s on a nil *Metrics panicked: %v", tt.name, r)
				}
			}()
			if n := testing.AllocsPerRun(10, tt.call); n != 0 {
				t.Errorf("%s on a nil *Metrics allocated %v times a call, want 0: it must do nothing", tt.name, n)
			}
		})
	}
}

func TestServeAnswersUntilTheContextEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	m := metrics.New(source())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, addr) }()

	var body string
	for i := 0; i < 50; i++ {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, "krsi_events_dropped_total 7") {
		t.Fatalf("GET /metrics on %s: %q", addr, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after the context ended: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the context ended")
	}
}

func TestServeFailsOnAnAddressItCannotListenOn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = metrics.New(source()).Serve(context.Background(), ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "metrics: listen on "+ln.Addr().String()) {
		t.Fatalf("Serve on a busy port: %v", err)
	}
}
