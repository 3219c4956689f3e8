package admission

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"go.yaml.in/yaml/v3"

	"github.com/krsi-dev/krsi/policy"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/selector"
)

func yes() *bool { t := true; return &t }

// testInput: builtin/* for every namespace; team-a may also choose its own
// node profiles, opt out and relax; locked may choose nothing; dev may
// record; kube-system and the pod shop/legacy are exempt.
func testInput() Input {
	return Input{
		ExemptNamespaces: []string{"kube-system"},
		ExemptPods:       []string{"shop/legacy"},
		Policy: policy.Config{
			Default: policy.Rules{Profiles: []string{"builtin/*"}},
			Namespaces: map[string]policy.Rules{
				"team-a": {Profiles: []string{"builtin/*", "localhost/team-a-*"}, AllowUnconfined: yes(), AllowModeRelax: yes()},
				"locked": {Profiles: []string{}},
				"dots":   {Profiles: []string{"localhost/a.b*"}},
			},
		},
		Recording: func() policy.Recording { r := policy.DefaultRecording(); r.Namespaces = []string{"dev"}; return r }(),
	}
}

// vap is a generated ValidatingAdmissionPolicy, compiled with cel-go as the
// API server compiles it: object and request as untyped values, variables
// evaluated in order.
type vap struct {
	vars  []compiledVar
	valid []compiledValidation
}

type compiledVar struct {
	name string
	prg  cel.Program
}

type compiledValidation struct {
	expr, msg cel.Program
	text      string
}

func compile(tb testing.TB, generated []byte) *vap {
	tb.Helper()
	env, err := cel.NewEnv(
		cel.Variable("object", cel.DynType),
		cel.Variable("request", cel.DynType),
		cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		tb.Fatal(err)
	}
	prog := func(expr string) cel.Program {
		tb.Helper()
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			tb.Fatalf("compile %s: %v", expr, iss.Err())
		}
		// The API server's per-expression runtime limit.
		p, err := env.Program(ast, cel.CostLimit(1000000))
		if err != nil {
			tb.Fatalf("program %s: %v", expr, err)
		}
		return p
	}
	dec := yaml.NewDecoder(bytes.NewReader(generated))
	var docs []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			break
		}
		docs = append(docs, d)
	}
	if len(docs) != 2 || docs[0]["kind"] != "ValidatingAdmissionPolicy" || docs[1]["kind"] != "ValidatingAdmissionPolicyBinding" {
		tb.Fatalf("generated %d documents, want the policy and its binding:\n%s", len(docs), generated)
	}
	spec := docs[0]["spec"].(map[string]any)
	v := &vap{}
	for _, x := range spec["variables"].([]any) {
		m := x.(map[string]any)
		v.vars = append(v.vars, compiledVar{m["name"].(string), prog(m["expression"].(string))})
	}
	for _, x := range spec["validations"].([]any) {
		m := x.(map[string]any)
		v.valid = append(v.valid, compiledValidation{prog(m["expression"].(string)), prog(m["messageExpression"].(string)), m["expression"].(string)})
	}
	return v
}

// admit evaluates the policy on a pod: "" if admitted, else the message.
func (v *vap) admit(tb testing.TB, ns string, pod map[string]any) string {
	tb.Helper()
	vars := map[string]any{}
	act := map[string]any{"object": pod, "request": map[string]any{"namespace": ns, "operation": "CREATE"}, "variables": vars}
	for _, x := range v.vars {
		out, _, err := x.prg.Eval(act)
		if err != nil {
			tb.Fatalf("variable %s: %v", x.name, err)
		}
		vars[x.name] = out
	}
	for _, x := range v.valid {
		out, _, err := x.expr.Eval(act)
		if err != nil {
			tb.Fatalf("validation %s: %v", x.text, err)
		}
		if out.Value() == true {
			continue
		}
		msg, _, err := x.msg.Eval(act)
		if err != nil {
			tb.Fatalf("message of %s: %v", x.text, err)
		}
		return msg.Value().(string)
	}
	return ""
}

