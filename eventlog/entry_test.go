package eventlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestEntryJSONRoundTrip(t *testing.T) {
	e := Entry{
		Time:    time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC),
		Level:   logrus.WarnLevel,
		Message: "denied exec of /bin/sh: a rule of the profile denies it",
		Fields: logrus.Fields{"event": true, "kind": KindViolation, "cgroup_id": uint64(18446744073709551615),
			"pod": "web", "path": "/bin/sh"},
	}
	line, err := e.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("not one JSON line: %q", line)
	}
	if !bytes.Contains(line, []byte(`"time":"2025-01-02T03:04:05.123456789Z"`)) {
		t.Errorf("time not in nanoseconds: %s", line)
	}
	got, err := ParseEntry(line)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(e.Time) || got.Level != e.Level || got.Message != e.Message {
		t.Fatalf("got %+v", got)
	}
	if got.Fields["cgroup_id"] != json.Number("18446744073709551615") {
		t.Errorf("cgroup_id lost digits: %v", got.Fields["cgroup_id"])
	}
	if got.Kind() != KindViolation || got.Fields["event"] != true {
		t.Errorf("fields %v", got.Fields)
	}
}

func TestParseEntryRejectsWhatIsNotAnEntry(t *testing.T) {
	for _, line := range []string{
		``,
		`null`,
		`[]`,
		`{"level":"warning","msg":"x"}`,
		`{"time":"yesterday","level":"warning","msg":"x"}`,
		`{"time":"2025-01-02T03:04:05Z","level":"loud","msg":"x"}`,
		`{"time":"2025-01-02T03:04:05Z","level":"warning","msg":3}`,
		`{"time":"2025-01-02T03:04:05Z","level":"warning","msg":"x"} {}`,
		`{"time":"2025-01-02T03:04:05Z","level":"warning","msg":"x"`,
	} {
		if _, err := ParseEntry([]byte(line)); err == nil {
			t.Errorf("ParseEntry(%q) accepted it", line)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(`{"time":"2025-01-02T03:04:05.5Z","level":"warning","msg":"denied","event":true,"pod":"web","cgroup_id":77}`))
	f.Add([]byte(`{"time":"2025-01-02T03:04:05+02:00","level":"error","msg":"m","x":{"y":[1,2.5e300,null]}}`))
	f.Add([]byte(`{"time":"2025-01-02T03:04:05Z","level":"info","msg":"<\u00e9>","fields.time":"t"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseEntry(line)
		if err != nil {
			return
		}
		// What was read writes back as a line that reads the same.
		out, err := e.JSON()
		if err != nil {
			t.Fatalf("JSON of a parsed entry: %v", err)
		}
		again, err := ParseEntry(out)
		if err != nil {
			t.Fatalf("re-parse %q: %v", out, err)
		}
		if !again.Time.Equal(e.Time) || again.Level != e.Level || again.Message != e.Message ||
			!reflect.DeepEqual(again.Fields, e.Fields) {
			t.Fatalf("round trip changed the entry:\n %+v\n %+v", e, again)
		}
		_ = again.Kind()
	})
}

type failingWriter struct{ fail bool }

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.fail {
		return 0, errors.New("disk full")
	}
	return len(b), nil
}

func TestWriterSinkReportsTheFirstFailureOfARun(t *testing.T) {
	w := &failingWriter{}
	var errs []error
	s := WriterSink(w, JSONFormatter(), func(err error) { errs = append(errs, err) })
	e := Entry{Time: time.Now(), Level: logrus.WarnLevel, Message: "m"}
	for _, fail := range []bool{false, true, true, true, false, true} {
		w.fail = fail
		s.Emit(e)
	}
	if len(errs) != 2 {
		t.Fatalf("%d errors reported, want 2 (one per run of failures)", len(errs))
	}
}

func TestTextFormatterOfAPipelineEntry(t *testing.T) {
	var b bytes.Buffer
	s := WriterSink(&b, TextFormatter{}, nil)
	s.Emit(Entry{Level: logrus.ErrorLevel, Message: "the kernel dropped 7 events: ring buffer full; enforcement is unaffected",
		Fields: logrus.Fields{"event": true, "kind": KindDropped, "dropped": uint64(7), "dropped_total": uint64(12)}})
	want := "krsi: error: the kernel dropped 7 events: ring buffer full; enforcement is unaffected (dropped=7 dropped_total=12 event=true kind=dropped)\n"
	if b.String() != want {
		t.Fatalf("got  %q\nwant %q", b.String(), want)
	}
	if strings.Count(b.String(), "\n") != 1 {
		t.Fatal("not one line")
	}
}
