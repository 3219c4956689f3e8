package eventlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/enforced"
)

// newTestLogger is a logger whose entries land in c.
func newTestLogger(c *collect) *logrus.Logger {
	log := logrus.New()
	log.Out = io.Discard
	log.AddHook(hook{c})
	return log
}

type hook struct{ c *collect }

func (hook) Levels() []logrus.Level { return logrus.AllLevels }
func (h hook) Fire(e *logrus.Entry) error {
	h.c.Emit(Entry{Time: e.Time, Level: e.Level, Message: e.Message, Fields: e.Data})
	return nil
}

// clock is a fake clock the tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

// collect is a sink that keeps every entry.
type collect struct{ entries []Entry }

func (c *collect) Emit(e Entry) { c.entries = append(c.entries, e) }

// tally counts a run's entries by kind and adds up the summaries' counts.
type tally struct {
	violations, summaries int
	suppressed            uint64
	other                 []Entry
}

func (c *collect) tally(t *testing.T) tally {
	t.Helper()
	var r tally
	for _, e := range c.entries {
		if e.Fields["event"] != true {
			t.Fatalf("entry without event=true: %+v", e)
		}
		switch e.Kind() {
		case KindViolation:
			r.violations++
		case KindSuppressed:
			r.summaries++
			n := e.Fields["suppressed"].(uint64)
			if want := fmt.Sprintf("suppressed %d events like this", n); e.Message != want &&
				!strings.HasPrefix(e.Message, fmt.Sprintf("suppressed %d events of keys past", n)) {
				t.Fatalf("summary message %q, want %q", e.Message, want)
			}
			r.suppressed += n
		default:
			r.other = append(r.other, e)
		}
	}
	return r
}

func denied(cgroup uint64, rule int, path string) enforced.Event {
	return enforced.Event{CgroupID: cgroup, ProfileID: 1, Hook: "bprm_check_security", Action: "denied",
		Reason: "rule", Rule: rule, Path: path, Comm: "sh", PID: 42}
}

func identify(cgroupID uint64, _ enforced.ProfileID) Source {
	return Source{Profile: "builtin/no-shell", Rules: []string{"exec.deny[0]: /bin/sh", "exec.deny[1]: /bin/bash"},
		Container: fmt.Sprintf("c%d", cgroupID), Pod: "web", Namespace: "prod", ContainerID: "abc"}
}

// fakeSource hands out events from a generator, moving the clock before
// each; it returns ErrClosed when the generator is done.
type fakeSource struct {
	clock *clock
	n     int
	next  func(i int) (enforced.Event, time.Duration, error)
	i     int
}

func (s *fakeSource) SetDeadline(time.Time) {}

func (s *fakeSource) Read() (enforced.Event, error) {
	if s.i >= s.n {
		return enforced.Event{}, fmt.Errorf("read krsi_events: %w", enforced.ErrClosed)
	}
	ev, d, err := s.next(s.i)
	s.i++
	s.clock.advance(d)
	return ev, err
}

func TestFloodIsBoundedAndCountedExactly(t *testing.T) {
	const total = 100000
	tests := []struct {
		name string
		// every is the time between two events; event makes the i-th one.
		every time.Duration
		event func(i int) enforced.Event
		// bounds on the entries of violations; summaries are bounded by
		// maxSummaries.
		minViolations, maxViolations int
		maxSummaries                 int
	}{
		{
			name:  "one key, all at once",
			every: 0,
			event: func(int) enforced.Event { return denied(7, 0, "/bin/sh") },
			// the burst, then one summary at the final flush
			minViolations: 10, maxViolations: 10, maxSummaries: 1,
		},
		{
			name:          "one key, a new path each time: the path is not part of the key",
			every:         0,
			event:         func(i int) enforced.Event { return denied(7, -1, fmt.Sprintf("/tmp/x%d", i)) },
			minViolations: 10, maxViolations: 10, maxSummaries: 1,
		},
		{
			name:  "one key, 1000 a second for 100 s",
			every: time.Millisecond,
			event: func(int) enforced.Event { return denied(7, 0, "/bin/sh") },
			// 10 at once, then 10 a second for 100 s
			minViolations: 1005, maxViolations: 1011,
			// one per flush (every 10 s) and the last
			maxSummaries: 11,
		},
		{
			name:          "1000 containers, all at once",
			every:         0,
			event:         func(i int) enforced.Event { return denied(uint64(i%1000)+1, 0, "/bin/sh") },
			minViolations: 10000, maxViolations: 10000, maxSummaries: 1000,
		},
		{
			name:  "two rules in one container, 10000 a second",
			every: 100 * time.Microsecond,
			event: func(i int) enforced.Event { return denied(7, i%2, "/bin/sh") },
			// each key: 10 + 10/s × 10 s
			minViolations: 2 * 105, maxViolations: 2 * 111, maxSummaries: 2 * 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			out := &collect{}
			p := NewPipeline(Options{Resolve: identify, Sink: out, Now: clk.now})
			src := &fakeSource{clock: clk, n: total, next: func(i int) (enforced.Event, time.Duration, error) {
				return tt.event(i), tt.every, nil
			}}
			if err := p.Run(src); err != nil {
				t.Fatal(err)
			}
			got := out.tally(t)
			t.Logf("%d events: %d logged, %d suppressed in %d summaries", total, got.violations, got.suppressed, got.summaries)
			if uint64(got.violations)+got.suppressed != total {
				t.Fatalf("%d logged + %d suppressed = %d, want exactly %d",
					got.violations, got.suppressed, uint64(got.violations)+got.suppressed, total)
			}
			if got.violations < tt.minViolations || got.violations > tt.maxViolations {
				t.Errorf("%d events logged, want %d to %d", got.violations, tt.minViolations, tt.maxViolations)
			}
			if got.summaries > tt.maxSummaries {
				t.Errorf("%d summaries, want at most %d", got.summaries, tt.maxSummaries)
			}
			if len(got.other) != 0 {
				t.Errorf("unexpected entries: %+v", got.other)
			}
			want := Stats{Received: total, Logged: uint64(got.violations), Suppressed: got.suppressed}
			if s := p.Stats(); s != want {
				t.Errorf("Stats = %+v, want %+v", s, want)
			}
		})
	}
}

