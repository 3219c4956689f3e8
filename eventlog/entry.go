package eventlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"
)

// Kinds of entry, the value of the "kind" field. Every entry the pipeline
// emits also carries "event": true, which tells it apart from the daemon's
// own log lines.
const (
	KindViolation      = "violation"       // one kernel event
	KindSuppressed     = "suppressed"      // a summary of rate-limited events
	KindDropped        = "dropped"         // the kernel's ring buffer was full
	KindFailedBindings = "failed_bindings" // the kernel could not bind new cgroups
	KindUnreadable     = "unreadable"      // records read but not decoded
	KindMissed         = "missed"          // an events-socket client read too slowly
)

// Entry is one log entry: the unit every output writes and `krsi events`
// receives.
type Entry struct {
	Time    time.Time
	Level   logrus.Level
	Message string
	Fields  logrus.Fields
}

// Kind is the entry's "kind" field, "" when it has none.
func (e Entry) Kind() string {
	k, _ := e.Fields["kind"].(string)
	return k
}

func (e Entry) logrus() *logrus.Entry {
	return &logrus.Entry{Time: e.Time, Level: e.Level, Message: e.Message, Data: e.Fields}
}

// JSONFormatter formats entries as the JSON lines of docs/events.md: logrus's
// keys ("time", "level", "msg") with nanosecond timestamps.
func JSONFormatter() logrus.Formatter {
	return &logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano}
}

var jsonFormatter = JSONFormatter()

// JSON is the entry as one JSON line, newline included.
func (e Entry) JSON() ([]byte, error) {
	return jsonFormatter.Format(e.logrus())
}

// ParseEntry reads one JSON line back into an Entry. Numbers stay
// json.Number, so 64-bit ids keep every digit.
func ParseEntry(line []byte) (Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Entry{}, fmt.Errorf("event line: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Entry{}, errors.New("event line: text after the JSON object")
	}
	if m == nil {
		return Entry{}, errors.New("event line: not a JSON object")
	}
	str := func(k string) (string, error) {
		s, ok := m[k].(string)
		if !ok {
			return "", fmt.Errorf("event line: no %q string", k)
		}
		delete(m, k)
		return s, nil
	}
	var e Entry
	ts, err := str("time")
	if err != nil {
		return Entry{}, err
	}
	if e.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
		return Entry{}, fmt.Errorf("event line: time: %w", err)
	}
	lv, err := str("level")
	if err != nil {
		return Entry{}, err
	}
	if e.Level, err = logrus.ParseLevel(lv); err != nil {
		return Entry{}, fmt.Errorf("event line: %w", err)
	}
	if e.Message, err = str("msg"); err != nil {
		return Entry{}, err
	}
	e.Fields = logrus.Fields(m)
	return e, nil
}

// A Sink receives the pipeline's entries, in order, from one goroutine.
// Emit must not block for long: the kernel's ring buffer fills while it does.
type Sink interface {
	Emit(Entry)
}

// SinkFunc makes a function a Sink.
type SinkFunc func(Entry)

// Emit implements Sink.
func (f SinkFunc) Emit(e Entry) { f(e) }

// Tee emits every entry to each sink in turn.
func Tee(sinks ...Sink) Sink {
	return SinkFunc(func(e Entry) {
		for _, s := range sinks {
			s.Emit(e)
		}
	})
}

// WriterSink formats entries and writes them to w, one write per entry.
// onErr hears of the first failed write of a run of failures (a full disk, a
// closed pipe) and, if not nil, of nothing else until a write succeeds again.
func WriterSink(w io.Writer, f logrus.Formatter, onErr func(error)) Sink {
	failing := false
	return SinkFunc(func(e Entry) {
		b, err := f.Format(e.logrus())
		if err == nil {
			_, err = w.Write(b)
		}
		if err != nil && !failing && onErr != nil {
			onErr(err)
		}
		failing = err != nil
	})
}
