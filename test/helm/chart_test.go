// Package helm checks the Helm chart deploy/helm/krsi, the way krsi is
// deployed on Kubernetes: its values are the node configuration's keys,
// the admission policy it ships is what its default configuration
// generates, and what it renders is what the daemon and the kubelet need
// (probes on the named port, the config checksum that rolls the pods, the
// profiles ConfigMap mounted as a watched directory, a Role that reads one
// DaemonSet). deploy/kubernetes/*.yaml are its renders.
//
// The tests that run helm need KRSI_HELM, a helm command: `make
// check-chart` builds helm if needed (test/helm/helm.sh) and sets it. The
// others run in every `go test ./...`.
//
// After changing the chart's defaults or the admission generator:
//
//	make update-chart      (go test ./test/helm -update, with KRSI_HELM)
package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/krsi-dev/krsi/admission"
	"github.com/krsi-dev/krsi/plugin"
)

var update = flag.Bool("update", false, "rewrite the chart's admission files and deploy/kubernetes/*.yaml")

const (
	chartDir       = "../../deploy/helm/krsi"
	valuesFile     = chartDir + "/values.yaml"
	schemaFile     = chartDir + "/values.schema.json"
	admissionFile  = chartDir + "/files/admission.yaml"
	admissionInput = chartDir + "/files/admission-input.json"
	// admissionFrom names the configuration in the generated file's header.
	admissionFrom = "deploy/helm/krsi/values.yaml (config)"

	release   = "krsi"
	namespace = "krsi-system"
)

// pendingConfigKeys are node configuration keys the chart sets that this
// tree's daemon may not read yet (they come with the daemon's health
// endpoints). While plugin.Config lacks one, the tests here drop it before
// parsing a configuration; once it has it, it is parsed like the rest.
var pendingConfigKeys = []string{"healthAddr"}

// daemonConfigKeys are the yaml names of plugin.Config's fields.
func daemonConfigKeys() []string {
	var keys []string
	t := reflect.TypeFor[plugin.Config]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	return keys
}

