package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/eventsock"
)

func TestEventsCommandFollowsAndFilters(t *testing.T) {
	dir, err := os.MkdirTemp("", "krsi-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	violation := func(pod, path string) eventlog.Entry {
		return eventlog.Entry{Time: at, Level: logrus.WarnLevel, Message: "denied exec of " + path,
			Fields: logrus.Fields{"event": true, "kind": eventlog.KindViolation, "pod": pod, "namespace": "prod", "path": path}}
	}
	entries := []eventlog.Entry{
		violation("web", "/bin/sh"),
		violation("db", "/bin/bash"),
		{Time: at, Level: logrus.ErrorLevel, Message: "the kernel dropped 3 events: ring buffer full; enforcement is unaffected",
			Fields: logrus.Fields{"event": true, "kind": eventlog.KindDropped, "dropped": 3, "dropped_total": 3}},
	}
	tests := []struct {
		args []string
		want []string // substrings, one per output line
	}{
		{[]string{"--format", "json"}, []string{`"path":"/bin/sh"`, `"path":"/bin/bash"`, `"kind":"dropped"`}},
		{[]string{"--pod", "web"}, []string{
			"denied exec of /bin/sh (kind=violation namespace=prod path=/bin/sh pod=web)",
			"krsi: error: the kernel dropped 3 events",
		}},
		{[]string{"--namespace", "dev"}, []string{"krsi: error: the kernel dropped 3 events"}},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, "s"+string(rune('a'+i)))
		srv, err := eventsock.Listen(path, eventsock.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cmd := eventsCmd()
		cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under rootCmd
		var out lockedBuffer
		cmd.SetOut(&out)
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs(append([]string{"--socket", path}, tt.args...))
		done := make(chan error, 1)
		go func() { done <- cmd.Execute() }()
		for srv.Clients() != 1 {
			time.Sleep(time.Millisecond)
		}
		for _, e := range entries {
			srv.Emit(e)
		}
		// Let the client read what it was sent, then stop the daemon.
		deadline := time.Now().Add(5 * time.Second)
		for strings.Count(out.String(), "\n") < len(tt.want) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		srv.Close()
		err = <-done
		if !errors.Is(err, eventsock.ErrDaemonGone) {
			t.Errorf("%v: error %v, want ErrDaemonGone", tt.args, err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != len(tt.want) {
			t.Fatalf("%v: %d lines, want %d:\n%s", tt.args, len(lines), len(tt.want), out.String())
		}
		for j, w := range tt.want {
			if !strings.Contains(lines[j], w) {
				t.Errorf("%v: line %d %q, want it to contain %q", tt.args, j, lines[j], w)
			}
		}
	}
}

func TestEventsCommandWithoutDaemon(t *testing.T) {
	cmd := eventsCmd()
	cmd.SetArgs([]string{"--socket", filepath.Join(t.TempDir(), "none.sock")})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	if !errors.Is(err, eventsock.ErrNotRunning) {
		t.Fatalf("error %v, want ErrNotRunning", err)
	}
}

// lockedBuffer is a bytes.Buffer the command writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPluginEventFlagsAreCheckedBeforeStart(t *testing.T) {
	tests := []struct {
		args       []string
		logFormat  string
		wantFormat string
		wantErr    string
	}{
		{nil, "json", "json", ""},
		{nil, "text", "text", ""},
		{[]string{"--event-format", "json"}, "text", "json", ""},
		{[]string{"--event-format", "xml"}, "json", "", `--event-format "xml": want text or json`},
		{[]string{"--event-rate", "-1"}, "json", "", "cannot be negative"},
		{[]string{"--event-rate", "0"}, "json", "json", ""}, // no rate limiting
		{[]string{"--event-burst", "0"}, "json", "", "--event-burst must be at least 1"},
		{[]string{"--event-file", "/x", "--event-file-max-mb", "0"}, "json", "", "--event-file-max-mb must be positive"},
	}
	for _, tt := range tests {
		var f eventFlags
		cmd := &cobra.Command{Use: "plugin"}
		f.add(cmd)
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatal(err)
		}
		err := f.check(tt.logFormat)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tt.args, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.wantErr)
		case tt.wantErr == "" && f.format != tt.wantFormat:
			t.Errorf("%v: format %q, want %q", tt.args, f.format, tt.wantFormat)
		}
	}
}
