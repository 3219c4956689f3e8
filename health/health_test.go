package health

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func ok() error { return nil }

func failing(msg string) Check { return func() error { return errors.New(msg) } }

func TestProbesAnswerOKOrWhatIsMissing(t *testing.T) {
	linksGone := failing("1 program links are no longer pinned in /sys/fs/bpf/krsi/links (krsi_file_open)")
	notConnected := failing("not connected to NRI at /var/run/nri/nri.sock: dial unix: no such file or directory")
	notSynced := failing("connected to NRI at /var/run/nri/nri.sock; waiting for the runtime's Synchronize")
	tests := []struct {
		name     string
		checks   Checks
		method   string
		path     string
		wantCode int
		wantBody string
	}{
		{name: "alive", checks: Checks{Live: []Check{ok, ok}}, path: "/healthz",
			wantCode: 200, wantBody: "ok\n"},
		{name: "links gone", checks: Checks{Live: []Check{linksGone, ok}}, path: "/healthz",
			wantCode: 503, wantBody: "1 program links are no longer pinned in /sys/fs/bpf/krsi/links (krsi_file_open)\n"},
		{name: "healthz ignores readiness", checks: Checks{Live: []Check{ok}, Ready: []Check{notConnected}}, path: "/healthz",
			wantCode: 200, wantBody: "ok\n"},
		{name: "ready", checks: Checks{Live: []Check{ok}, Ready: []Check{ok}}, path: "/readyz",
			wantCode: 200, wantBody: "ok\n"},
		{name: "not connected", checks: Checks{Live: []Check{ok}, Ready: []Check{notConnected}}, path: "/readyz",
			wantCode: 503, wantBody: "not connected to NRI at /var/run/nri/nri.sock: dial unix: no such file or directory\n"},
		{name: "not synchronized", checks: Checks{Ready: []Check{notSynced}}, path: "/readyz",
			wantCode: 503, wantBody: "connected to NRI at /var/run/nri/nri.sock; waiting for the runtime's Synchronize\n"},
		{name: "not alive is not ready", checks: Checks{Live: []Check{linksGone}, Ready: []Check{notConnected}}, path: "/readyz",
			wantCode: 503, wantBody: "1 program links are no longer pinned in /sys/fs/bpf/krsi/links (krsi_file_open); " +
				"not connected to NRI at /var/run/nri/nri.sock: dial unix: no such file or directory\n"},
		{name: "multi-line reason on one line", checks: Checks{Live: []Check{failing("stuck\n  since 12:00\n")}}, path: "/healthz",
			wantCode: 503, wantBody: "stuck since 12:00\n"},
		{name: "HEAD", checks: Checks{Live: []Check{linksGone}}, method: http.MethodHead, path: "/healthz",
			wantCode: 503, wantBody: ""},
		{name: "POST refused", checks: Checks{Live: []Check{ok}}, method: http.MethodPost, path: "/healthz",
			wantCode: 405, wantBody: "method POST not allowed: use GET or HEAD\n"},
		{name: "other paths", checks: Checks{Live: []Check{ok}}, path: "/metrics",
			wantCode: 404, wantBody: "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.checks.Handler())
			defer srv.Close()
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			code, body, hdr := do(t, method, srv.URL+tt.path)
			if code != tt.wantCode || body != tt.wantBody {
				t.Errorf("%s %s = %d %q, want %d %q", method, tt.path, code, body, tt.wantCode, tt.wantBody)
			}
			if tt.wantCode != 404 && tt.wantCode != 405 && hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", hdr.Get("Cache-Control"))
			}
		})
	}
}

// The checks run at every request: a probe sees the state of now.
func TestProbesFollowTheChecks(t *testing.T) {
	var synced atomic.Bool
	srv := httptest.NewServer(Checks{Ready: []Check{func() error {
		if !synced.Load() {
			return errors.New("connection to NRI at /run/nri.sock closed; reconnecting")
		}
		return nil
	}}}.Handler())
	defer srv.Close()
	if code, _, _ := do(t, http.MethodGet, srv.URL+"/readyz"); code != 503 {
		t.Fatalf("while disconnected: %d, want 503", code)
	}
	synced.Store(true)
	if code, _, _ := do(t, http.MethodGet, srv.URL+"/readyz"); code != 200 {
		t.Fatalf("once synchronized: %d, want 200", code)
	}
}

func TestServeStopsWithItsContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, Checks{Live: []Check{ok}}.Handler()) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("/healthz = %d, want 200", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Serve did not answer on %s in 5s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after its context ended = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return 10s after its context ended")
	}
}

func TestServeSaysWhichAddressItCannotListenOn(t *testing.T) {
	err := Serve(context.Background(), "256.0.0.1:1", http.NotFoundHandler())
	if err == nil || !strings.Contains(err.Error(), "listen on 256.0.0.1:1") {
		t.Errorf("Serve on a bad address = %v, want it to name the address", err)
	}
}

func do(tb testing.TB, method, url string) (int, string, http.Header) {
	tb.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}
