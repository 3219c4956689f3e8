package eventlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/enforced"
)

// Defaults of the pipeline's Options.
const (
	DefaultRate       = 10.0 // events a second, per key
	DefaultBurst      = 10   // events at once, per key
	DefaultFlushEvery = 10 * time.Second
	DefaultMaxKeys    = 10000
)

// Resolver says where an event came from (plugin.Plugin.Identify).
type Resolver func(cgroupID uint64, profile enforced.ProfileID) Source

// Counters are the kernel's counters of what it could not do
// (*enforcement.Enforcer).
type Counters interface {
	DroppedEvents() (uint64, error)
	FailedBindings() (uint64, error)
}

// EventSource is where Run reads events (*enforcement.EventReader).
type EventSource interface {
	Read() (enforced.Event, error)
	SetDeadline(time.Time)
}

// Options of a Pipeline. The zero value of each field takes its default.
type Options struct {
	Resolve  Resolver // nil: events carry no profile or container
	Counters Counters // nil: no drop reports
	Sink     Sink     // where entries go
	// Rate and Burst are the token bucket of each key (cgroup id, profile,
	// hook, reason, rule): Burst events pass at once, then Rate a second.
	Rate  float64
	Burst int
	// Unlimited turns rate limiting off: every event is logged.
	Unlimited bool
	// FlushEvery is how often Run writes the summaries of suppressed events
	// and checks the kernel's counters.
	FlushEvery time.Duration
	// MaxKeys bounds the keys tracked; the events of keys past it share one
	// bucket.
	MaxKeys int
	// Observe, if set, is told of every event received, logged or
	// suppressed, with its source (for metrics). A suppressed event gets the
	// source its key resolved to at its last logged event.
	Observe func(enforced.Event, Source)
	// Log hears of the pipeline's own trouble (counters it cannot read).
	Log logrus.FieldLogger
	Now func() time.Time
}

// Pipeline turns kernel events into log entries: it names the container and
// rule of each, rate-limits them per key, summarizes what it suppressed, and
// reports the events the kernel dropped. Handle, Flush and Run are called
// from one goroutine; Stats from any.
type Pipeline struct {
	o       Options
	buckets map[limitKey]*bucket

	dropped, failed   counter
	unreadable        uint64
	lastUnreadableErr error

	mu    sync.Mutex // guards stats, read by Stats from any goroutine
	stats Stats
}

// limitKey is what rate limiting counts by. The path is not part of it: an
// attacker opening a new file each time must not get a new bucket each time.
type limitKey struct {
	cgroupID uint64
	profile  enforced.ProfileID
	hook     string
	reason   string
	rule     int
	overflow bool // the shared bucket of keys past MaxKeys
}

type bucket struct {
	tokens float64
	last   time.Time
	// What the summary of this key says: the last logged event's
	// identity, and how many were suppressed since the last summary.
	src        Source
	action     string
	suppressed uint64
	since      time.Time
}

// counter is a kernel counter as last reported.
type counter struct {
	seen     bool
	total    uint64
	readFail bool
}

// NewPipeline makes a pipeline with o's defaults filled in.
func NewPipeline(o Options) *Pipeline {
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Resolve == nil {
		o.Resolve = func(uint64, enforced.ProfileID) Source { return Source{} }
	}
	if o.Sink == nil {
		o.Sink = SinkFunc(func(Entry) {})
	}
	if o.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		o.Log = l
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Pipeline{o: o, buckets: map[limitKey]*bucket{}}
}

// Stats count the events a pipeline received. Received is always
// Logged + Suppressed + Pending; after Flush, Pending is 0.
type Stats struct {
	Received   uint64 // events handled
	Logged     uint64 // events written as entries of their own
	Suppressed uint64 // events counted in summaries written
	Pending    uint64 // events suppressed, not yet in a summary
}

// Stats says what the pipeline did so far.
func (p *Pipeline) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// count records one event's outcome.
func (p *Pipeline) count(logged bool) {
	p.mu.Lock()
	p.stats.Received++
	if logged {
		p.stats.Logged++
	} else {
		p.stats.Pending++
	}
	p.mu.Unlock()
}

