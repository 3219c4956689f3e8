package uninstall

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

const token = "sa-token-123"

var owner = Owner{Namespace: "krsi-system", Name: "krsi"}

const dsPath = "/apis/apps/v1/namespaces/krsi-system/daemonsets/krsi"

// apiServer is a TLS server answering the DaemonSet GET with h, after
// checking the request carries the token; it returns Options to reach it.
func apiServer(tb testing.TB, h http.HandlerFunc) (Options, *httptest.Server) {
	tb.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != dsPath {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusTeapot)
			return
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+token {
			http.Error(w, `{"kind":"Status","reason":"Unauthorized","message":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		h(w, r)
	}))
	tb.Cleanup(srv.Close)
	dir := tb.TempDir()
	opts := Options{
		Server:    srv.URL,
		TokenFile: filepath.Join(dir, "token"),
		CAFile:    filepath.Join(dir, "ca.crt"),
		Timeout:   2 * time.Second,
	}
	writeFile(tb, opts.TokenFile, token+"\n")
	writeFile(tb, opts.CAFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	return opts, srv
}

func writeFile(tb testing.TB, path, data string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// otherCA is a CA certificate (PEM) that signed nothing the server uses.
func otherCA(tb testing.TB) string {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another cluster's CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func answer(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

const (
	present  = `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"krsi","namespace":"krsi-system","uid":"u-1"}}`
	deleting = `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"krsi","namespace":"krsi-system","uid":"u-1",` +
		`"deletionTimestamp":"2026-01-02T03:04:05Z","finalizers":["foregroundDeletion"]}}`
	notFound = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",` +
		`"message":"daemonsets.apps \"krsi\" not found","reason":"NotFound","details":{"name":"krsi","group":"apps","kind":"daemonsets"},"code":404}`
	forbidden = `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"daemonsets.apps \"krsi\" is forbidden: ` +
		`User \"system:serviceaccount:krsi-system:krsi\" cannot get resource \"daemonsets\"","reason":"Forbidden","code":403}`
)

func TestStoppingUnloadsOnlyWhenTheDaemonSetIsGone(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		setup      func(tb testing.TB, opts *Options, srv *httptest.Server)
		wantUnload bool
		wantLevel  logrus.Level
		wantLog    []string // substrings of the last entry's message and fields
	}{
		{name: "200 present: a restart or upgrade", handler: answer(200, present),
			wantLevel: logrus.InfoLevel, wantLog: []string{"not uninstalled", "DaemonSet krsi-system/krsi exists (uid u-1)"}},
		{name: "200 with deletionTimestamp: being deleted", handler: answer(200, deleting), wantUnload: true,
			wantLevel: logrus.InfoLevel, wantLog: []string{"krsi was uninstalled", "being deleted (deletionTimestamp 2026-01-02T03:04:05Z)"}},
		{name: "404 NotFound: deleted", handler: answer(404, notFound), wantUnload: true,
			wantLevel: logrus.InfoLevel, wantLog: []string{"krsi was uninstalled", `daemonsets.apps "krsi" not found`}},
		{name: "404 from something that is not the API server", handler: answer(404, "<html>no such page</html>"),
			wantLevel: logrus.WarnLevel, wantLog: []string{"pins stay", "404 without a Kubernetes NotFound status", "krsi unload --pin-dir /sys/fs/bpf/krsi"}},
		{name: "500", handler: answer(500, `{"kind":"Status","message":"etcdserver: request timed out","reason":"InternalError"}`),
			wantLevel: logrus.WarnLevel, wantLog: []string{"cannot tell whether krsi was uninstalled", "500 Internal Server Error: etcdserver: request timed out"}},
		{name: "403: no RBAC", handler: answer(403, forbidden),
			wantLevel: logrus.WarnLevel, wantLog: []string{"pins stay", "may not get daemonsets in namespace krsi-system", "resourceNames [krsi]"}},
		{name: "200 that is not JSON", handler: answer(200, "ok"),
			wantLevel: logrus.WarnLevel, wantLog: []string{"pins stay", "200 with a body that is not a DaemonSet"}},
		{name: "redirect not followed", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
		}, wantLevel: logrus.WarnLevel, wantLog: []string{"pins stay", "302 Found"}},
		{name: "unreachable", handler: answer(200, present), setup: func(tb testing.TB, opts *Options, srv *httptest.Server) {
			srv.Close()
		}, wantLevel: logrus.WarnLevel, wantLog: []string{"pins stay", "connection refused"}},
		{name: "too slow", handler: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, setup: func(tb testing.TB, opts *Options, srv *httptest.Server) {
			opts.Timeout = 100 * time.Millisecond
		}, wantLevel: logrus.WarnLevel, wantLog: []string{"pins stay", "deadline exceeded"}},
		{name: "token file gone", handler: answer(404, notFound), setup: func(tb testing.TB, opts *Options, srv *httptest.Server) {
			os.Remove(opts.TokenFile)
		}, wantLevel: logrus.WarnLevel, wantLog: []string{"pins stay", "read the service account token"}},
		{name: "token file empty", handler: answer(404, notFound), setup: func(tb testing.TB, opts *Options, srv *httptest.Server) {
			writeFile(tb, opts.TokenFile, "\n")
		}, wantLevel: logrus.WarnLevel, wantLog: []string{"pins stay", "token", "is empty"}},
		{name: "wrong token", handler: answer(404, notFound), setup: func(tb testing.TB, opts *Options, srv *httptest.Server) {
			writeFile(tb, opts.TokenFile, "stale")
		}, wantLevel: logrus.WarnLevel, wantLog: []string{"pins stay", "401 Unauthorized"}},
		{name: "untrusted server certificate", handler: answer(404, notFound), setup: func(tb testing.TB, opts *Options, srv *httptest.Server) {
			writeFile(tb, opts.CAFile, otherCA(tb))
		}, wantLevel: logrus.WarnLevel, wantLog: []string{"pins stay", "certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, srv := apiServer(t, tt.handler)
			c, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(t, &opts, srv)
				c.timeout = opts.Timeout
			}
			log, hook := logtest.NewNullLogger()
			unloaded := false
			g := Guard{Owner: owner, Client: c, PinDir: "/sys/fs/bpf/krsi", Log: log,
				Unload: func() error { unloaded = true; return nil }}
			did, err := g.Stopping(context.Background())
			if err != nil {
				t.Fatalf("Stopping = %v", err)
			}
			if did != tt.wantUnload || unloaded != tt.wantUnload {
				t.Errorf("Stopping unloaded = %v (Unload called: %v), want %v", did, unloaded, tt.wantUnload)
			}
			e := hook.LastEntry()
			if e == nil {
				t.Fatal("Stopping logged nothing")
			}
			if e.Level != tt.wantLevel {
				t.Errorf("logged at %s, want %s: %s", e.Level, tt.wantLevel, e.Message)
			}
			text := e.Message + fmt.Sprint(e.Data)
			for _, want := range tt.wantLog {
				if !strings.Contains(text, want) {
					t.Errorf("log %q\nwant it to say %q", text, want)
				}
			}
		})
	}
}

