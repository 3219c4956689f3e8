// Package eventsock serves the daemon's event entries on a local unix socket
// and reads them back for `krsi events`. Step in the pipeline: kernel event →
// eventlog.Pipeline (names the container, rate-limits) → this → a person's
// terminal.
//
// The protocol is one way: the daemon writes each entry as one JSON line
// (eventlog.Entry.JSON, the schema of docs/events.md), and at times an empty
// line; the client sends nothing, and what it sends anyway is read and
// thrown away. Filters are
// applied by the client: the daemon encodes each entry once for all clients
// and parses nothing a client sends.
package eventsock

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/eventlog"
)

// DefaultPath is where `krsi plugin` serves events and `krsi events` looks.
const DefaultPath = "/run/krsi/events.sock"

// Defaults of Options.
const (
	DefaultBuffer     = 1024 // entries queued per client
	DefaultMaxClients = 32
)

// Options of a Server.
type Options struct {
	// Buffer is how many entries wait for a slow client; past it, that
	// client misses entries and is told how many.
	Buffer     int
	MaxClients int
	Log        logrus.FieldLogger // the daemon's log; nil discards
}

// Server fans entries out to the clients of one socket. Emit never blocks.
type Server struct {
	o    Options
	path string
	ln   *net.UnixListener
	info os.FileInfo // of the socket file, to remove only our own

	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// client is one connection and the entries queued for it.
type client struct {
	conn   *net.UnixConn
	queue  chan []byte
	missed atomic.Uint64
	done   chan struct{} // closed when the client goes
	once   sync.Once
}

// Listen makes the socket at path, mode 0600, and serves it until Close. A
// stale socket is replaced; a live one (another krsi serves it) or a file
// that is not a socket is an error.
func Listen(path string, o Options) (*Server, error) {
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		o.Log = l
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("events socket: %w", err)
	}
	if err := checkStale(path); err != nil {
		return nil, err
	}
	// Bind under a temporary name, restrict it, then rename it into place:
	// the socket is never reachable with a wider mode.
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	_ = os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("events socket: listen: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*Server, error) {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("events socket: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	info, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	s := &Server{o: o, path: path, ln: ln, info: info, clients: map[*client]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// checkStale clears the way for a new socket at path.
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("events socket: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("events socket: %s exists and is not a socket; not replacing it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("events socket: %s is in use: another krsi serves events there", path)
	}
	return nil // stale: the rename replaces it
}

// Path is where the server listens.
func (s *Server) Path() string { return s.path }

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.o.Log.WithError(err).Warn("events socket: accept")
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.add(conn)
	}
}

// add starts serving conn, or turns it away.
func (s *Server) add(conn *net.UnixConn) {
	if err := checkPeer(conn); err != nil {
		refuse(conn, err.Error())
		return
	}
	s.mu.Lock()
	closed, full := s.closed, len(s.clients) >= s.o.MaxClients
	if !closed && !full {
		c := &client{conn: conn, queue: make(chan []byte, s.o.Buffer), done: make(chan struct{})}
		s.clients[c] = struct{}{}
		s.wg.Add(2)
		go s.write(c)
		go s.read(c)
	}
	s.mu.Unlock()
	switch {
	case closed:
		conn.Close()
	case full:
		refuse(conn, fmt.Sprintf("too many clients: krsi serves at most %d at once", s.o.MaxClients))
	}
}

// checkPeer lets in root and the daemon's own user. The socket's mode says
// the same; this holds even if the mode is changed.
func checkPeer(conn *net.UnixConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return fmt.Errorf("peer credentials: %w", credErr)
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("uid %d may not read krsi events: root only", cred.Uid)
	}
	return nil
}

// refuse tells a client why, as an entry, and hangs up.
func refuse(conn net.Conn, why string) {
	line, _ := eventlog.Entry{Time: time.Now(), Level: logrus.ErrorLevel, Message: why,
		Fields: map[string]any{"event": true, "kind": "refused"}}.JSON()
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = conn.Write(line)
	conn.Close()
}

// Emit queues e for every client. A client whose queue is full misses it;
// the count is sent to that client once it reads again.
func (s *Server) Emit(e eventlog.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) == 0 {
		return
	}
	line, err := e.JSON()
	if err != nil {
		s.o.Log.WithError(err).Warn("events socket: encode entry")
		return
	}
	for c := range s.clients {
		select {
		case c.queue <- line:
		default:
			c.missed.Add(1)
		}
	}
}

// Clients is how many clients are connected.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// write sends c its queue, and after an entry it had to skip, how many.
func (s *Server) write(c *client) {
	defer s.wg.Done()
	defer s.drop(c)
	for {
		var line []byte
		select {
		case line = <-c.queue:
		case <-c.done:
			return
		}
		if _, err := c.conn.Write(line); err != nil {
			return
		}
		if n := c.missed.Swap(0); n > 0 {
			if _, err := c.conn.Write(missedLine(n)); err != nil {
				return
			}
		}
	}
}

// MissedMessage is the message of the entry that tells a client it missed
// entries.
func MissedMessage(n uint64) string {
	return fmt.Sprintf("this client missed %d events: it read too slowly and krsi does not wait", n)
}

func missedLine(n uint64) []byte {
	line, _ := eventlog.Entry{Time: time.Now(), Level: logrus.WarnLevel, Message: MissedMessage(n),
		Fields: map[string]any{"event": true, "kind": eventlog.KindMissed, "missed": n}}.JSON()
	return line
}

// read throws away what the client sends, until it hangs up: that is how
// the server learns of a client gone while no entries flow. End of input
// may also be a client that closed only its writing half (socat, nc with
// stdin at its end): an empty line tells them apart, failing only when the
// client is gone.
func (s *Server) read(c *client) {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for {
		_, err := c.conn.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			if _, err := c.conn.Write([]byte("\n")); err == nil {
				return // half closed: still reading
			}
		}
		s.drop(c)
		return
	}
}

// drop forgets c and closes its connection, which ends both its goroutines.
func (s *Server) drop(c *client) {
	c.once.Do(func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
		close(c.done)
		c.conn.Close()
	})
}

// Close stops serving, disconnects every client and removes the socket if
// it is still this server's.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	clients := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	err := s.ln.Close()
	for _, c := range clients {
		s.drop(c)
	}
	s.wg.Wait()
	if fi, statErr := os.Lstat(s.path); statErr == nil && os.SameFile(fi, s.info) {
		os.Remove(s.path)
	}
	return err
}