// parseConfig parses a node configuration as the daemon does, without the
// pending keys this tree's daemon does not know yet.
func parseConfig(tb testing.TB, name string, data []byte) plugin.Config {
	tb.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	known := daemonConfigKeys()
	for _, k := range pendingConfigKeys {
		if _, ok := m[k]; ok && !slices.Contains(known, k) {
			tb.Logf("%s: dropping %s, which this tree's daemon does not read yet", name, k)
			delete(m, k)
		}
	}
	data, err := yaml.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := plugin.ParseConfig(name, data)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// chartValues is values.yaml as a map.
func chartValues(tb testing.TB) map[string]any {
	tb.Helper()
	data, err := os.ReadFile(valuesFile)
	if err != nil {
		tb.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		tb.Fatalf("%s: %v", valuesFile, err)
	}
	return v
}

// The chart's config values are the daemon's configuration keys one to one
// (socketPath comes from nri.socketPath): values.schema.json lists exactly
// those, and values.yaml sets all of them but the cgroup parents, which are
// left to the daemon's defaults unless set.
func TestChartConfigKeysAreTheDaemonsKeys(t *testing.T) {
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	var configSchema struct {
		Properties map[string]any `json:"properties"`
	}
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	if err := json.Unmarshal(schema.Properties["config"], &configSchema); err != nil {
		t.Fatalf("%s: config: %v", schemaFile, err)
	}
	inSchema := slices.Sorted(maps.Keys(configSchema.Properties))

	want := slices.DeleteFunc(daemonConfigKeys(), func(k string) bool { return k == "socketPath" })
	for _, k := range pendingConfigKeys {
		if !slices.Contains(want, k) {
			want = append(want, k)
		}
	}
	slices.Sort(want)
	if !slices.Equal(inSchema, want) {
		t.Errorf("%s: config properties %q, want plugin.Config's yaml keys but socketPath: %q", schemaFile, inSchema, want)
	}

	// Every top-level value is in the schema, which refuses others (typos).
	values := chartValues(t)
	if top, want := slices.Sorted(maps.Keys(values)), slices.DeleteFunc(slices.Sorted(maps.Keys(schema.Properties)), func(k string) bool {
		return k == "global"
	}); !slices.Equal(top, want) {
		t.Errorf("%s: top-level keys %q, the schema's %q", valuesFile, top, want)
	}

	cfg, _ := values["config"].(map[string]any)
	inValues := slices.Sorted(maps.Keys(cfg))
	wantValues := slices.DeleteFunc(slices.Clone(want), func(k string) bool {
		return k == "podCgroupParents" || k == "containerCgroupParents"
	})
	if !slices.Equal(inValues, wantValues) {
		t.Errorf("%s: config keys %q, want %q", valuesFile, inValues, wantValues)
	}
}

// admissionRelevant is what of the config the chart's admission template
// compares with files/admission-input.json, as Helm's toJson prints it.
func admissionRelevant(cfg map[string]any) ([]byte, error) {
	rec, _ := cfg["recording"].(map[string]any)
	return json.Marshal(map[string]any{
		"allowUnconfined":     cfg["allowUnconfined"],
		"allowModeRelax":      cfg["allowModeRelax"],
		"exemptNamespaces":    cfg["exemptNamespaces"],
		"exemptPods":          cfg["exemptPods"],
		"policy":              cfg["policy"],
		"recordingNamespaces": rec["namespaces"],
	})
}

// The admission policy the chart ships is the one its default node
// configuration generates, and admission-input.json says which values it
// was generated for: change the defaults, regenerate both
// (go test ./test/helm -run TestChartAdmissionPolicy -update).
func TestChartAdmissionPolicyMatchesTheChartConfig(t *testing.T) {
	values := chartValues(t)
	cfgValues, _ := values["config"].(map[string]any)
	data, err := yaml.Marshal(cfgValues)
	if err != nil {
		t.Fatal(err)
	}
	in := parseConfig(t, admissionFrom, data).Admission()
	input, err := admissionRelevant(cfgValues)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		out, err := admission.Generate(in, admissionFrom)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(admissionFile, out, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(admissionInput, append(input, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const fix = "(regenerate: go test ./test/helm -run TestChartAdmissionPolicy -update)"
	deployed, err := os.ReadFile(admissionFile)
	if err != nil {
		t.Fatalf("%v %s", err, fix)
	}
	if err := admission.Check(in, admissionFrom, deployed, admissionFile); err != nil {
		t.Fatalf("%v\n%s", err, fix)
	}
	got, err := os.ReadFile(admissionInput)
	if err != nil {
		t.Fatalf("%v %s", err, fix)
	}
	if !bytes.Equal(bytes.TrimSpace(got), input) {
		t.Fatalf("%s is %s, the defaults give %s %s", admissionInput, bytes.TrimSpace(got), input, fix)
	}
}

// --- Tests that run helm -------------------------------------------------------------

// helm runs the helm command of KRSI_HELM in this directory.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := os.Getenv("KRSI_HELM")
	if cmd == "" {
		t.Skip("KRSI_HELM is not set; `make check-chart` builds helm and sets it")
	}
	var stdout, stderr bytes.Buffer
	c := exec.Command(cmd, args...)
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("run %s: %v", cmd, err)
		}
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// valuesArgs writes values (YAML) to a file and returns helm's -f for it.
func valuesArgs(t *testing.T, values string) []string {
	t.Helper()
	if values == "" {
		return nil
	}
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"-f", f}
}

// templateArgs is `helm template` of the chart as release krsi in krsi-system.
func templateArgs(extra ...string) []string {
	return append([]string{"template", release, chartDir, "--namespace", namespace}, extra...)
}

// render renders the chart with values (YAML) and returns its objects.
func render(t *testing.T, values string) rendered {
	t.Helper()
	out, err := helm(t, templateArgs(valuesArgs(t, values)...)...)
	if err != nil {
		t.Fatal(err)
	}
	return parseObjects(t, out)
}

// renderFails renders the chart with values and returns helm's error.
func renderFails(t *testing.T, values string) string {
	t.Helper()
	_, err := helm(t, templateArgs(valuesArgs(t, values)...)...)
	if err == nil {
		t.Fatalf("helm template succeeded with\n%s", values)
	}
	return err.Error()
}

// valueSets are values the chart must take (lint and render).
var valueSets = map[string]string{
	"defaults": "",
	"crio":     "runtime: crio\nnri: {socketPath: /run/crio/nri/nri.sock}\n",
	"metrics":  "metrics: {service: {enabled: true}, serviceMonitor: {enabled: true, labels: {release: prom}}}\n",
	"no-uninstall-no-health": "uninstall: {enabled: false}\nconfig: {healthAddr: \"\", metricsAddr: \"\"}\n" +
		"hostNetwork: false\n",
	"api-server": "uninstall: {apiServer: \"https://10.0.0.1:6443\"}\n",
	"admission":  "admission: {enabled: true}\nnamespace: {create: true}\n",
	"profiles": "profiles:\n  web.yaml: |\n    apiVersion: krsi.dev/v1\n    kind: Profile\n    name: web\n    memory:\n      wx: deny\n" +
		"  api.yml: |\n    apiVersion: krsi.dev/v1\n    kind: Profile\n    name: api\n    exec:\n      deny: [/bin/sh]\n",
	"config": `config:
  defaultProfile: builtin/wx
  fallbackProfile: builtin/wx
  allowUnconfined: true
  exemptNamespaces: [kube-system, krsi-system, monitoring]
  exemptPods: [default/debug]
  policy:
    default: {profiles: ["builtin/*"]}
    namespaces:
      team-a: {profiles: ["builtin/*", "localhost/team-a-*"], allowModeRelax: true}
  recording: {namespaces: [dev], maxRecordings: 4, maxPaths: 500, maxBytes: 65536}
  recordDir: /var/lib/krsi/rec
  podCgroupParents: [/kubepods.slice]
  containerCgroupParents: []
  metricsAddr: "127.0.0.1:9464"
  healthAddr: "0.0.0.0:9999"
image: {repository: registry.example.com/krsi, tag: dev, pullPolicy: Always}
tolerations: []
priorityClassName: ""
extraArgs: [--event-rate=10]
`,
}

func TestChartLintsWithEachValueSet(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(valueSets)) {
		args := append([]string{"lint", "--strict", chartDir, "--namespace", namespace}, valuesArgs(t, valueSets[name])...)
		if out, err := helm(t, args...); err != nil {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
}

// Every value set renders, and its node configuration is one the daemon
// takes, with the socket, pins and records where the pod mounts them.
func TestChartConfigIsWhatTheDaemonReads(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(valueSets)) {
		objs := render(t, valueSets[name])
		cm := objs.get(t, "ConfigMap", release+"-config")
		cfg := parseConfig(t, name+": 10-krsi.conf", []byte(cm.Data["10-krsi.conf"]))
		pod := objs.daemonSet(t).Spec.Template.Spec
		krsi := pod.container(t, "krsi")

		nriDir := filepath.Dir(cfg.SocketPath)
		if v := pod.mountedHostPath(t, krsi, nriDir); v.Path != nriDir || v.Type != "Directory" {
			t.Errorf("%s: NRI socket %s: mounted from %+v", name, cfg.SocketPath, v)
		}
		if !strings.HasPrefix(cfg.PinDir, "/sys/fs/bpf/") {
			t.Errorf("%s: pinDir %s is not on the mounted bpffs", name, cfg.PinDir)
		}
		if v := pod.mountedHostPath(t, krsi, cfg.RecordDir); v.Path != cfg.RecordDir {
			t.Errorf("%s: recordDir %s mounted from %+v", name, cfg.RecordDir, v)
		}
		if !slices.Contains(cfg.ProfileDirs, "/etc/krsi/profiles.d") {
			t.Errorf("%s: profileDirs %q lack the profiles ConfigMap's directory", name, cfg.ProfileDirs)
		}
		if !slices.Contains(krsi.Args, "--config=/etc/nri/conf.d/10-krsi.conf") || krsi.mount("config").MountPath != "/etc/nri/conf.d" {
			t.Errorf("%s: the config is not read from its mount: args %q", name, krsi.Args)
		}
	}

	cm := render(t, valueSets["crio"]).get(t, "ConfigMap", release+"-config")
	if cfg := parseConfig(t, "crio", []byte(cm.Data["10-krsi.conf"])); cfg.SocketPath != "/run/crio/nri/nri.sock" {
		t.Errorf("nri.socketPath: config socketPath %s", cfg.SocketPath)
	}
	cm = render(t, valueSets["config"]).get(t, "ConfigMap", release+"-config")
	cfg := parseConfig(t, "config", []byte(cm.Data["10-krsi.conf"]))
	if !slices.Equal(cfg.PodCgroupParents, []string{"/kubepods.slice"}) || len(cfg.ContainerCgroupParents) != 0 ||
		cfg.DefaultProfile != "builtin/wx" || !slices.Equal(cfg.Policy.Namespaces["team-a"].Profiles, []string{"builtin/*", "localhost/team-a-*"}) ||
		cfg.Recording.MaxPaths != 500 || cfg.MetricsAddr != "127.0.0.1:9464" {
		t.Errorf("config values not rendered as given: %+v", cfg)
	}
	// Unset cgroup parents are left out: the daemon's defaults apply.
	cm = render(t, "").get(t, "ConfigMap", release+"-config")
	if strings.Contains(cm.Data["10-krsi.conf"], "CgroupParents") {
		t.Errorf("default config sets cgroup parents:\n%s", cm.Data["10-krsi.conf"])
	}
}

func TestChartProbesUseTheHealthPort(t *testing.T) {
	pod := render(t, "").daemonSet(t).Spec.Template.Spec
	krsi := pod.container(t, "krsi")
	if p := krsi.port("health"); p != 9811 {
		t.Errorf("port health = %d, want 9811 (config.healthAddr)", p)
	}
	if p := krsi.port("metrics"); p != 9810 {
		t.Errorf("port metrics = %d, want 9810 (config.metricsAddr)", p)
	}
	for _, c := range []struct {
		name string
		p    *probe
		path string
	}{{"startupProbe", krsi.StartupProbe, "/healthz"}, {"livenessProbe", krsi.LivenessProbe, "/healthz"}, {"readinessProbe", krsi.ReadinessProbe, "/readyz"}} {
		switch {
		case c.p == nil || c.p.HTTPGet == nil:
			t.Errorf("%s: missing or not httpGet", c.name)
		case c.p.HTTPGet.Path != c.path || c.p.HTTPGet.Port != "health":
			t.Errorf("%s: GET %s on port %v, want %s on the port named health", c.name, c.p.HTTPGet.Path, c.p.HTTPGet.Port, c.path)
		}
	}
	// Loading and verifying the programs under emulation takes minutes.
	if s := krsi.StartupProbe; s != nil && s.PeriodSeconds*s.FailureThreshold < 300 {
		t.Errorf("startupProbe allows %d s, want at least 300", s.PeriodSeconds*s.FailureThreshold)
	}

	pod = render(t, valueSets["config"]).daemonSet(t).Spec.Template.Spec
	if krsi := pod.container(t, "krsi"); krsi.port("health") != 9999 || krsi.port("metrics") != 9464 {
		t.Errorf("ports %+v, want health 9999 and metrics 9464 from the config's addresses", krsi.Ports)
	}
	pod = render(t, valueSets["no-uninstall-no-health"]).daemonSet(t).Spec.Template.Spec
	if krsi := pod.container(t, "krsi"); krsi.StartupProbe != nil || krsi.LivenessProbe != nil || krsi.ReadinessProbe != nil || len(krsi.Ports) != 0 {
		t.Errorf("healthAddr and metricsAddr off: want no probes and no ports, got %+v", krsi)
	}
}

// A config change rolls the pods (the config is read at start); a profiles
// change does not (krsi watches them).
func TestChartConfigChecksumRollsPodsButProfilesDoNot(t *testing.T) {
	checksums := func(values string) map[string]string {
		t.Helper()
		a := map[string]string{}
		for k, v := range render(t, values).daemonSet(t).Spec.Template.Metadata.Annotations {
			if strings.HasPrefix(k, "checksum/") {
				a[k] = v
			}
		}
		return a
	}
	base := checksums("")
	if len(base) != 1 || len(base["checksum/config"]) != 64 {
		t.Fatalf("pod template checksums %v, want checksum/config only", base)
	}
	if got := checksums("config: {defaultProfile: builtin/wx}\n"); got["checksum/config"] == base["checksum/config"] {
		t.Error("checksum/config unchanged by a config change")
	}
	if got := checksums("nri: {socketPath: /run/nri2/nri.sock}\n"); got["checksum/config"] == base["checksum/config"] {
		t.Error("checksum/config unchanged by nri.socketPath, which sets the config's socketPath")
	}
	if got := checksums(valueSets["profiles"]); !maps.Equal(got, base) {
		t.Errorf("profiles change the pod template: %v, was %v", got, base)
	}
}

// The kubelet updates a ConfigMap volume by swapping its ..data symlink;
// a subPath mount never sees an update. catalog's tests cover the swap
// (TestWatchSeesConfigMapUpdate, TestWatchSeesConfigMapKeysAddedAndRemoved).
func TestChartProfilesAreAWatchedDirectoryNotSubPaths(t *testing.T) {
	objs := render(t, valueSets["profiles"])
	cm := objs.get(t, "ConfigMap", release+"-profiles")
	if !slices.Equal(slices.Sorted(maps.Keys(cm.Data)), []string{"api.yml", "web.yaml"}) {
		t.Errorf("profiles ConfigMap data keys %q", slices.Sorted(maps.Keys(cm.Data)))
	}
	if !strings.Contains(cm.Data["web.yaml"], "name: web\n") {
		t.Errorf("web.yaml: %q", cm.Data["web.yaml"])
	}
	pod := objs.daemonSet(t).Spec.Template.Spec
	krsi := pod.container(t, "krsi")
	m := krsi.mount("profiles")
	if m.MountPath != "/etc/krsi/profiles.d" || !m.ReadOnly {
		t.Errorf("profiles mounted as %+v", m)
	}
	if v := pod.volume(t, "profiles"); v.ConfigMap == nil || v.ConfigMap.Name != release+"-profiles" {
		t.Errorf("profiles volume %+v, want configMap %s-profiles", v, release)
	}
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		for _, m := range c.VolumeMounts {
			if m.SubPath != "" || m.SubPathExpr != "" {
				t.Errorf("container %s mounts %s with subPath: it would never see updates", c.Name, m.Name)
			}
		}
	}
	// With no profiles, the (empty) ConfigMap is mounted all the same: the
	// first profile added later must not change the pods.
	objs = render(t, "")
	objs.get(t, "ConfigMap", release+"-profiles")
	if objs.daemonSet(t).Spec.Template.Spec.container(t, "krsi").mount("profiles").MountPath != "/etc/krsi/profiles.d" {
		t.Error("profiles not mounted without profiles")
	}
}

func TestChartUninstallReadsOnlyItsOwnDaemonSet(t *testing.T) {
	objs := render(t, "")
	ds := objs.daemonSet(t)
	pod := ds.Spec.Template.Spec
	role := objs.get(t, "Role", release)
	want := []rule{{APIGroups: []string{"apps"}, Resources: []string{"daemonsets"}, ResourceNames: []string{ds.Metadata.Name}, Verbs: []string{"get"}}}
	if !reflect.DeepEqual(role.Rules, want) || role.Metadata.Namespace != namespace {
		t.Errorf("Role %s/%s rules %+v, want %+v", role.Metadata.Namespace, role.Metadata.Name, role.Rules, want)
	}
	rb := objs.get(t, "RoleBinding", release)
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Metadata.Name || len(rb.Subjects) != 1 ||
		rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != pod.ServiceAccountName || rb.Subjects[0].Namespace != namespace {
		t.Errorf("RoleBinding %+v does not bind %s to the pod's account %s", rb, role.Metadata.Name, pod.ServiceAccountName)
	}
	objs.get(t, "ServiceAccount", pod.ServiceAccountName)
	// helm uninstall must leave what the stopping pods use to ask.
	for _, o := range []object{role, rb, objs.get(t, "ServiceAccount", pod.ServiceAccountName)} {
		if o.Metadata.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("%s %s: not kept by helm uninstall", o.Kind, o.Metadata.Name)
		}
	}
	if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not true")
	}
	krsi := pod.container(t, "krsi")
	if !slices.Contains(krsi.Args, "--unload-when-gone="+namespace+"/"+ds.Metadata.Name) {
		t.Errorf("args %q lack --unload-when-gone=%s/%s", krsi.Args, namespace, ds.Metadata.Name)
	}
	if slices.ContainsFunc(krsi.Args, func(a string) bool { return strings.HasPrefix(a, "--api-server") }) {
		t.Errorf("args %q: --api-server without uninstall.apiServer", krsi.Args)
	}
	krsi = render(t, valueSets["api-server"]).daemonSet(t).Spec.Template.Spec.container(t, "krsi")
	if !slices.Contains(krsi.Args, "--api-server=https://10.0.0.1:6443") {
		t.Errorf("args %q lack --api-server", krsi.Args)
	}

	objs = render(t, valueSets["no-uninstall-no-health"])
	pod = objs.daemonSet(t).Spec.Template.Spec
	if objs.find("Role", release) != nil || objs.find("RoleBinding", release) != nil {
		t.Error("uninstall.enabled=false still renders the Role or RoleBinding")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("uninstall.enabled=false: the token is mounted")
	}
	if a := pod.container(t, "krsi").Args; slices.ContainsFunc(a, func(a string) bool { return strings.HasPrefix(a, "--unload-when-gone") }) {
		t.Errorf("uninstall.enabled=false: args %q", a)
	}
}

