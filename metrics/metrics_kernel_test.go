package metrics_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/metrics"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

func TestMetricsServeTheKernelsStateAndDecisions(t *testing.T) {
	kerneltest.Require(t)
	e, err := enforcement.Open(enforcement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p, err := profiles.Parse("metrics.yaml", []byte("apiVersion: krsi.dev/v1\nkind: Profile\nname: metrics\n"+
		"memory:\n  wx: deny\nexec:\n  deny: ["+kerneltest.Env(t, "KRSI_DYN_TRUE")+"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Compile()
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.SetProfile(c)
	if err != nil {
		t.Fatal(err)
	}
	cg, _ := kerneltest.Cgroup(t, "metrics")
	if err := e.Bind(kerneltest.ID(t, cg), id, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	_, staged := kerneltest.CgroupPath(t, "metrics-staged")
	if err := e.Stage(staged, id, profiles.ModeAudit); err != nil {
		t.Fatal(err)
	}

	m := metrics.New(e)
	rd, err := e.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if r := kerneltest.Run(t, cg, kerneltest.Env(t, "KRSI_PROBE"), "exec", kerneltest.Env(t, "KRSI_DYN_TRUE")); !r.Denied() {
		t.Fatalf("exec of a denied binary: %s", r)
	}
	rd.SetDeadline(time.Now().Add(5 * time.Second))
	ev, err := rd.Read()
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveEvent(ev.Hook, ev.Action, "metrics", "default")

	want := fmt.Sprintf(`
# HELP krsi_bound_cgroups Cgroups bound to a profile in the kernel (krsi_bindings), by mode. Nested cgroups that inherited a binding count too.
# TYPE krsi_bound_cgroups gauge
krsi_bound_cgroups{mode="audit"} 0
krsi_bound_cgroups{mode="enforce"} 1
# HELP krsi_staged_cgroups Cgroup paths staged to be bound when the runtime creates them (krsi_staged).
# TYPE krsi_staged_cgroups gauge
krsi_staged_cgroups 1
# HELP krsi_decisions_total Operations the kernel denied (enforce mode) or let through and reported (audit mode), from its events, by LSM hook, action (denied, audited), profile and pod namespace. Events lost in the ring buffer are not counted here: see krsi_events_dropped_total.
# TYPE krsi_decisions_total counter
krsi_decisions_total{action="denied",hook="bprm_check_security",namespace="default",profile="metrics"} 1
# HELP krsi_events_dropped_total Events the kernel could not queue because the ring buffer was full, since the maps were created. Enforcement is unaffected; the decisions are lost to logs and metrics.
# TYPE krsi_events_dropped_total counter
krsi_events_dropped_total 0
# HELP krsi_map_entries Entries in a BPF map that grows with use.
# TYPE krsi_map_entries gauge
krsi_map_entries{map="krsi_bindings"} 1
krsi_map_entries{map="krsi_fallback"} 0
krsi_map_entries{map="krsi_names"} 1
krsi_map_entries{map="krsi_profiles"} 1
krsi_map_entries{map="krsi_rules"} %d
krsi_map_entries{map="krsi_staged"} 1
`, len(c.Entries)+len(c.AncestorKeys())) // ancestor keys: renames
	err = testutil.GatherAndCompare(scrape(t, m), strings.NewReader(want), "krsi_bound_cgroups",
		"krsi_staged_cgroups", "krsi_decisions_total", "krsi_events_dropped_total", "krsi_map_entries")
	if err != nil {
		t.Fatal(err)
	}
}
