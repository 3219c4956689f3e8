// Package health serves the daemon's probes for the kubelet (or any
// supervisor): /healthz says krsi is alive — its programs are attached and
// its state is not stuck — and /readyz that it also serves the runtime —
// connected to NRI and synchronized. It watches the pipeline from the side
// and decides nothing: the checks come from the packages that know
// (enforcement, plugin).
//
// The endpoint is off unless a daemon calls Serve. It has no authentication;
// what it tells (a connection error, a pin path) is about the node only.
package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Check returns nil when what it checks is fine, or an error whose message
// says what is missing, with which input (a socket path, a pin directory):
// it becomes the response body.
type Check func() error

// Checks are the endpoints' checks.
type Checks struct {
	// Live are /healthz's: failing them means krsi should be restarted.
	Live []Check
	// Ready are /readyz's, after the Live ones (a daemon that is not alive
	// is not ready either): failing them means krsi does not serve the
	// runtime now, and a rolling upgrade should wait.
	Ready []Check
}

// Register adds /healthz and /readyz to mux.
func (c Checks) Register(mux *http.ServeMux) {
	mux.Handle("/healthz", probe(c.Live))
	mux.Handle("/readyz", probe(append(c.Live[:len(c.Live):len(c.Live)], c.Ready...)))
}

// Handler serves /healthz and /readyz.
func (c Checks) Handler() http.Handler {
	mux := http.NewServeMux()
	c.Register(mux)
	return mux
}

// probe answers 200 "ok" when every check passes, else 503 with the failed
// checks' reasons on one line, joined by "; ".
func probe(checks []Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method "+r.Method+" not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
			return
		}
		var reasons []string
		for _, check := range checks {
			if err := check(); err != nil {
				reasons = append(reasons, oneLine(err.Error()))
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if len(reasons) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, strings.Join(reasons, "; "))
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// oneLine keeps a reason on one line: the kubelet records the body in the
// pod's events, and scripts read it with one read.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Serve serves h on addr (HOST:PORT, e.g. 127.0.0.1:9465) until ctx ends,
// then returns nil. It returns at once if addr cannot be listened on. The
// metrics server is served by it too.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		srv.Close()
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", addr, err)
	}
	return nil
}
