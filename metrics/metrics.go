// Package metrics serves krsi's Prometheus metrics. It watches the whole
// pipeline from the side: NRI callbacks (their latency), the profiles the
// plugin loaded, the kernel's maps (bindings, staged paths, fill levels, read
// at scrape time) and the decisions the kernel reports as events.
//
// The endpoint is off unless a daemon calls Serve; it binds where it is told
// and has no authentication: keep it on loopback or a node-local address.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/health"
	"github.com/krsi-dev/krsi/profiles"
)

// Source is what the metrics read from the kernel side at each scrape
// (an *enforcement.Enforcer, wired in by cmd/krsi).
type Source interface {
	Bindings() (map[uint64]enforced.Binding, error)
	Staged() (map[string]enforced.Binding, error)
	DroppedEvents() (uint64, error)
	FailedBindings() (uint64, error)
	NestedRefused() (uint64, error)
	MapUsage() ([]enforced.MapUsage, error)
}

// NRIBuckets are the bounds of the NRI callback latency histogram, in
// seconds: 50µs to 2s, the runtime's default timeout for a plugin's reply.
var NRIBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2,
}

// Metrics is krsi's set of metrics. A nil *Metrics is valid: its Observe and
// Set methods do nothing, so callers need not check whether metrics are on.
type Metrics struct {
	registry  *prometheus.Registry
	decisions *prometheus.CounterVec
	nri       *prometheus.HistogramVec
	profiles  prometheus.Gauge
}

// New makes the metrics; src is read at every scrape.
func New(src Source) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "krsi_decisions_total",
			Help: "Operations the kernel denied (enforce mode) or let through and reported (audit mode), " +
				"from its events, by LSM hook, action (denied, audited), profile and pod namespace. " +
				"Events lost in the ring buffer are not counted here: see krsi_events_dropped_total.",
		}, []string{"hook", "action", "profile", "namespace"}),
		nri: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "krsi_nri_callback_duration_seconds",
			Help: "Time krsi took to answer an NRI callback from the runtime, by callback. " +
				"The runtime gives up on a plugin after 2s by default.",
			Buckets: NRIBuckets,
		}, []string{"callback"}),
		profiles: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "krsi_profiles_loaded",
			Help: "Profiles the plugin has written to the kernel.",
		}),
	}
	m.registry.MustRegister(m.decisions, m.nri, m.profiles, newKernelCollector(src),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveEvent counts one decision the kernel reported. Call it for every
// event read, suppressed by the event log's rate limit or not (the
// eventlog.Options.Observe hook sees them all).
func (m *Metrics) ObserveEvent(hook, action, profile, namespace string) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(hook, action, profile, namespace).Inc()
}

// ObserveNRI records how long an NRI callback took.
func (m *Metrics) ObserveNRI(callback string, d time.Duration) {
	if m == nil {
		return
	}
	m.nri.WithLabelValues(callback).Observe(d.Seconds())
}

// SetProfilesLoaded sets how many profiles the plugin has in the kernel.
func (m *Metrics) SetProfilesLoaded(n int) {
	if m == nil {
		return
	}
	m.profiles.Set(float64(n))
}

// Handler serves the metrics in the Prometheus exposition formats. A metric
// whose kernel read fails is left out of that scrape and counted in
// krsi_metrics_read_errors_total; the rest are served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          m.registry,
		Timeout:           10 * time.Second,
		EnableOpenMetrics: true,
	})
}

// Serve serves /metrics on addr (host:port, e.g. 127.0.0.1:9464) until ctx
// ends, then returns nil. It returns at once if addr cannot be listened on.
func (m *Metrics) Serve(ctx context.Context, addr string) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	if err := health.Serve(ctx, addr, mux); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// kernelCollector reads the kernel's state at scrape time.
type kernelCollector struct {
	src        Source
	bound      *prometheus.Desc
	staged     *prometheus.Desc
	dropped    *prometheus.Desc
	failed     *prometheus.Desc
	nested     *prometheus.Desc
	entries    *prometheus.Desc
	maxEntries *prometheus.Desc
	readErrors *prometheus.CounterVec
}

func newKernelCollector(src Source) *kernelCollector {
	return &kernelCollector{
		src: src,
		bound: prometheus.NewDesc("krsi_bound_cgroups",
			"Cgroups bound to a profile in the kernel (krsi_bindings), by mode. Nested cgroups that "+
				"inherited a binding count too.", []string{"mode"}, nil),
		staged: prometheus.NewDesc("krsi_staged_cgroups",
			"Cgroup paths staged to be bound when the runtime creates them (krsi_staged).", nil, nil),
		dropped: prometheus.NewDesc("krsi_events_dropped_total",
			"Events the kernel could not queue because the ring buffer was full, since the maps were "+
				"created. Enforcement is unaffected; the decisions are lost to logs and metrics.", nil, nil),
		failed: prometheus.NewDesc("krsi_failed_bindings_total",
			"Cgroups the kernel could not bind at creation (staged or inherited) because krsi_bindings "+
				"was full, since the maps were created.", nil, nil),
		nested: prometheus.NewDesc("krsi_nested_refused_total",
			"Cgroups created inside bound ones that the kernel left unbound because their container had "+
				"used its quota of nested bindings (or all containers their share of krsi_bindings), since "+
				"the maps were created. No bound process can enter them.", nil, nil),
		entries: prometheus.NewDesc("krsi_map_entries",
			"Entries in a BPF map that grows with use.", []string{"map"}, nil),
		maxEntries: prometheus.NewDesc("krsi_map_max_entries",
			"Capacity of a BPF map; an update fails once krsi_map_entries reaches it.", []string{"map"}, nil),
		readErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "krsi_metrics_read_errors_total",
			Help: "Scrapes that could not read a kernel value, by what was read; that value was left out.",
		}, []string{"read"}),
	}
}

func (c *kernelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bound, c.staged, c.dropped, c.failed, c.nested, c.entries, c.maxEntries} {
		ch <- d
	}
	c.readErrors.Describe(ch)
}

func (c *kernelCollector) Collect(ch chan<- prometheus.Metric) {
	if b, err := c.src.Bindings(); c.ok("bindings", err) {
		byMode := map[profiles.Mode]int{profiles.ModeEnforce: 0, profiles.ModeAudit: 0}
		for _, x := range b {
			byMode[x.Mode]++
		}
		for mode, n := range byMode {
			ch <- prometheus.MustNewConstMetric(c.bound, prometheus.GaugeValue, float64(n), string(mode))
		}
	}
	if s, err := c.src.Staged(); c.ok("staged", err) {
		ch <- prometheus.MustNewConstMetric(c.staged, prometheus.GaugeValue, float64(len(s)))
	}
	if n, err := c.src.DroppedEvents(); c.ok("dropped_events", err) {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(n))
	}
	if n, err := c.src.FailedBindings(); c.ok("failed_bindings", err) {
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(n))
	}
	if n, err := c.src.NestedRefused(); c.ok("nested_refused", err) {
		ch <- prometheus.MustNewConstMetric(c.nested, prometheus.CounterValue, float64(n))
	}
	if usage, err := c.src.MapUsage(); c.ok("map_usage", err) {
		for _, u := range usage {
			ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(u.Entries), u.Name)
			ch <- prometheus.MustNewConstMetric(c.maxEntries, prometheus.GaugeValue, float64(u.MaxEntries), u.Name)
		}
	}
	c.readErrors.Collect(ch)
}

func (c *kernelCollector) ok(read string, err error) bool {
	if err != nil {
		c.readErrors.WithLabelValues(read).Inc()
		return false
	}
	return true
}