func TestSummaryNamesTheKeyAndComesBeforeTheNextEvent(t *testing.T) {
	clk := newClock()
	out := &collect{}
	p := NewPipeline(Options{Resolve: identify, Sink: out, Now: clk.now, Burst: 2, Rate: 1})
	for range 5 {
		p.Handle(denied(7, 1, "/bin/bash"))
	}
	if s := p.Stats(); s != (Stats{Received: 5, Logged: 2, Pending: 3}) {
		t.Fatalf("Stats = %+v", s)
	}
	clk.advance(time.Second) // one token back: the flood goes on, no summary yet
	p.Handle(denied(7, 1, "/bin/bash"))
	if n := len(out.entries); n != 3 {
		t.Fatalf("%d entries, want 3 (no summary while the flood goes on)", n)
	}
	clk.advance(5 * time.Second) // the bucket is full again: the window reopens
	p.Handle(denied(7, 1, "/bin/bash"))
	if len(out.entries) != 5 {
		t.Fatalf("%d entries, want 5", len(out.entries))
	}
	sum, next := out.entries[3], out.entries[4]
	if sum.Message != "suppressed 3 events like this" || next.Kind() != KindViolation {
		t.Fatalf("got %q then %q", sum.Message, next.Message)
	}
	want := map[string]any{"event": true, "kind": KindSuppressed, "suppressed": uint64(3), "cgroup_id": uint64(7),
		"hook": "bprm_check_security", "reason": "rule", "action": "denied", "rule": "exec.deny[1]: /bin/bash",
		"profile": "builtin/no-shell", "container": "c7", "container_id": "abc", "pod": "web", "namespace": "prod",
		"suppressed_since": "2025-01-02T03:04:05Z"}
	if len(sum.Fields) != len(want) {
		t.Errorf("summary fields %v, want %v", sum.Fields, want)
	}
	for k, v := range want {
		if sum.Fields[k] != v {
			t.Errorf("summary %s = %v (%T), want %v", k, sum.Fields[k], sum.Fields[k], v)
		}
	}
	if !sum.Time.Equal(clk.t) {
		t.Errorf("summary time %v, want %v", sum.Time, clk.t)
	}
	p.Flush()
	if len(out.entries) != 5 {
		t.Errorf("a flush with nothing suppressed wrote %v", out.entries[5:])
	}
}

func TestKeysPastMaxKeysShareOneBucket(t *testing.T) {
	clk := newClock()
	out := &collect{}
	p := NewPipeline(Options{Resolve: identify, Sink: out, Now: clk.now, MaxKeys: 3, Burst: 1})
	for i := range 100 {
		p.Handle(denied(uint64(i), 0, "/bin/sh"))
	}
	p.Flush()
	got := out.tally(t)
	// 3 keys of their own (1 each), then 97 in the overflow bucket (1 logged)
	if got.violations != 4 || got.suppressed != 96 || got.summaries != 1 {
		t.Fatalf("got %+v", got)
	}
	last := out.entries[len(out.entries)-1]
	if last.Fields["overflow"] != true || !strings.Contains(last.Message, "table of 3") {
		t.Fatalf("overflow summary: %+v", last)
	}
	// Idle keys are forgotten at a flush, making room again.
	clk.advance(time.Minute)
	p.Flush()
	if len(p.buckets) != 0 {
		t.Fatalf("%d buckets after an idle minute, want 0", len(p.buckets))
	}
}

func TestUnlimitedLogsEveryEvent(t *testing.T) {
	out := &collect{}
	p := NewPipeline(Options{Sink: out, Unlimited: true, Now: newClock().now})
	for range 1000 {
		p.Handle(denied(7, 0, "/bin/sh"))
	}
	p.Flush()
	if got := out.tally(t); got.violations != 1000 || got.summaries != 0 {
		t.Fatalf("got %+v", got)
	}
}

