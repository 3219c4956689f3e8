// Package uninstall tells, when the node daemon stops, whether krsi was
// uninstalled from the cluster — its DaemonSet deleted — or is only being
// restarted or upgraded. Enforcement is pinned so that it outlives the pod;
// only an uninstall may remove the pins. It asks the Kubernetes API with the
// pod's service account, over plain HTTPS, and anything short of a clear
// answer (404 NotFound, or a deletionTimestamp) keeps enforcement.
//
// Not a step of the pipeline: it decides the daemon's last act.
package uninstall

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// The pod's service account, as the kubelet mounts it.
const (
	DefaultTokenFile     = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	DefaultCAFile        = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
	DefaultNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
)

// DefaultTimeout bounds one question to the API server: the pod's grace
// period must hold it (the DaemonSet's terminationGracePeriodSeconds).
const DefaultTimeout = 5 * time.Second

// maxBody bounds what is read of an answer: a DaemonSet is a few kilobytes.
const maxBody = 4 << 20

// Owner is the DaemonSet whose deletion means krsi was uninstalled.
type Owner struct {
	Namespace, Name string
}

func (o Owner) String() string { return o.Namespace + "/" + o.Name }

var (
	// A namespace is a DNS label; a DaemonSet's name a DNS subdomain.
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// ParseOwner reads NAMESPACE/NAME. A bare NAME is in namespaceFile's
// namespace (the pod's own: DefaultNamespaceFile).
func ParseOwner(s, namespaceFile string) (Owner, error) {
	var o Owner
	ns, name, found := strings.Cut(s, "/")
	if found {
		o = Owner{Namespace: ns, Name: name}
	} else {
		data, err := os.ReadFile(namespaceFile)
		if err != nil {
			return o, fmt.Errorf("DaemonSet %q has no namespace, and the pod's cannot be read: %w; give NAMESPACE/NAME", s, err)
		}
		o = Owner{Namespace: strings.TrimSpace(string(data)), Name: s}
	}
	if len(o.Namespace) > 63 || !dnsLabel.MatchString(o.Namespace) {
		return o, fmt.Errorf("DaemonSet %q: namespace %q is not a Kubernetes namespace name (lower-case letters, digits, '-'); want NAMESPACE/NAME", s, o.Namespace)
	}
	if len(o.Name) > 253 || !dnsSubdomain.MatchString(o.Name) {
		return o, fmt.Errorf("DaemonSet %q: name %q is not a Kubernetes object name (lower-case letters, digits, '-', '.'); want NAMESPACE/NAME", s, o.Name)
	}
	return o, nil
}

// InClusterServer is the API server as a pod sees it: the kubernetes
// Service, from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT. A node
// without kube-proxy cannot reach that address: give the server instead.
func InClusterServer() (string, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return "", errors.New("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?): " +
			"give the API server as https://HOST:PORT")
	}
	return "https://" + net.JoinHostPort(host, port), nil
}

// Client asks the API server about the owner.
type Client struct {
	server    *url.URL
	tokenFile string
	caFile    string
	timeout   time.Duration
}

// Options for New. Empty files and timeout take the defaults.
type Options struct {
	// Server is https://HOST:PORT.
	Server    string
	TokenFile string
	CAFile    string
	Timeout   time.Duration
}

// New checks the options and reads the service account's files once, so
// that a deployment without them fails at start, not at its uninstall. The
// files are read again at each question: the kubelet rotates the token.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.Server)
	if err != nil {
		return nil, fmt.Errorf("API server %q: %w", opts.Server, err)
	}
	if u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("API server %q: want https://HOST:PORT (the token is not sent over plain HTTP)", opts.Server)
	}
	u.Path = ""
	c := &Client{server: u, tokenFile: opts.TokenFile, caFile: opts.CAFile, timeout: opts.Timeout}
	if c.tokenFile == "" {
		c.tokenFile = DefaultTokenFile
	}
	if c.caFile == "" {
		c.caFile = DefaultCAFile
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if _, err := c.token(); err != nil {
		return nil, err
	}
	if _, err := c.httpClient(); err != nil {
		return nil, err
	}
	return c, nil
}

// Server is the API server asked.
func (c *Client) Server() string { return c.server.String() }