// What krsi needs of the node, carried over from the plain manifest.
func TestChartPodHasWhatKrsiNeeds(t *testing.T) {
	ds := render(t, "").daemonSet(t)
	pod := ds.Spec.Template.Spec
	krsi := pod.container(t, "krsi")
	if !pod.HostPID || !pod.HostNetwork || pod.PriorityClassName != "system-node-critical" {
		t.Errorf("hostPID %v hostNetwork %v priorityClassName %q", pod.HostPID, pod.HostNetwork, pod.PriorityClassName)
	}
	if len(pod.Tolerations) != 1 || pod.Tolerations[0]["operator"] != "Exists" || len(pod.Tolerations[0]) != 1 {
		t.Errorf("tolerations %v, want every taint tolerated", pod.Tolerations)
	}
	if ds.Spec.UpdateStrategy.Type != "RollingUpdate" || ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable != 1 {
		t.Errorf("updateStrategy %+v", ds.Spec.UpdateStrategy)
	}
	if krsi.SecurityContext["privileged"] != true {
		t.Errorf("securityContext %v", krsi.SecurityContext)
	}
	if krsi.Image != "ghcr.io/krsi-dev/krsi:"+chartAppVersion(t) {
		t.Errorf("image %s", krsi.Image)
	}
	for _, c := range []struct{ name, path, typ, propagation string }{
		{"bpffs", "/sys/fs/bpf", "DirectoryOrCreate", "Bidirectional"},
		{"run", "/run/krsi", "DirectoryOrCreate", ""},
		{"cgroup", "/sys/fs/cgroup", "Directory", ""},
		{"securityfs", "/sys/kernel/security", "Directory", ""},
	} {
		v := pod.volume(t, c.name)
		m := krsi.mount(c.name)
		if v.HostPath == nil || v.HostPath.Path != c.path || v.HostPath.Type != c.typ || m.MountPath != c.path || m.MountPropagation != c.propagation {
			t.Errorf("volume %s: %+v mounted as %+v, want host %s (%s) at the same path, propagation %q", c.name, v.HostPath, m, c.path, c.typ, c.propagation)
		}
	}
	if ann := ds.Spec.Template.Metadata.Annotations["tolerate-missing-nri-plugins.noderesource.dev"]; ann != "true" {
		t.Errorf("tolerate-missing-nri-plugins annotation %q", ann)
	}
}