// counters is a fake of the kernel's counters: each read takes the next value.
type counters struct {
	dropped, failed []any // uint64 or error
}

func pop(s *[]any) (uint64, error) {
	v := (*s)[0]
	if len(*s) > 1 {
		*s = (*s)[1:]
	}
	if err, ok := v.(error); ok {
		return 0, err
	}
	return v.(uint64), nil
}

func (c *counters) DroppedEvents() (uint64, error)  { return pop(&c.dropped) }
func (c *counters) FailedBindings() (uint64, error) { return pop(&c.failed) }

func TestKernelCountersAreReportedWhenTheyGrow(t *testing.T) {
	broken := errors.New("map gone")
	c := &counters{
		dropped: []any{uint64(5), uint64(5), uint64(12), broken, broken, uint64(12), uint64(20)},
		failed:  []any{uint64(0), uint64(0), uint64(3), uint64(3), uint64(3), uint64(3), uint64(3)},
	}
	out := &collect{}
	var daemon collect
	log := newTestLogger(&daemon)
	p := NewPipeline(Options{Counters: c, Sink: out, Log: log, Now: newClock().now})
	for range 7 {
		p.Flush()
	}
	type report struct {
		msg    string
		fields map[string]any
	}
	want := []report{
		{"the kernel has dropped 5 events since krsi's maps were pinned: ring buffer full; enforcement is unaffected",
			map[string]any{"kind": KindDropped, "dropped_total": uint64(5), "at_start": true}},
		{"the kernel dropped 7 events: ring buffer full; enforcement is unaffected",
			map[string]any{"kind": KindDropped, "dropped": uint64(7), "dropped_total": uint64(12)}},
		{"the kernel could not bind 3 new cgroups: krsi_bindings is full; they run unconfined",
			map[string]any{"kind": KindFailedBindings, "failed_bindings": uint64(3), "failed_bindings_total": uint64(3)}},
		{"the kernel dropped 8 events: ring buffer full; enforcement is unaffected",
			map[string]any{"kind": KindDropped, "dropped": uint64(8), "dropped_total": uint64(20)}},
	}
	if len(out.entries) != len(want) {
		for _, e := range out.entries {
			t.Log(e.Message, e.Fields)
		}
		t.Fatalf("%d reports, want %d", len(out.entries), len(want))
	}
	for i, w := range want {
		e := out.entries[i]
		if e.Message != w.msg {
			t.Errorf("report %d: %q, want %q", i, e.Message, w.msg)
		}
		if len(e.Fields) != len(w.fields)+1 {
			t.Errorf("report %d: fields %v, want %v and event", i, e.Fields, w.fields)
		}
		for k, v := range w.fields {
			if e.Fields[k] != v {
				t.Errorf("report %d: %s = %v, want %v", i, k, e.Fields[k], v)
			}
		}
	}
	if out.entries[0].Level.String() != "error" || out.entries[2].Level.String() != "warning" {
		t.Errorf("levels: drops %s, failed bindings %s", out.entries[0].Level, out.entries[2].Level)
	}
	if len(daemon.entries) != 1 || !strings.Contains(daemon.entries[0].Message, "dropped counter") {
		t.Errorf("two failed reads in a row: want one daemon log entry, got %+v", daemon.entries)
	}
}

func TestRunReportsUnreadableRecordsAndFlushesOnDeadline(t *testing.T) {
	clk := newClock()
	out := &collect{}
	p := NewPipeline(Options{Sink: out, Now: clk.now, Burst: 1})
	src := &fakeSource{clock: clk, n: 6, next: func(i int) (enforced.Event, time.Duration, error) {
		switch i {
		case 2:
			return enforced.Event{}, 0, errors.New("event of 3 bytes, want at least 96")
		case 3:
			// no events for a while: the deadline passes, Run flushes
			return enforced.Event{}, time.Second, os.ErrDeadlineExceeded
		}
		return denied(7, 0, "/bin/sh"), 0, nil
	}}
	if err := p.Run(src); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range out.entries {
		kinds = append(kinds, e.Kind())
	}
	// event 0 logged, 1 suppressed, 2 unreadable; the deadline flushes the
	// summary of 1 and the report of 2; 4 is logged (a second refilled
	// the bucket), 5 suppressed and summarized at the end.
	want := []string{KindViolation, KindSuppressed, KindUnreadable, KindViolation, KindSuppressed}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	if m := out.entries[2].Message; m != "could not read 1 events from the kernel: event of 3 bytes, want at least 96" {
		t.Errorf("unreadable report %q", m)
	}
}

func TestObserveSeesEveryEventWithItsSource(t *testing.T) {
	clk := newClock()
	byContainer := map[string]int{}
	p := NewPipeline(Options{Resolve: identify, Now: clk.now, Observe: func(ev enforced.Event, src Source) {
		byContainer[src.Container]++
	}})
	for i := range 1000 {
		p.Handle(denied(uint64(i%2), 0, "/bin/sh"))
	}
	if byContainer["c0"] != 500 || byContainer["c1"] != 500 {
		t.Fatalf("observed %v, want 500 of each container", byContainer)
	}
}
