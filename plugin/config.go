package plugin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/krsi-dev/krsi/admission"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/policy"
	"github.com/krsi-dev/krsi/selector"
)

// DefaultConfigPath is where the runtime looks for a pre-registered plugin's
// configuration, and where `krsi plugin` reads its own by default.
const DefaultConfigPath = "/etc/nri/conf.d/10-krsi.conf"

// Config is the node's krsi configuration (YAML, unknown fields are errors).
type Config struct {
	// SocketPath is the runtime's NRI socket.
	SocketPath string `yaml:"socketPath"`
	// PluginName and PluginIndex register the plugin (index orders plugins).
	PluginName  string `yaml:"pluginName"`
	PluginIndex string `yaml:"pluginIndex"`
	// PinDir is where enforcement is pinned in bpffs.
	PinDir string `yaml:"pinDir"`
	// ProfileDirs hold the node's profile files (localhost/NAME, image profiles).
	ProfileDirs []string `yaml:"profileDirs"`
	// DefaultProfile applies to containers nothing else selects a profile for:
	// "" (none), "builtin/NAME", "localhost/NAME" or "unconfined".
	DefaultProfile string `yaml:"defaultProfile"`
	// AllowUnconfined lets pods opt out with the value "unconfined".
	AllowUnconfined bool `yaml:"allowUnconfined"`
	// AllowModeRelax lets an annotation turn an enforcing profile to audit.
	AllowModeRelax bool `yaml:"allowModeRelax"`
	// ExemptNamespaces and ExemptPods ("namespace/name") are never confined.
	ExemptNamespaces []string `yaml:"exemptNamespaces"`
	ExemptPods       []string `yaml:"exemptPods"`
	// Policy bounds, per namespace, what pods' annotations may choose
	// (docs/selection.md, "Who may choose what"). Unset: any profile, and
	// AllowUnconfined and AllowModeRelax for every namespace.
	Policy policy.Config `yaml:"policy"`
	// Recording says in which namespaces record.krsi.dev annotations are
	// honoured (none by default) and caps the recordings.
	Recording policy.Recording `yaml:"recording"`
	// RecordDir is where runs recorded through record.krsi.dev annotations
	// are written as profiles (NAME.yaml).
	RecordDir string `yaml:"recordDir"`
	// MetricsAddr serves Prometheus /metrics on HOST:PORT; empty: off. It has
	// no authentication: keep it on loopback.
	MetricsAddr string `yaml:"metricsAddr"`
	// HealthAddr serves /healthz and /readyz on HOST:PORT; empty: off. The
	// same address as MetricsAddr serves all three on one listener.
	HealthAddr string `yaml:"healthAddr"`

	// Fail closed (docs/failure-modes.md): the kernel binds a container
	// cgroup nobody staged — krsi was down, stopped or too slow when the
	// runtime created it — to FallbackProfile, if it is created under one of
	// these parents. Paths are cgroup v2 hierarchy paths, as the kernel's
	// cgroup_mkdir reports them.
	//
	// PodCgroupParents hold pod cgroups, which hold container cgroups: the
	// kubelet's QoS levels. ContainerCgroupParents hold container cgroups
	// directly (containerd puts containers without a cgroup parent in
	// /k8s.io). Nothing else on the host is touched.
	PodCgroupParents       []string `yaml:"podCgroupParents"`
	ContainerCgroupParents []string `yaml:"containerCgroupParents"`
	// FallbackProfile: "" means the node's DefaultProfile if that names a
	// profile, else builtin/wx (W^X only: the one built-in profile every
	// runtime's start-up and a pod's pause container run under). "unconfined"
	// turns fail closed off.
	FallbackProfile string `yaml:"fallbackProfile"`
}

// DefaultPodCgroupParents are the kubelet's QoS levels with the cgroupfs
// driver (/kubepods; guaranteed pods sit right in it) and the systemd
// driver, whichever runtime creates the containers in them.
var DefaultPodCgroupParents = []string{
	"/kubepods", "/kubepods/besteffort", "/kubepods/burstable",
	"/kubepods.slice", "/kubepods.slice/kubepods-besteffort.slice", "/kubepods.slice/kubepods-burstable.slice",
}

// DefaultContainerCgroupParents: containerd's cgroup for containers created
// with no cgroup parent (crictl, tests) with the cgroupfs driver. With the
// systemd driver those go to /system.slice, which holds the host's own
// services: it is not marked by default.
var DefaultContainerCgroupParents = []string{"/k8s.io"}

// fallbackFloor is the fallback when the node has no default profile.
const fallbackFloor = "builtin/wx"

// Fallback is the profile reference new containers nobody staged get, or
// "unconfined" when fail closed is off.
func (c Config) Fallback() string {
	switch {
	case c.FallbackProfile != "":
		return c.FallbackProfile
	case c.DefaultProfile != "" && c.DefaultProfile != selector.Unconfined:
		return c.DefaultProfile
	}
	return fallbackFloor
}

