package eventsock

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/eventlog"
)

// socketPath is a fresh socket path; unix socket paths are short, so not
// under t.TempDir().
func socketPath(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "krsi-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "events.sock")
}

func listen(tb testing.TB, o Options) *Server {
	tb.Helper()
	s, err := Listen(socketPath(tb), o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func dial(tb testing.TB, s *Server) *Client {
	tb.Helper()
	c, err := Dial(s.Path())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// waitClients waits until the server counts n clients.
func waitClients(tb testing.TB, s *Server, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Clients() != n {
		if time.Now().After(deadline) {
			tb.Fatalf("server has %d clients, want %d", s.Clients(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func entry(seq int) eventlog.Entry {
	return eventlog.Entry{Time: time.Now(), Level: logrus.WarnLevel, Message: "denied exec of /bin/sh",
		Fields: logrus.Fields{"event": true, "kind": eventlog.KindViolation, "seq": seq, "pod": "web"}}
}

// account reads from c until it has seen total entries, received or
// reported missed, checking that they come in order. It returns how many it
// received and how many it was told it missed.
func account(tb testing.TB, c *Client, total int) (received, missed int) {
	tb.Helper()
	received, missed, err := tryAccount(c, total)
	if err != nil {
		tb.Fatal(err)
	}
	return received, missed
}

// tryAccount is account for goroutines other than the test's.
func tryAccount(c *Client, total int) (received, missed int, err error) {
	last := int64(-1)
	for received+missed < total {
		e, _, err := c.Next()
		if err != nil {
			return received, missed, fmt.Errorf("after %d received and %d missed of %d: %w", received, missed, total, err)
		}
		switch e.Kind() {
		case eventlog.KindMissed:
			n, err := e.Fields["missed"].(json.Number).Int64()
			if err != nil || n <= 0 {
				return received, missed, fmt.Errorf("missed entry %v", e.Fields)
			}
			if e.Message != MissedMessage(uint64(n)) {
				return received, missed, fmt.Errorf("missed message %q", e.Message)
			}
			missed += int(n)
		case eventlog.KindViolation:
			seq, err := e.Fields["seq"].(json.Number).Int64()
			if err != nil || seq <= last {
				return received, missed, fmt.Errorf("entry %v after %d", e.Fields["seq"], last)
			}
			last = seq
			received++
		default:
			return received, missed, fmt.Errorf("unexpected entry %+v", e)
		}
	}
	if received+missed != total {
		return received, missed, fmt.Errorf("%d received + %d missed = %d, want exactly %d",
			received, missed, received+missed, total)
	}
	return received, missed, nil
}

func TestEveryClientGetsEveryEntryInOrder(t *testing.T) {
	s := listen(t, Options{})
	var clients []*Client
	for range 3 {
		clients = append(clients, dial(t, s))
	}
	waitClients(t, s, 3)
	const n = 500 // within the queue: nobody misses anything
	for i := range n {
		s.Emit(entry(i))
	}
	for i, c := range clients {
		if got, missed := account(t, c, n); got != n || missed != 0 {
			t.Errorf("client %d: %d received, %d missed, want %d and 0", i, got, missed, n)
		}
	}
}

func TestStuckClientNeverBlocksTheDaemon(t *testing.T) {
	s := listen(t, Options{Buffer: 16})
	stuck := dial(t, s) // reads nothing until the end
	fast := dial(t, s)
	waitClients(t, s, 2)

	const n = 100000
	var fastReceived, fastMissed int
	var fastErr error
	var wg sync.WaitGroup
	wg.Go(func() { fastReceived, fastMissed, fastErr = tryAccount(fast, n) })

	done := make(chan struct{})
	go func() {
		for i := range n {
			s.Emit(entry(i))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Emit blocked on a client that does not read")
	}
	wg.Wait()
	if fastErr != nil {
		t.Fatal(fastErr)
	}
	t.Logf("fast client: %d received, %d missed", fastReceived, fastMissed)

	got, missed := account(t, stuck, n)
	if missed == 0 {
		t.Fatalf("the stuck client received all %d entries through a queue of 16", got)
	}
	t.Logf("stuck client: %d received, %d missed", got, missed)

	// Nothing more is owed to anyone: after Close, both read the end.
	s.Close()
	for _, c := range []*Client{stuck, fast} {
		if e, _, err := c.Next(); !errors.Is(err, ErrDaemonGone) {
			t.Errorf("after Close: %+v, %v; want ErrDaemonGone", e, err)
		}
	}
}

func TestClientThatHangsUpIsForgotten(t *testing.T) {
	s := listen(t, Options{})
	stays := dial(t, s)
	goes := dial(t, s)
	waitClients(t, s, 2)
	goes.Close()
	// No entry flows: the server learns of it from its read side.
	waitClients(t, s, 1)
	s.Emit(entry(0))
	if got, _ := account(t, stays, 1); got != 1 {
		t.Fatal("the remaining client lost its entry")
	}
}

func TestClientThatClosesItsWritingHalfStillReads(t *testing.T) {
	s := listen(t, Options{})
	c := dial(t, s)
	waitClients(t, s, 1)
	if err := c.conn.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the server see the end of input
	s.Emit(entry(0))
	if got, _ := account(t, c, 1); got != 1 {
		t.Fatal("entry lost")
	}
	if s.Clients() != 1 {
		t.Fatalf("%d clients, want 1", s.Clients())
	}
}

func TestWhatAClientSendsIsIgnored(t *testing.T) {
	s := listen(t, Options{})
	other := dial(t, s)
	conn, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitClients(t, s, 2)
	garbage := bytes.Repeat([]byte("{\"pod\":\x00\xff\n}}}}"), 1<<16) // 1 MiB
	if _, err := conn.Write(garbage); err != nil {
		t.Fatal(err)
	}
	s.Emit(entry(0))
	c := &Client{conn: conn, sc: bufio.NewScanner(conn)}
	for _, c := range []*Client{c, other} {
		if got, _ := account(t, c, 1); got != 1 {
			t.Fatal("entry lost")
		}
	}
	if s.Clients() != 2 {
		t.Fatalf("%d clients, want 2", s.Clients())
	}
}

func TestTooManyClientsAreRefused(t *testing.T) {
	s := listen(t, Options{MaxClients: 1})
	dial(t, s)
	waitClients(t, s, 1)
	extra := dial(t, s)
	_, _, err := extra.Next()
	if err == nil || !strings.Contains(err.Error(), "too many clients: krsi serves at most 1 at once") {
		t.Fatalf("extra client: %v", err)
	}
}

func TestSocketIsRootOnlyAndGoesAwayOnClose(t *testing.T) {
	s := listen(t, Options{})
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a socket of 0600", fi.Mode())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after Close: %v", err)
	}
}

func TestListenReplacesOnlyAStaleSocket(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr string
	}{
		{"nothing there", func(*testing.T, string) {}, ""},
		{"stale socket", func(t *testing.T, path string) {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		}, ""},
		{"live socket", func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
		}, "is in use: another krsi serves events there"},
		{"a regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "exists and is not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := socketPath(t)
			tt.prepare(t, path)
			s, err := Listen(path, Options{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Listen succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestDialSaysTheDaemonIsNotRunning(t *testing.T) {
	path := socketPath(t)
	_, err := Dial(path)
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "no events socket at "+path) {
		t.Fatalf("no socket: %v", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	_, err = Dial(path)
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "stale socket") {
		t.Fatalf("stale socket: %v", err)
	}
}

func TestFilterMatches(t *testing.T) {
	ev := func(kind string, f logrus.Fields) eventlog.Entry {
		f["kind"] = kind
		return eventlog.Entry{Fields: f}
	}
	web := logrus.Fields{"pod": "web-1", "namespace": "prod", "container": "nginx"}
	tests := []struct {
		name   string
		filter Filter
		entry  eventlog.Entry
		want   bool
	}{
		{"no filter", Filter{}, ev(eventlog.KindViolation, logrus.Fields{}), true},
		{"pod matches", Filter{Pod: "web-1"}, ev(eventlog.KindViolation, web), true},
		{"pod differs", Filter{Pod: "web-2"}, ev(eventlog.KindViolation, web), false},
		{"all three match", Filter{Pod: "web-1", Namespace: "prod", Container: "nginx"}, ev(eventlog.KindViolation, web), true},
		{"namespace differs", Filter{Pod: "web-1", Namespace: "dev"}, ev(eventlog.KindViolation, web), false},
		{"container filter, no container", Filter{Container: "nginx"}, ev(eventlog.KindViolation, logrus.Fields{}), false},
		{"summary filtered as events are", Filter{Namespace: "dev"}, ev(eventlog.KindSuppressed, web), false},
		{"overflow summary always", Filter{Namespace: "dev"}, ev(eventlog.KindSuppressed, logrus.Fields{"overflow": true}), true},
		{"drops always", Filter{Pod: "x"}, ev(eventlog.KindDropped, logrus.Fields{}), true},
		{"missed always", Filter{Pod: "x"}, ev(eventlog.KindMissed, logrus.Fields{}), true},
		{"failed bindings always", Filter{Pod: "x"}, ev(eventlog.KindFailedBindings, logrus.Fields{}), true},
		{"a non-string pod", Filter{Pod: "1"}, ev(eventlog.KindViolation, logrus.Fields{"pod": json.Number("1")}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Match(tt.entry); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzClientReadsWhateverTheSocketSends: whatever arrives, Next returns
// entries or errors and never panics, and a line too long is an error.
func FuzzClientReadsWhateverTheSocketSends(f *testing.F) {
	line, _ := entry(1).JSON()
	f.Add(line)
	f.Add(append(append([]byte{}, line...), `{"time":"x"}`+"\n\xff\n"...))
	f.Add([]byte(`{"time":"2025-01-02T03:04:05Z","level":"error","msg":"no","kind":"refused"}` + "\n"))
	f.Add([]byte(`{"time":"2025-01-02T03:04:05Z","level":"warning","msg":"m","kind":"suppressed","pod":["x"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		server, client := net.Pipe()
		go func() {
			server.Write(data)
			server.Close()
		}()
		c := &Client{conn: client, sc: bufio.NewScanner(client)}
		c.sc.Buffer(make([]byte, 0, 1024), MaxLine)
		defer c.Close()
		for range len(data) + 1 {
			e, _, err := c.Next()
			if errors.Is(err, ErrDaemonGone) || errors.Is(err, io.EOF) {
				return
			}
			if err == nil {
				for _, f := range []Filter{{}, {Pod: "x"}, {Namespace: "n", Container: "c"}} {
					f.Match(e)
				}
			}
		}
	})
}