func TestStoppingReportsAFailedUnload(t *testing.T) {
	opts, _ := apiServer(t, answer(404, notFound))
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	log, hook := logtest.NewNullLogger()
	g := Guard{Owner: owner, Client: c, PinDir: "/sys/fs/bpf/krsi", Log: log,
		Unload: func() error { return errors.New("remove pins in /sys/fs/bpf/krsi: device busy") }}
	did, err := g.Stopping(context.Background())
	if did || err == nil || !strings.Contains(err.Error(), "device busy") {
		t.Fatalf("Stopping = %v, %v; want the unload's error", did, err)
	}
	if e := hook.LastEntry(); e == nil || e.Level != logrus.ErrorLevel || !strings.Contains(e.Message, "krsi unload --pin-dir /sys/fs/bpf/krsi") {
		t.Errorf("log = %+v, want an error saying how to unload by hand", e)
	}
}

func TestNewRefusesWhatCannotWorkAtUninstall(t *testing.T) {
	opts, _ := apiServer(t, answer(200, present))
	tests := []struct {
		name    string
		change  func(o *Options)
		wantErr string
	}{
		{name: "fine", change: func(o *Options) {}},
		{name: "plain http", change: func(o *Options) { o.Server = "http://10.0.0.1:6443" }, wantErr: "want https://HOST:PORT"},
		{name: "no host", change: func(o *Options) { o.Server = "https://" }, wantErr: "want https://HOST:PORT"},
		{name: "a path", change: func(o *Options) { o.Server = "https://10.0.0.1:6443/api" }, wantErr: "want https://HOST:PORT"},
		{name: "not a URL", change: func(o *Options) { o.Server = "://x" }, wantErr: `API server "://x"`},
		{name: "no token", change: func(o *Options) { o.TokenFile = "/nonexistent/token" }, wantErr: "read the service account token"},
		{name: "no CA", change: func(o *Options) { o.CAFile = "/nonexistent/ca.crt" }, wantErr: "read the API server's CA"},
		{name: "CA not PEM", change: func(o *Options) { o.CAFile = o.TokenFile }, wantErr: "holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts
			tt.change(&o)
			_, err := New(o)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseOwner(t *testing.T) {
	nsFile := filepath.Join(t.TempDir(), "namespace")
	writeFile(t, nsFile, "krsi-system")
	tests := []struct {
		in      string
		nsFile  string
		want    Owner
		wantErr string
	}{
		{in: "krsi-system/krsi", want: owner},
		{in: "kube-system/krsi.node-agent", want: Owner{"kube-system", "krsi.node-agent"}},
		{in: "krsi", nsFile: nsFile, want: owner},
		{in: "krsi", nsFile: "/nonexistent", wantErr: "give NAMESPACE/NAME"},
		{in: "Krsi-System/krsi", wantErr: `namespace "Krsi-System" is not a Kubernetes namespace name`},
		{in: "/krsi", wantErr: `namespace "" is not`},
		{in: "krsi-system/", wantErr: `name "" is not a Kubernetes object name`},
		{in: "krsi-system/krsi/extra", wantErr: `name "krsi/extra" is not`},
		{in: "krsi-system/../../secrets", wantErr: "is not a Kubernetes object name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseOwner(tt.in, tt.nsFile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseOwner(%q) = %v, %v; want %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseOwner(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestInClusterServer(t *testing.T) {
	tests := []struct {
		host, port string
		want       string
		wantErr    bool
	}{
		{host: "10.96.0.1", port: "443", want: "https://10.96.0.1:443"},
		{host: "fd00::1", port: "443", want: "https://[fd00::1]:443"},
		{host: "", port: "443", wantErr: true},
		{host: "10.96.0.1", port: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.host+":"+tt.port, func(t *testing.T) {
			t.Setenv("KUBERNETES_SERVICE_HOST", tt.host)
			t.Setenv("KUBERNETES_SERVICE_PORT", tt.port)
			got, err := InClusterServer()
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "https://HOST:PORT") {
					t.Fatalf("InClusterServer = %q, %v; want an error saying to give the server", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("InClusterServer = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
