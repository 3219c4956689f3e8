package selector

import (
	"testing"

	"github.com/krsi-dev/krsi/policy"
	"github.com/krsi-dev/krsi/profiles"
)

func yes() *bool { t := true; return &t }
func no() *bool  { f := false; return &f }

// teamPolicy: namespace team-a may choose builtin/* and localhost/web, opt
// out and relax; namespace locked may choose nothing; every other
// namespace may choose builtin/wx and builtin/no-shell only, and the
// nginx image profile (localhost/web) is binding there.
func teamPolicy() policy.Config {
	return policy.Config{
		Default: policy.Rules{
			Profiles:             []string{"builtin/wx", "builtin/no-shell"},
			BindingImageProfiles: []string{"localhost/web"},
		},
		Namespaces: map[string]policy.Rules{
			"team-a": {Profiles: []string{"builtin/*", "localhost/we*"}, AllowUnconfined: yes(), AllowModeRelax: yes(), BindingImageProfiles: []string{}},
			"locked": {Profiles: []string{}},
		},
	}
}

// TestSelectPolicyAllows: what each namespace may choose, and what it
// gets when a binding image profile selects its image.
func TestSelectPolicyAllows(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		name, ns, image string
		ann             map[string]string
		ref, why        string
		mode            profiles.Mode
	}{
		{name: "a pattern allows it", ns: "team-a", ann: map[string]string{"profile.krsi.dev/container.app": "builtin/readonly-root"},
			ref: "builtin/readonly-root", why: "annotation profile.krsi.dev/container.app", mode: profiles.ModeEnforce},
		{name: "a namespace's own unconfined", ns: "team-a", ann: map[string]string{"profile.krsi.dev/pod": "unconfined"},
			ref: Unconfined, why: "annotation profile.krsi.dev/pod"},
		{name: "a namespace's own mode relaxation", ns: "team-a", ann: map[string]string{"profile.krsi.dev/pod": "localhost/web", "mode.krsi.dev/container.app": "audit"},
			ref: "localhost/web", why: "annotation profile.krsi.dev/pod; mode audit from annotation mode.krsi.dev/container.app", mode: profiles.ModeAudit},
		{name: "the default rule allows it", ns: "shop", ann: map[string]string{"profile.krsi.dev": "builtin/no-shell"},
			ref: "builtin/no-shell", why: "annotation profile.krsi.dev", mode: profiles.ModeEnforce},
		{name: "binding image profile wins over a container annotation", ns: "shop", image: "nginx:1.27",
			ann: map[string]string{"profile.krsi.dev/container.app": "builtin/wx"},
			ref: "localhost/web", mode: profiles.ModeEnforce,
			why: "image nginx:1.27 matches localhost/web (pattern docker.io/library/nginx:*), binding in namespace shop (rule policy.default.bindingImageProfiles: [localhost/web]); annotation profile.krsi.dev/container.app (builtin/wx) not applied"},
		{name: "binding image profile applies with no annotation too", ns: "shop", image: "nginx:1.27",
			ref: "localhost/web", mode: profiles.ModeEnforce, why: "image nginx:1.27 matches localhost/web (pattern docker.io/library/nginx:*)"},
		{name: "an image profile that is not binding yields to the annotation", ns: "shop", image: "redis:7",
			ann: map[string]string{"profile.krsi.dev/pod": "builtin/wx"},
			ref: "builtin/wx", why: "annotation profile.krsi.dev/pod", mode: profiles.ModeEnforce},
		{name: "a namespace that turns binding off", ns: "team-a", image: "nginx:1.27",
			ann: map[string]string{"profile.krsi.dev/pod": "builtin/wx"},
			ref: "builtin/wx", why: "annotation profile.krsi.dev/pod", mode: profiles.ModeEnforce},
		{name: "a namespace that may choose nothing still gets image profiles and the default", ns: "locked", image: "busybox",
			ref: "builtin/readonly-root", why: "node default", mode: profiles.ModeEnforce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{DefaultProfile: "builtin/readonly-root", Policy: teamPolicy()}
			c := container(tc.image, tc.ann)
			c.Namespace = tc.ns
			for style, c := range map[string]Container{"containerd": c, "cri-o": crio(c)} {
				d, err := Select(cfg, cat, c)
				if err != nil {
					t.Fatalf("%s: %v", style, err)
				}
				if d.Ref != tc.ref || d.Why != tc.why || d.Mode != tc.mode {
					t.Errorf("%s: got %s %q %s\nwant %s %q %s", style, d.Ref, d.Why, d.Mode, tc.ref, tc.why, tc.mode)
				}
			}
		})
	}
}