// Handle logs ev or counts it as suppressed.
func (p *Pipeline) Handle(ev enforced.Event) {
	now := p.o.Now()
	if p.o.Unlimited {
		src := p.o.Resolve(ev.CgroupID, ev.ProfileID)
		p.count(true)
		p.observe(ev, src)
		p.emitEvent(ev, src)
		return
	}
	k := limitKey{cgroupID: ev.CgroupID, profile: ev.ProfileID, hook: ev.Hook, reason: ev.Reason, rule: ev.Rule}
	b := p.buckets[k]
	if b == nil {
		if len(p.buckets) >= p.o.MaxKeys {
			k = limitKey{overflow: true}
			b = p.buckets[k]
		}
		if b == nil {
			b = &bucket{tokens: float64(p.o.Burst), last: now}
			p.buckets[k] = b
		}
	}
	full := p.refill(b, now)
	if b.tokens < 1 {
		if b.suppressed == 0 {
			b.since = now
		}
		b.suppressed++
		p.count(false)
		if p.o.Observe != nil {
			src := b.src
			if k.overflow { // shared by many keys: its last source says nothing
				src = p.o.Resolve(ev.CgroupID, ev.ProfileID)
			}
			p.o.Observe(ev, src)
		}
		return
	}
	b.tokens--
	src := p.o.Resolve(ev.CgroupID, ev.ProfileID)
	// The window reopens after a pause: say what was suppressed before it.
	if full && b.suppressed > 0 {
		p.summarize(k, b, now)
	}
	b.src, b.action = src, ev.Action
	p.count(true)
	p.observe(ev, src)
	p.emitEvent(ev, src)
}

func (p *Pipeline) observe(ev enforced.Event, src Source) {
	if p.o.Observe != nil {
		p.o.Observe(ev, src)
	}
}

// refill adds the tokens earned since the bucket's last use and says whether
// it is full.
func (p *Pipeline) refill(b *bucket, now time.Time) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens += d.Seconds() * p.o.Rate
		b.last = now
	}
	if b.tokens >= float64(p.o.Burst) {
		b.tokens = float64(p.o.Burst)
		return true
	}
	return false
}

func (p *Pipeline) emitEvent(ev enforced.Event, src Source) {
	f := Fields(ev, src)
	f["event"], f["kind"] = true, KindViolation
	t := ev.Time
	if t.IsZero() {
		t = p.o.Now()
	}
	p.o.Sink.Emit(Entry{Time: t, Level: logrus.WarnLevel, Message: Message(ev), Fields: f})
}

// summarize writes the summary of b's suppressed events.
func (p *Pipeline) summarize(k limitKey, b *bucket, now time.Time) {
	n := b.suppressed
	f := logrus.Fields{"event": true, "kind": KindSuppressed, "suppressed": n,
		"suppressed_since": b.since.UTC().Format(time.RFC3339Nano)}
	if k.overflow {
		f["overflow"] = true
	} else {
		f["cgroup_id"], f["hook"], f["reason"], f["action"] = k.cgroupID, k.hook, k.reason, b.action
		f["profile"] = b.src.Profile
		for name, v := range map[string]string{"container": b.src.Container, "container_id": b.src.ContainerID,
			"pod": b.src.Pod, "namespace": b.src.Namespace, "image": b.src.Image} {
			if v != "" {
				f[name] = v
			}
		}
		if k.rule >= 0 && k.rule < len(b.src.Rules) {
			f["rule"] = b.src.Rules[k.rule]
		}
	}
	msg := fmt.Sprintf("suppressed %d events like this", n)
	if k.overflow {
		msg = fmt.Sprintf("suppressed %d events of keys past the rate limiter's table of %d", n, p.o.MaxKeys)
	}
	b.suppressed = 0
	p.mu.Lock()
	p.stats.Suppressed += n
	p.stats.Pending -= n
	p.mu.Unlock()
	p.o.Sink.Emit(Entry{Time: now, Level: logrus.WarnLevel, Message: msg, Fields: f})
}