// podObject is a pod as the API server hands it to admission.
func podObject(name string, ann map[string]string, containers ...string) map[string]any {
	meta := map[string]any{}
	if name != "" {
		meta["name"] = name
	}
	if ann != nil {
		a := map[string]any{}
		for k, v := range ann {
			a[k] = v
		}
		meta["annotations"] = a
	}
	var cs []any
	for _, c := range containers {
		cs = append(cs, map[string]any{"name": c, "image": "busybox"})
	}
	spec := map[string]any{"containers": cs}
	if len(cs) > 1 { // the last one is an init container
		spec["containers"], spec["initContainers"] = cs[:len(cs)-1], cs[len(cs)-1:]
	}
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
}

func TestAdmissionPolicyRefusesWhatTheNodeRefuses(t *testing.T) {
	out, err := Generate(testInput(), "test.conf")
	if err != nil {
		t.Fatal(err)
	}
	v := compile(t, out)
	const tail = "; name a profile the rule allows, or have the node admin add it to "
	for _, tc := range []struct {
		name, ns, pod string
		ann           map[string]string
		containers    []string
		want          string
	}{
		{name: "no annotations", ns: "shop"},
		{name: "no annotations field", ns: "shop", ann: nil},
		{name: "an allowed built-in", ns: "shop", ann: map[string]string{"profile.krsi.dev/container.app": "builtin/wx"}},
		{name: "a node profile the default rule does not allow", ns: "shop", ann: map[string]string{"profile.krsi.dev/container.app": "localhost/web"},
			want: `krsi: annotation profile.krsi.dev/container.app: value "localhost/web": namespace shop may not choose this profile (rule policy.default.profiles: [builtin/*])` + tail + "policy.default.profiles in the krsi config"},
		{name: "pod-wide keys", ns: "shop", ann: map[string]string{"profile.krsi.dev": "localhost/web"},
			want: `krsi: annotation profile.krsi.dev: value "localhost/web": namespace shop may not choose`},
		{name: "profile.krsi.dev/pod", ns: "shop", ann: map[string]string{"profile.krsi.dev/pod": "localhost/web"},
			want: `krsi: annotation profile.krsi.dev/pod: value "localhost/web"`},
		{name: "a key for a container the pod does not have is not read", ns: "shop", ann: map[string]string{"profile.krsi.dev/container.other": "localhost/web"}},
		{name: "init containers are checked", ns: "shop", containers: []string{"app", "init"}, ann: map[string]string{"profile.krsi.dev/container.init": "localhost/web"},
			want: `krsi: annotation profile.krsi.dev/container.init: value "localhost/web"`},
		{name: "the namespace's own patterns", ns: "team-a", ann: map[string]string{"profile.krsi.dev/container.app": "localhost/team-a-web"}},
		{name: "another team's profile", ns: "team-a", ann: map[string]string{"profile.krsi.dev/container.app": "localhost/team-b-web"},
			want: `krsi: annotation profile.krsi.dev/container.app: value "localhost/team-b-web": namespace team-a may not choose this profile (rule policy.namespaces.team-a.profiles: [builtin/*, localhost/team-a-*])` + tail + "policy.namespaces.team-a.profiles in the krsi config"},
		{name: "an empty list allows nothing", ns: "locked", ann: map[string]string{"profile.krsi.dev/pod": "builtin/wx"},
			want: `krsi: annotation profile.krsi.dev/pod: value "builtin/wx": namespace locked may not choose this profile (rule policy.namespaces.locked.profiles: [])`},
		{name: "a '.' in a pattern is a '.'", ns: "dots", ann: map[string]string{"profile.krsi.dev/pod": "localhost/aXb"},
			want: `value "localhost/aXb": namespace dots may not choose this profile`},
		{name: "a '.' in a pattern matches itself", ns: "dots", ann: map[string]string{"profile.krsi.dev/pod": "localhost/a.b-1"}},
		{name: "unconfined where the node forbids it", ns: "shop", ann: map[string]string{"profile.krsi.dev/container.app": "unconfined"},
			want: `krsi: annotation profile.krsi.dev/container.app: value "unconfined": namespace shop may not opt out of krsi (rule allowUnconfined: false); remove the annotation or name a profile (builtin/NAME, localhost/NAME), or have the node admin set allowUnconfined: true in the krsi config`},
		{name: "unconfined where the namespace may", ns: "team-a", ann: map[string]string{"profile.krsi.dev/container.app": "unconfined"}},
		{name: "audit where the node forbids relaxing", ns: "shop", ann: map[string]string{"mode.krsi.dev/container.app": "audit"},
			want: `krsi: annotation mode.krsi.dev/container.app: value "audit": namespace shop may not relax a profile to audit (rule allowModeRelax: false); remove the annotation, or have the node admin set allowModeRelax: true in the krsi config`},
		{name: "enforce is always allowed", ns: "shop", ann: map[string]string{"mode.krsi.dev/container.app": "enforce"}},
		{name: "audit where the namespace may relax", ns: "team-a", ann: map[string]string{"mode.krsi.dev/container.app": "audit"}},
		{name: "recording where the node does not allow it", ns: "shop", ann: map[string]string{"record.krsi.dev/container.app": "myapp"},
			want: `krsi: annotation record.krsi.dev/container.app: value "myapp": namespace shop may not record (rule recording.namespaces: [dev]): a recorded container runs under a profile that denies nothing; remove the annotation, or have the node admin add shop to recording.namespaces in the krsi config`},
		{name: "recording where the node allows it", ns: "dev", ann: map[string]string{"record.krsi.dev/container.app": "myapp"}},
		{name: "an exempt namespace", ns: "kube-system", ann: map[string]string{"profile.krsi.dev/pod": "unconfined", "record.krsi.dev/container.app": "x"}},
		{name: "an exempt pod", ns: "shop", pod: "legacy", ann: map[string]string{"profile.krsi.dev/pod": "unconfined"}},
		{name: "a pod named by generateName has no name yet", ns: "shop", pod: "-", ann: map[string]string{"profile.krsi.dev/pod": "unconfined"},
			want: `value "unconfined": namespace shop may not opt out`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.pod
			switch name {
			case "":
				name = "front-0"
			case "-":
				name = ""
			}
			containers := tc.containers
			if containers == nil {
				containers = []string{"app"}
			}
			got := v.admit(t, tc.ns, podObject(name, tc.ann, containers...))
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("admission:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// anyCatalog knows every builtin/ and localhost/ profile, in enforce mode,
// and selects no image: the node's verdict then depends on the policy only.
type anyCatalog struct{}

func (anyCatalog) Lookup(ref string) (*profiles.Compiled, error) {
	if !strings.HasPrefix(ref, "builtin/") && !strings.HasPrefix(ref, "localhost/") {
		return nil, errors.New("unknown")
	}
	return &profiles.Compiled{Name: ref, Mode: profiles.ModeEnforce}, nil
}

func (anyCatalog) MatchImage(string) (string, *profiles.Compiled, string, bool) {
	return "", nil, "", false
}

// TestAdmissionAgreesWithTheNode: for every namespace, annotation and
// value, the admission policy refuses exactly what the node refuses for
// its policy (a refusal that says "may not"). This is what keeps the
// two from drifting apart when either changes.
func TestAdmissionAgreesWithTheNode(t *testing.T) {
	for _, in := range []Input{testInput(), {Recording: policy.DefaultRecording()}, {AllowUnconfined: true, AllowModeRelax: true, Recording: policy.DefaultRecording(),
		Policy: policy.Config{Default: policy.Rules{Profiles: []string{"localhost/*"}}, Namespaces: map[string]policy.Rules{"shop": {AllowUnconfined: new(bool)}}}}} {
		out, err := Generate(in, "test.conf")
		if err != nil {
			t.Fatal(err)
		}
		v := compile(t, out)
		cfg := selector.Config{AllowUnconfined: in.AllowUnconfined, AllowModeRelax: in.AllowModeRelax,
			ExemptNamespaces: in.ExemptNamespaces, ExemptPods: in.ExemptPods, Policy: in.Policy}
		for _, ns := range []string{"shop", "team-a", "locked", "dots", "dev", "kube-system"} {
			for _, key := range []string{"profile.krsi.dev", "profile.krsi.dev/pod", "profile.krsi.dev/container.app"} {
				for _, value := range []string{"builtin/wx", "builtin/no-shell", "localhost/web", "localhost/team-a-web", "localhost/a.b", "localhost/aXb", "unconfined"} {
					for _, mode := range []string{"", "audit", "enforce"} {
						if mode != "" && value == "unconfined" {
							continue // a mode for no profile: the node's own error, not the policy's
						}
						ann := map[string]string{key: value}
						if mode != "" {
							ann["mode.krsi.dev/container.app"] = mode
						}
						_, nodeErr := selector.Select(cfg, anyCatalog{}, selector.Container{Name: "app", Namespace: ns, Pod: "front-0", PodAnnotations: ann})
						nodeRefuses := nodeErr != nil && strings.Contains(nodeErr.Error(), " may not ")
						if nodeErr != nil && !nodeRefuses {
							t.Fatalf("%s %v: the node refuses for another reason: %v", ns, ann, nodeErr)
						}
						msg := v.admit(t, ns, podObject("front-0", ann, "app"))
						if nodeRefuses != (msg != "") {
							t.Errorf("%s %v:\n node: %v\n admission: %q", ns, ann, nodeErr, msg)
						}
					}
				}
			}
			rec := map[string]string{"record.krsi.dev/container.app": "x"}
			exempt := fmt.Sprint(in.ExemptNamespaces) != "[]" && ns == "kube-system"
			if nodeAllows, msg := in.Recording.Allows(ns) || exempt, v.admit(t, ns, podObject("front-0", rec, "app")); nodeAllows != (msg == "") {
				t.Errorf("recording in %s: node allows %t, admission says %q", ns, nodeAllows, msg)
			}
		}
	}
}

func TestCheckFindsDrift(t *testing.T) {
	in := testInput()
	out, err := Generate(in, "node.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(in, "node.conf", out, "vap.yaml"); err != nil {
		t.Fatalf("the generated file does not check: %v", err)
	}
	in.Policy.Default.Profiles = []string{"builtin/wx"}
	err = Check(in, "node.conf", out, "vap.yaml")
	if err == nil || !strings.Contains(err.Error(), "vap.yaml is not the admission policy node.conf generates (line ") ||
		!strings.HasSuffix(err.Error(), "regenerate it: krsi admission --config node.conf > vap.yaml") {
		t.Fatalf("a changed policy checks against the old file: %v", err)
	}
	if Fingerprint(in) == Fingerprint(testInput()) {
		t.Error("a changed policy has the same fingerprint")
	}
	bad := testInput()
	bad.Policy.Default.Profiles = []string{"wx"}
	if _, err := Generate(bad, "node.conf"); err == nil || !strings.Contains(err.Error(), `generate the admission policy from node.conf: policy.default.profiles[0]: "wx"`) {
		t.Errorf("a bad policy generated: %v", err)
	}
}

func TestFingerprintIsOfTheRulesNotTheirSpelling(t *testing.T) {
	a, b := testInput(), testInput()
	b.ExemptPods = append([]string(nil), a.ExemptPods...)
	b.Recording.MaxPaths = 7 // node-side only
	if Fingerprint(a) != Fingerprint(b) {
		t.Error("the same rules, spelled differently, have different fingerprints")
	}
	c, d := Input{}, Input{Policy: policy.Config{Default: policy.Rules{Profiles: []string{}}}}
	if Fingerprint(c) == Fingerprint(d) {
		t.Error("profiles: [] (none) and no profiles key (any) have the same fingerprint")
	}
}