func (c *Client) token() (string, error) {
	data, err := os.ReadFile(c.tokenFile)
	if err != nil {
		return "", fmt.Errorf("read the service account token: %w (mount it: automountServiceAccountToken)", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("service account token %s is empty", c.tokenFile)
	}
	return tok, nil
}

func (c *Client) httpClient() (*http.Client, error) {
	pem, err := os.ReadFile(c.caFile)
	if err != nil {
		return nil, fmt.Errorf("read the API server's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("API server CA %s holds no PEM certificate", c.caFile)
	}
	return &http.Client{
		Timeout: c.timeout,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			Proxy:               nil, // the API server is asked directly, whatever the environment says
			TLSHandshakeTimeout: c.timeout,
		},
		// An API server does not redirect a GET of an object; anything that
		// does is not one, and must not get the token.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// Verdict is what the API server said of the owner.
type Verdict struct {
	// Gone: the DaemonSet does not exist (404 NotFound) or is being deleted
	// (deletionTimestamp set): krsi is being uninstalled.
	Gone bool
	// Why says so in a sentence, for the log.
	Why string
}

// objectMeta is the part of a DaemonSet read here.
type objectMeta struct {
	Metadata struct {
		Name              string     `json:"name"`
		Namespace         string     `json:"namespace"`
		UID               string     `json:"uid"`
		DeletionTimestamp *time.Time `json:"deletionTimestamp"`
	} `json:"metadata"`
}

// status is the API server's error object (kind Status).
type status struct {
	Kind    string `json:"kind"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Check asks whether the owner still exists and is not being deleted. An
// error means the API server's answer does not tell: the caller must keep
// enforcement.
func (c *Client) Check(ctx context.Context, o Owner) (Verdict, error) {
	tok, err := c.token()
	if err != nil {
		return Verdict{}, err
	}
	hc, err := c.httpClient()
	if err != nil {
		return Verdict{}, err
	}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.server.JoinPath("apis/apps/v1/namespaces", o.Namespace, "daemonsets", o.Name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Verdict{}, fmt.Errorf("GET %s: %w", u, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "krsi")
	resp, err := hc.Do(req)
	if err != nil {
		return Verdict{}, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return Verdict{}, fmt.Errorf("GET %s: read the answer: %w", u, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var ds objectMeta
		if err := json.Unmarshal(body, &ds); err != nil {
			return Verdict{}, fmt.Errorf("GET %s: 200 with a body that is not a DaemonSet: %w", u, err)
		}
		if ds.Metadata.DeletionTimestamp != nil {
			return Verdict{Gone: true, Why: fmt.Sprintf("DaemonSet %s is being deleted (deletionTimestamp %s)",
				o, ds.Metadata.DeletionTimestamp.UTC().Format(time.RFC3339))}, nil
		}
		return Verdict{Why: fmt.Sprintf("DaemonSet %s exists (uid %s)", o, ds.Metadata.UID)}, nil
	case http.StatusNotFound:
		// Only the API server's own NotFound: a 404 from something else at
		// that address (a wrong --api-server) must not remove enforcement.
		var st status
		if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" || st.Reason != "NotFound" {
			return Verdict{}, fmt.Errorf("GET %s: 404 without a Kubernetes NotFound status (is %s the API server?): %s",
				u, c.server, snippet(body))
		}
		return Verdict{Gone: true, Why: fmt.Sprintf("DaemonSet %s does not exist: %s", o, st.Message)}, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return Verdict{}, fmt.Errorf("GET %s: %s: the service account may not get daemonsets in namespace %s "+
			"(RBAC: a Role with get on daemonsets, resourceNames [%s]): %s", u, resp.Status, o.Namespace, o.Name, message(body))
	}
	return Verdict{}, fmt.Errorf("GET %s: %s: %s", u, resp.Status, message(body))
}

// message is a Status's message, or the start of the body.
func message(body []byte) string {
	var st status
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		return st.Message
	}
	return snippet(body)
}

func snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// Guard removes the pins at shutdown when, and only when, the owner is gone.
type Guard struct {
	Owner  Owner
	Client *Client
	// Unload removes krsi's pins (enforcement.Enforcer.Unload).
	Unload func() error
	// PinDir is where the pins are, for the log.
	PinDir string
	Log    logrus.FieldLogger
}

// Stopping asks the API server and unloads if the owner is gone. It returns
// whether it unloaded; an error is an unload that failed. Every outcome is
// logged: unloaded (info), kept because the DaemonSet is there (info), kept
// because the answer did not tell (warning, with how to remove them by hand).
func (g Guard) Stopping(ctx context.Context) (bool, error) {
	log := g.Log.WithFields(logrus.Fields{"daemonset": g.Owner.String(), "api_server": g.Client.Server(), "pin_dir": g.PinDir})
	v, err := g.Client.Check(ctx, g.Owner)
	if err != nil {
		log.WithError(err).Warn("cannot tell whether krsi was uninstalled: its pins stay and keep enforcing; " +
			"if it was, `krsi unload --pin-dir " + g.PinDir + "` on the node removes them")
		return false, nil
	}
	if !v.Gone {
		log.WithField("why", v.Why).Info("krsi is restarting or upgrading, not uninstalled: its pins stay and keep enforcing")
		return false, nil
	}
	if err := g.Unload(); err != nil {
		log.WithError(err).WithField("why", v.Why).Error("krsi was uninstalled, but removing its pins failed; " +
			"`krsi unload --pin-dir " + g.PinDir + "` on the node removes them")
		return false, fmt.Errorf("unload after uninstall (%s): %w", v.Why, err)
	}
	log.WithField("why", v.Why).Info("krsi was uninstalled: its pins are removed and enforcement stopped on this node")
	return true, nil
}