// TestSelectPolicyRefuses: each rule's refusal names the namespace, the
// annotation, its value and the rule.
func TestSelectPolicyRefuses(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		name, ns, image string
		ann             map[string]string
		node            Config
		err             string
	}{
		{name: "a profile the default rule does not allow", ns: "shop",
			ann: map[string]string{"profile.krsi.dev/container.app": "localhost/audited"},
			err: `annotation profile.krsi.dev/container.app: value "localhost/audited": namespace shop may not choose this profile (rule policy.default.profiles: [builtin/wx, builtin/no-shell]); name a profile the rule allows, or have the node admin add it to policy.default.profiles in the krsi config`},
		{name: "a profile the namespace's rule does not allow", ns: "team-a",
			ann: map[string]string{"profile.krsi.dev/pod": "localhost/cache"},
			err: `annotation profile.krsi.dev/pod: value "localhost/cache": namespace team-a may not choose this profile (rule policy.namespaces.team-a.profiles: [builtin/*, localhost/we*]); name a profile the rule allows, or have the node admin add it to policy.namespaces.team-a.profiles in the krsi config`},
		{name: "an empty list allows no profile", ns: "locked",
			ann: map[string]string{"profile.krsi.dev": "builtin/wx"},
			err: `annotation profile.krsi.dev: value "builtin/wx": namespace locked may not choose this profile (rule policy.namespaces.locked.profiles: []); name a profile the rule allows, or have the node admin add it to policy.namespaces.locked.profiles in the krsi config`},
		{name: "an annotation that does not decide is checked too", ns: "shop",
			ann: map[string]string{"profile.krsi.dev/container.app": "builtin/wx", "profile.krsi.dev": "builtin/nginx"},
			err: `annotation profile.krsi.dev: value "builtin/nginx": namespace shop may not choose this profile (rule policy.default.profiles: [builtin/wx, builtin/no-shell]); name a profile the rule allows, or have the node admin add it to policy.default.profiles in the krsi config`},
		{name: "a forbidden annotation is refused even where a binding image profile would win", ns: "shop", image: "nginx:1.27",
			ann: map[string]string{"profile.krsi.dev/container.app": "builtin/nginx"},
			err: `annotation profile.krsi.dev/container.app: value "builtin/nginx": namespace shop may not choose this profile (rule policy.default.profiles: [builtin/wx, builtin/no-shell]); name a profile the rule allows, or have the node admin add it to policy.default.profiles in the krsi config`},
		{name: "unconfined where the namespace forbids it although the node allows it", ns: "locked",
			node: Config{AllowUnconfined: true, Policy: policy.Config{Namespaces: map[string]policy.Rules{"locked": {AllowUnconfined: no()}}}},
			ann:  map[string]string{"profile.krsi.dev/pod": "unconfined"},
			err:  `annotation profile.krsi.dev/pod: value "unconfined": namespace locked may not opt out of krsi (rule policy.namespaces.locked.allowUnconfined: false); remove the annotation or name a profile (builtin/NAME, localhost/NAME), or have the node admin set policy.namespaces.locked.allowUnconfined: true in the krsi config`},
		{name: "unconfined where the default rule forbids it", ns: "shop",
			node: Config{AllowUnconfined: true, Policy: policy.Config{Default: policy.Rules{AllowUnconfined: no()}}},
			ann:  map[string]string{"profile.krsi.dev/pod": "unconfined"},
			err:  `annotation profile.krsi.dev/pod: value "unconfined": namespace shop may not opt out of krsi (rule policy.default.allowUnconfined: false); remove the annotation or name a profile (builtin/NAME, localhost/NAME), or have the node admin set policy.default.allowUnconfined: true in the krsi config`},
		{name: "mode relaxation where the namespace forbids it", ns: "shop",
			node: Config{AllowModeRelax: true, Policy: policy.Config{Namespaces: map[string]policy.Rules{"shop": {AllowModeRelax: no()}}}},
			ann:  map[string]string{"profile.krsi.dev/pod": "builtin/wx", "mode.krsi.dev/container.app": "audit"},
			err:  `annotation mode.krsi.dev/container.app: value "audit": profile builtin/wx is in enforce mode and namespace shop may not relax it to audit (rule policy.namespaces.shop.allowModeRelax: false); remove the annotation, or have the node admin set policy.namespaces.shop.allowModeRelax: true in the krsi config`},
		{name: "mode relaxation of a binding image profile", ns: "shop", image: "nginx:1.27",
			ann: map[string]string{"profile.krsi.dev/pod": "builtin/wx", "mode.krsi.dev/container.app": "audit"},
			err: `annotation mode.krsi.dev/container.app: value "audit": profile localhost/web is in enforce mode and namespace shop may not relax it to audit (rule allowModeRelax: false); remove the annotation, or have the node admin set allowModeRelax: true in the krsi config`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.node
			if cfg.Policy.Default.Profiles == nil && cfg.Policy.Namespaces == nil && cfg.Policy.Default.AllowUnconfined == nil {
				cfg.Policy = teamPolicy()
			}
			c := container(tc.image, tc.ann)
			c.Namespace = tc.ns
			for _, c := range []Container{c, crio(c)} {
				d, err := Select(cfg, cat, c)
				assertError(t, d, err, tc.err)
			}
		})
	}
}