// Flush writes the summary of every key with suppressed events, forgets idle
// keys, and reports growth of the kernel's counters. Run calls it every
// FlushEvery and when it ends.
func (p *Pipeline) Flush() {
	now := p.o.Now()
	var keys []limitKey
	for k, b := range p.buckets {
		full := p.refill(b, now)
		switch {
		case b.suppressed > 0:
			keys = append(keys, k)
		case full:
			delete(p.buckets, k) // idle: a new bucket would be the same
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	for _, k := range keys {
		p.summarize(k, p.buckets[k], now)
	}
	p.checkCounters(now)
	if p.unreadable > 0 {
		p.o.Sink.Emit(Entry{Time: now, Level: logrus.ErrorLevel,
			Message: fmt.Sprintf("could not read %d events from the kernel: %v", p.unreadable, p.lastUnreadableErr),
			Fields:  logrus.Fields{"event": true, "kind": KindUnreadable, "unreadable": p.unreadable, "error": p.lastUnreadableErr.Error()}})
		p.unreadable, p.lastUnreadableErr = 0, nil
	}
}

func (a limitKey) less(b limitKey) bool {
	switch {
	case a.overflow != b.overflow:
		return b.overflow
	case a.cgroupID != b.cgroupID:
		return a.cgroupID < b.cgroupID
	case a.profile != b.profile:
		return a.profile < b.profile
	case a.hook != b.hook:
		return a.hook < b.hook
	case a.reason != b.reason:
		return a.reason < b.reason
	}
	return a.rule < b.rule
}

func (p *Pipeline) checkCounters(now time.Time) {
	if p.o.Counters == nil {
		return
	}
	p.check(&p.dropped, p.o.Counters.DroppedEvents, now, logrus.ErrorLevel, KindDropped, "dropped",
		"the kernel dropped %d events: ring buffer full; enforcement is unaffected",
		"the kernel has dropped %d events since krsi's maps were pinned: ring buffer full; enforcement is unaffected")
	p.check(&p.failed, p.o.Counters.FailedBindings, now, logrus.WarnLevel, KindFailedBindings, "failed_bindings",
		"the kernel could not bind %d new cgroups: krsi_bindings is full; they run unconfined",
		"the kernel has failed to bind %d new cgroups since krsi's maps were pinned: krsi_bindings was full; they run unconfined")
}

// check reports a kernel counter's growth since its last report. The first
// reading of a process reports the total, marked at_start: it may include
// what an earlier krsi already reported and what happened while none ran.
func (p *Pipeline) check(c *counter, read func() (uint64, error), now time.Time, level logrus.Level,
	kind, field, grewMsg, startMsg string) {
	n, err := read()
	if err != nil {
		if !c.readFail {
			p.o.Log.WithError(err).Errorf("cannot read the kernel's %s counter; its growth goes unreported until it can", field)
		}
		c.readFail = true
		return
	}
	c.readFail = false
	f := logrus.Fields{"event": true, "kind": kind, field + "_total": n}
	switch {
	case !c.seen && n > 0:
		f["at_start"] = true
		p.o.Sink.Emit(Entry{Time: now, Level: level, Message: fmt.Sprintf(startMsg, n), Fields: f})
	case c.seen && n > c.total:
		f[field] = n - c.total
		p.o.Sink.Emit(Entry{Time: now, Level: level, Message: fmt.Sprintf(grewMsg, n-c.total), Fields: f})
	}
	c.seen, c.total = true, n
}

// Run handles src's events until it is closed, flushing every FlushEvery
// and once more at the end. It returns nil when src was closed.
func (p *Pipeline) Run(src EventSource) error {
	p.Flush() // drops from before this start
	next := p.o.Now().Add(p.o.FlushEvery)
	src.SetDeadline(time.Now().Add(p.o.FlushEvery))
	failures := 0
	for {
		ev, err := src.Read()
		switch {
		case err == nil:
			failures = 0
			p.Handle(ev)
		case errors.Is(err, os.ErrDeadlineExceeded):
			next = time.Time{} // flush now
		case errors.Is(err, enforced.ErrClosed):
			p.Flush()
			return nil
		default:
			// A record the reader could not decode is an event lost:
			// counted and reported at the next flush.
			p.unreadable++
			p.lastUnreadableErr = err
			failures++
			time.Sleep(time.Duration(min(failures, 100)) * time.Millisecond)
		}
		if now := p.o.Now(); !now.Before(next) {
			p.Flush()
			next = now.Add(p.o.FlushEvery)
			src.SetDeadline(time.Now().Add(p.o.FlushEvery))
		}
	}
}