func TestChartMetricsServiceAndMonitor(t *testing.T) {
	objs := render(t, "")
	if objs.find("Service", release+"-metrics") != nil || objs.find("ServiceMonitor", release) != nil {
		t.Error("metrics Service or ServiceMonitor rendered by default")
	}
	objs = render(t, valueSets["metrics"])
	svc := objs.get(t, "Service", release+"-metrics").serviceSpec(t)
	if len(svc.Ports) != 1 || svc.Ports[0].Name != "metrics" || svc.Ports[0].TargetPort != "metrics" || svc.Ports[0].Port != 9810 {
		t.Errorf("Service ports %+v", svc.Ports)
	}
	var selector map[string]string
	if err := svc.Selector.Decode(&selector); err != nil || !maps.Equal(selector, objs.daemonSet(t).Spec.Selector.MatchLabels) {
		t.Errorf("Service selector %v is not the DaemonSet's (%v)", selector, err)
	}
	sm := objs.get(t, "ServiceMonitor", release)
	if eps := sm.serviceSpec(t).Endpoints; len(eps) != 1 || eps[0].Port != "metrics" || sm.Metadata.Labels["release"] != "prom" {
		t.Errorf("ServiceMonitor endpoints %+v, labels %v", eps, sm.Metadata.Labels)
	}
}