// DefaultConfig is what a node gets with no configuration file.
func DefaultConfig() Config {
	return Config{
		SocketPath:  "/var/run/nri/nri.sock",
		PluginName:  "krsi",
		PluginIndex: "10",
		PinDir:      enforced.DefaultPinDir,
		ProfileDirs: []string{"/etc/krsi/profiles.d"},
		RecordDir:   "/var/lib/krsi/recorded",
		Recording:   policy.DefaultRecording(),

		PodCgroupParents:       slices.Clone(DefaultPodCgroupParents),
		ContainerCgroupParents: slices.Clone(DefaultContainerCgroupParents),
	}
}

// Selection is the part of the configuration that profile selection uses.
func (c Config) Selection() selector.Config {
	return selector.Config{
		DefaultProfile:   c.DefaultProfile,
		AllowUnconfined:  c.AllowUnconfined,
		AllowModeRelax:   c.AllowModeRelax,
		ExemptNamespaces: c.ExemptNamespaces,
		ExemptPods:       c.ExemptPods,
		Policy:           c.Policy,
	}
}

// Admission is what the Kubernetes admission policy is generated from
// (`krsi admission`); its admission.Fingerprint is logged at start-up.
func (c Config) Admission() admission.Input {
	return admission.Input{
		AllowUnconfined: c.AllowUnconfined, AllowModeRelax: c.AllowModeRelax,
		ExemptNamespaces: c.ExemptNamespaces, ExemptPods: c.ExemptPods,
		Policy: c.Policy, Recording: c.Recording,
	}
}

// maxConfigSize bounds what is read: a config is a few hundred bytes.
const maxConfigSize = 1 << 20

// ParseConfig reads a configuration over the defaults. name is used in errors.
func ParseConfig(name string, data []byte) (Config, error) {
	cfg := DefaultConfig()
	if len(data) > maxConfigSize {
		return cfg, fmt.Errorf("%s: %d bytes, more than the %d a configuration may have", name, len(data), maxConfigSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return cfg, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", name, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("%s: more than one YAML document", name)
	}
	if cfg.SocketPath == "" || cfg.PinDir == "" || cfg.PluginName == "" || cfg.PluginIndex == "" {
		return cfg, fmt.Errorf("%s: socketPath, pinDir, pluginName and pluginIndex must not be empty", name)
	}
	if len(cfg.PluginIndex) != 2 || cfg.PluginIndex[0] < '0' || cfg.PluginIndex[0] > '9' ||
		cfg.PluginIndex[1] < '0' || cfg.PluginIndex[1] > '9' {
		return cfg, fmt.Errorf("%s: pluginIndex %q: want two digits, e.g. \"10\"", name, cfg.PluginIndex)
	}
	for _, a := range []struct{ key, addr string }{{"metricsAddr", cfg.MetricsAddr}, {"healthAddr", cfg.HealthAddr}} {
		if err := CheckListenAddr(a.key, a.addr); err != nil {
			return cfg, fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := cfg.checkParents(); err != nil {
		return cfg, fmt.Errorf("%s: %w", name, err)
	}
	if err := cfg.Policy.Check(); err != nil {
		return cfg, fmt.Errorf("%s: %w", name, err)
	}
	if err := cfg.Recording.Check(); err != nil {
		return cfg, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// CheckListenAddr checks an address krsi serves HTTP on (metricsAddr,
// healthAddr, their flags): empty (off) or HOST:PORT with a numeric port,
// the host optional (":9465" is every address). key names it in the error.
func CheckListenAddr(key, addr string) error {
	if addr == "" {
		return nil
	}
	const want = "want HOST:PORT, e.g. 127.0.0.1:9465 or :9465, or empty for off"
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %s (%w)", key, addr, want, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%s %q: port %q is not a number from 1 to 65535; %s", key, addr, port, want)
	}
	return nil
}

func (c Config) checkParents() error {
	seen := map[string]bool{}
	for _, list := range []struct {
		key   string
		paths []string
	}{{"podCgroupParents", c.PodCgroupParents}, {"containerCgroupParents", c.ContainerCgroupParents}} {
		for i, p := range list.paths {
			switch {
			case p == "" || p[0] != '/' || path.Clean(p) != p:
				return fmt.Errorf("%s[%d]: %q is not a clean absolute cgroup path (like /kubepods/besteffort)", list.key, i, p)
			case p == "/":
				return fmt.Errorf("%s[%d]: the cgroup root holds the host's own cgroups; name the runtime's parents", list.key, i)
			case len(p) > enforced.MaxCgroupPathLen:
				return fmt.Errorf("%s[%d]: %d bytes, longer than the %d the kernel compares", list.key, i, len(p), enforced.MaxCgroupPathLen)
			case seen[p]:
				return fmt.Errorf("%s[%d]: %s is listed twice", list.key, i, p)
			}
			seen[p] = true
		}
	}
	if len(seen) > enforced.MaxCgroupParents {
		return fmt.Errorf("podCgroupParents and containerCgroupParents: %d paths, at most %d", len(seen), enforced.MaxCgroupParents)
	}
	return nil
}

// LoadConfig reads path; a missing file at the default path means defaults.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && path == DefaultConfigPath {
		return DefaultConfig(), nil
	}
	if err != nil {
		return DefaultConfig(), fmt.Errorf("read krsi configuration: %w", err)
	}
	return ParseConfig(path, data)
}
