package kernel_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// A looping attacker: 100,000 denied mprotects from one container. What the
// daemon writes stays bounded, and every violation is accounted for exactly:
// written, summarized as suppressed, or counted as dropped by the kernel.
func TestFloodOfViolationsIsBoundedAndCountedExactly(t *testing.T) {
	kerneltest.Require(t)
	const n = 100000
	e, dir := boundToWX(t, "flood")
	events, err := e.Events()
	if err != nil {
		t.Fatal(err)
	}
	var entries, suppressedInSummaries atomic.Int64
	pipe := eventlog.NewPipeline(eventlog.Options{
		Resolve: func(uint64, enforced.ProfileID) eventlog.Source {
			return eventlog.Source{Profile: "builtin/wx", Container: "attacker"}
		},
		Counters: e,
		Sink: eventlog.SinkFunc(func(en eventlog.Entry) {
			entries.Add(1)
			if v, ok := en.Fields["suppressed"]; ok {
				var k int64
				fmt.Sscan(fmt.Sprint(v), &k)
				suppressedInSummaries.Add(k)
			}
		}),
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := events.Read()
			if err != nil {
				if errors.Is(err, enforcement.ErrFlushed) {
					return
				}
				continue
			}
			pipe.Handle(ev)
		}
	}()

	start := time.Now()
	r := kerneltest.Run(t, dir, kerneltest.Env(t, "KRSI_PROBE"), "flood", fmt.Sprint(n))
	if r.Exit != 0 || !strings.Contains(r.Stdout, fmt.Sprintf("denied %d of %d", n, n)) {
		t.Fatalf("flood: %s", r)
	}
	events.Flush()
	<-done
	pipe.Flush()
	events.Close()

	dropped, err := e.DroppedEvents()
	if err != nil {
		t.Fatal(err)
	}
	st := pipe.Stats()
	t.Logf("%d violations in %s: %d received (%d written, %d suppressed), %d dropped by the kernel, %d entries out",
		n, time.Since(start).Round(time.Millisecond), st.Received, st.Logged, st.Suppressed, dropped, entries.Load())
	if st.Received+dropped != n {
		t.Fatalf("received %d + dropped %d != %d violations", st.Received, dropped, n)
	}
	if st.Logged+st.Suppressed != st.Received || st.Pending != 0 {
		t.Fatalf("stats do not add up: %+v", st)
	}
	if uint64(suppressedInSummaries.Load()) != st.Suppressed {
		t.Fatalf("summaries say %d suppressed, the pipeline counted %d", suppressedInSummaries.Load(), st.Suppressed)
	}
	if entries.Load() > 200 {
		t.Fatalf("%d entries written for one looping attacker: not bounded", entries.Load())
	}
}