// The admission policy the chart renders is the generated file, and only
// for the configuration it was generated from.
func TestChartAdmissionPolicyOnlyForItsConfig(t *testing.T) {
	out, err := helm(t, templateArgs("--set", "admission.enabled=true", "--show-only", "templates/admission.yaml")...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(admissionFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := documents(t, out), documents(t, string(want)); len(want) != 2 || !reflect.DeepEqual(got, want) {
		t.Errorf("the rendered admission policy is not %s:\n%s", admissionFile, out)
	}
	if objs := render(t, ""); objs.find("ValidatingAdmissionPolicy", admission.Name) != nil {
		t.Error("admission policy rendered by default")
	}
	for _, values := range []string{
		"config: {allowUnconfined: true}",
		"config: {exemptNamespaces: [kube-system]}",
		"config: {policy: {default: {profiles: [\"builtin/*\"]}}}",
		"config: {recording: {namespaces: [dev]}}",
	} {
		if msg := renderFails(t, "admission: {enabled: true}\n"+values+"\n"); !strings.Contains(msg, "krsi admission --config") {
			t.Errorf("%s: %s", values, msg)
		}
	}
	// Keys the policy does not depend on do not matter.
	render(t, "admission: {enabled: true}\nconfig: {defaultProfile: builtin/wx, recording: {maxPaths: 20}}\n")
}

func TestChartRefusesBadValues(t *testing.T) {
	for values, want := range map[string]string{
		"runtime: docker":                                 "runtime",
		"config: {pinDir: /var/lib/krsi}":                 "pinDir",
		"config: {profileDirs: [/etc/other]}":             "profileDirs",
		"config: {metricsAddr: \"9810\"}":                 "metricsAddr",
		"config: {defaultProfle: builtin/wx}":             "defaultProfle",
		"profiles: {web.json: \"{}\"}":                    "web.json",
		"metrics: {serviceMonitor: {enabled: true}}":      "metrics.service.enabled",
		"uninstall: {apiServer: \"http://10.0.0.1\"}":     "apiServer",
		"nri: {socketPath: run/nri.sock}":                 "socketPath",
		"serviceAccount: {create: false}":                 "serviceAccount.name",
		"config: {recording: {maxPaths: \"a lot\"}}":      "maxPaths",
		"config: {policy: {default: {profile: [\"*\"]}}}": "profile",
		"tolerration: []":                                 "tolerration",
	} {
		if msg := renderFails(t, values+"\n"); !strings.Contains(msg, want) {
			t.Errorf("%s: the error does not name %s: %s", values, want, msg)
		}
	}
}

// plainManifests are the files in deploy/kubernetes rendered from the
// chart, for `kubectl apply` without helm, and how.
var plainManifests = []struct {
	file string
	args []string
}{
	{"../../deploy/kubernetes/daemonset.yaml", templateArgs("--set", "namespace.create=true")},
	{"../../deploy/kubernetes/admission.yaml", templateArgs("--set", "admission.enabled=true", "--show-only", "templates/admission.yaml")},
}

func plainHeader(file string, args []string) string {
	return "# Rendered from the Helm chart deploy/helm/krsi: do not edit, change the chart\n" +
		"# and run `make update-chart`. The command:\n" +
		"#   helm " + strings.ReplaceAll(strings.Join(args, " "), "../../", "") + "\n" +
		"# Without helm: kubectl apply -f " + strings.TrimPrefix(file, "../../") + " (docs/install.md#without-helm).\n"
}

func TestPlainManifestsAreRenderedFromTheChart(t *testing.T) {
	for _, m := range plainManifests {
		out, err := helm(t, m.args...)
		if err != nil {
			t.Fatal(err)
		}
		want := plainHeader(m.file, m.args) + out
		if *update {
			if err := os.WriteFile(m.file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(m.file)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s is not what the chart renders; run `make update-chart`", m.file)
		}
	}
	// The plain manifest's node configuration is the chart's default one.
	data, err := os.ReadFile(plainManifests[0].file)
	if err != nil {
		t.Fatal(err)
	}
	cm := parseObjects(t, string(data)).get(t, "ConfigMap", release+"-config")
	parseConfig(t, plainManifests[0].file, []byte(cm.Data["10-krsi.conf"]))
}

func chartAppVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(chartDir + "/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `yaml:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c.AppVersion
}

// --- The rendered objects, as far as the tests read them ------------------------------

type object struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Data     map[string]string           `yaml:"data"`
	Rules    []rule                      `yaml:"rules"`
	RoleRef  struct{ Kind, Name string } `yaml:"roleRef"`
	Subjects []struct {
		Kind      string `yaml:"kind"`
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"subjects"`
	Spec yaml.Node `yaml:"spec"`
	node yaml.Node
}

// serviceSpec is a Service's or a ServiceMonitor's spec.
type serviceSpec struct {
	Selector yaml.Node `yaml:"selector"` // Service: labels; ServiceMonitor: matchLabels
	Ports    []struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort any    `yaml:"targetPort"`
	} `yaml:"ports"`
	Endpoints []struct { // ServiceMonitor
		Port string `yaml:"port"`
	} `yaml:"endpoints"`
}

func (o object) serviceSpec(t *testing.T) serviceSpec {
	t.Helper()
	var s serviceSpec
	if err := o.Spec.Decode(&s); err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.Metadata.Name, err)
	}
	return s
}

type rule struct {
	APIGroups     []string `yaml:"apiGroups"`
	Resources     []string `yaml:"resources"`
	ResourceNames []string `yaml:"resourceNames"`
	Verbs         []string `yaml:"verbs"`
}

type daemonSet struct {
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		UpdateStrategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable any `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		} `yaml:"updateStrategy"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	ServiceAccountName           string           `yaml:"serviceAccountName"`
	AutomountServiceAccountToken *bool            `yaml:"automountServiceAccountToken"`
	HostPID                      bool             `yaml:"hostPID"`
	HostNetwork                  bool             `yaml:"hostNetwork"`
	PriorityClassName            string           `yaml:"priorityClassName"`
	Tolerations                  []map[string]any `yaml:"tolerations"`
	InitContainers               []container      `yaml:"initContainers"`
	Containers                   []container      `yaml:"containers"`
	Volumes                      []volume         `yaml:"volumes"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	StartupProbe    *probe         `yaml:"startupProbe"`
	LivenessProbe   *probe         `yaml:"livenessProbe"`
	ReadinessProbe  *probe         `yaml:"readinessProbe"`
	SecurityContext map[string]any `yaml:"securityContext"`
	VolumeMounts    []volumeMount  `yaml:"volumeMounts"`
}

type volumeMount struct {
	Name             string `yaml:"name"`
	MountPath        string `yaml:"mountPath"`
	SubPath          string `yaml:"subPath"`
	SubPathExpr      string `yaml:"subPathExpr"`
	MountPropagation string `yaml:"mountPropagation"`
	ReadOnly         bool   `yaml:"readOnly"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds    int `yaml:"periodSeconds"`
	FailureThreshold int `yaml:"failureThreshold"`
}

type volume struct {
	Name     string `yaml:"name"`
	HostPath *struct {
		Path string `yaml:"path"`
		Type string `yaml:"type"`
	} `yaml:"hostPath"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
}

type rendered []object

func parseObjects(t *testing.T, stream string) rendered {
	t.Helper()
	var objs rendered
	dec := yaml.NewDecoder(strings.NewReader(stream))
	for {
		var o object
		if err := dec.Decode(&o.node); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("helm output: %v", err)
		}
		if o.node.Kind == 0 || len(o.node.Content) == 0 || o.node.Content[0].Kind != yaml.MappingNode {
			continue // an empty document
		}
		if err := o.node.Decode(&o); err != nil {
			t.Fatalf("helm output: %v", err)
		}
		objs = append(objs, o)
	}
}

// documents are the YAML documents of a stream, empty ones left out.
func documents(t *testing.T, stream string) []any {
	t.Helper()
	var docs []any
	dec := yaml.NewDecoder(strings.NewReader(stream))
	for {
		var d any
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatal(err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

func (r rendered) find(kind, name string) *object {
	for i := range r {
		if r[i].Kind == kind && r[i].Metadata.Name == name {
			return &r[i]
		}
	}
	return nil
}

func (r rendered) get(t *testing.T, kind, name string) object {
	t.Helper()
	o := r.find(kind, name)
	if o == nil {
		t.Fatalf("no %s %s rendered", kind, name)
	}
	if o.Metadata.Namespace != namespace && kind != "Namespace" && kind != "ValidatingAdmissionPolicy" {
		t.Errorf("%s %s in namespace %q, want the release's, %s", kind, name, o.Metadata.Namespace, namespace)
	}
	return *o
}

func (r rendered) daemonSet(t *testing.T) daemonSet {
	t.Helper()
	o := r.get(t, "DaemonSet", release)
	var ds daemonSet
	if err := o.node.Decode(&ds); err != nil {
		t.Fatal(err)
	}
	return ds
}

func (p podSpec) container(t *testing.T, name string) container {
	t.Helper()
	for _, c := range p.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return container{}
}

func (p podSpec) volume(t *testing.T, name string) volume {
	t.Helper()
	for _, v := range p.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %s", name)
	return volume{}
}

// mountedHostPath is the hostPath volume c mounts at path, with the host
// path as seen at that mount point.
func (p podSpec) mountedHostPath(t *testing.T, c container, path string) struct{ Path, Type string } {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			if v := p.volume(t, m.Name); v.HostPath != nil {
				return struct{ Path, Type string }{v.HostPath.Path, v.HostPath.Type}
			}
		}
	}
	return struct{ Path, Type string }{}
}

func (c container) mount(name string) volumeMount {
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return m
		}
	}
	return volumeMount{}
}

func (c container) port(name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}
