package eventsock

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/krsi-dev/krsi/eventlog"
)

// KindRefused is the kind of the entry a refused client gets before the
// server hangs up (too many clients, not root).
const KindRefused = "refused"

// MaxLine bounds one line from the daemon; entries are far smaller (a path
// is at most 4096 bytes).
const MaxLine = 1 << 20

// ErrNotRunning means no daemon serves events at the socket.
var ErrNotRunning = errors.New("the krsi daemon is not running")

// Client reads the entries of a running daemon.
type Client struct {
	conn net.Conn
	sc   *bufio.Scanner
}

// Dial connects to the daemon's events socket.
func Dial(path string) (*Client, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("%w: no events socket at %s (is `krsi plugin` running, with --events-socket %s?)",
				ErrNotRunning, path, path)
		case errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("%w: nothing listens on %s (a stale socket of a krsi that stopped)", ErrNotRunning, path)
		case errors.Is(err, os.ErrPermission):
			return nil, fmt.Errorf("cannot connect to %s: permission denied: krsi events are for root only", path)
		}
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	return &Client{conn: conn, sc: sc}, nil
}

// ErrDaemonGone is returned by Next when the daemon closes the connection.
var ErrDaemonGone = errors.New("the krsi daemon closed the connection (it stopped or restarted)")

// ErrBadLine is returned by Next for a line that is not an entry; the next
// line may be.
var ErrBadLine = errors.New("not an event entry")

// Next blocks for the next entry; line is the entry as the daemon sent it,
// without the newline. A refusal by the daemon is returned as an error.
func (c *Client) Next() (e eventlog.Entry, line []byte, err error) {
	for len(line) == 0 { // empty lines carry nothing
		if !c.sc.Scan() {
			err := c.sc.Err()
			switch {
			case err == nil, errors.Is(err, syscall.ECONNRESET):
				return eventlog.Entry{}, nil, ErrDaemonGone
			case errors.Is(err, net.ErrClosed):
				return eventlog.Entry{}, nil, io.EOF
			}
			return eventlog.Entry{}, nil, fmt.Errorf("read events: %w", err)
		}
		line = c.sc.Bytes()
	}
	e, err = eventlog.ParseEntry(line)
	if err != nil {
		return eventlog.Entry{}, line, fmt.Errorf("%w: %v", ErrBadLine, err)
	}
	if e.Kind() == KindRefused {
		return e, line, fmt.Errorf("the krsi daemon refused: %s", e.Message)
	}
	return e, line, nil
}

// Close ends the connection; a blocked Next returns io.EOF.
func (c *Client) Close() error { return c.conn.Close() }

// Filter selects entries by container identity. Empty fields match all.
type Filter struct {
	Pod, Namespace, Container string
}

// Match says whether e is shown. Entries about the node, not one container
// (drops, missed entries, failed bindings, unreadable records, the summary
// of the rate limiter's overflow), always are: the events they count may be
// the filtered ones.
func (f Filter) Match(e eventlog.Entry) bool {
	switch e.Kind() {
	case eventlog.KindViolation, eventlog.KindSuppressed:
		if e.Fields["overflow"] == true {
			return true // a summary of many containers
		}
	default:
		return true
	}
	for field, want := range map[string]string{"pod": f.Pod, "namespace": f.Namespace, "container": f.Container} {
		if want == "" {
			continue
		}
		if got, _ := e.Fields[field].(string); got != want {
			return false
		}
	}
	return true
}
