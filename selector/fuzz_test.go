package selector

import (
	"errors"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/policy"
	"github.com/krsi-dev/krsi/profiles"
)

// FuzzSelect feeds Select arbitrary annotations, container names and
// images, under node settings and namespace policies chosen by flags. It
// must not panic; it returns either an error and a zero Decision, or a
// decision that is whole and obeys the node's permissions and the
// namespace's policy (allowed profiles, binding image profiles, opting
// out, mode relaxation); and containerd (pod annotations only) and CRI-O
// (pod annotations copied into the container's) give the same answer.
func FuzzSelect(f *testing.F) {
	cat := testCatalog(f)
	for _, s := range [][5]string{
		{"profile.krsi.dev/container.app", "builtin/wx", "mode.krsi.dev/container.app", "audit", "app"},
		{"profile.krsi.dev/pod", "localhost/audited", "mode.krsi.dev/container.app", "enforce", "app"},
		{"profile.krsi.dev", "unconfined", "profile.krsi.dev/containers.x", "builtin/wx", "x"},
		{"profile.krsi.dev/container.Ab", "", "mode.krsi.dev", "audit", "Ab"},
		{"profile.krsi.dev/pod", "builtin/wx\t", "other", "v", "app"},
		{"profile.krsi.dev/pod", "wx", "mode.krsi.dev/container.app", "Audit", "app"},
	} {
		for _, image := range []string{"", "nginx:1.27", "registry:5000/team/redis:7@sha256:" + strings.Repeat("a", 64)} {
			f.Add(s[0], s[1], s[2], s[3], s[4], image, uint8(0))
			f.Add(s[0], s[1], s[2], s[3], s[4], image, uint8(7))
			f.Add(s[0], s[1], s[2], s[3], s[4], image, uint8(0x10))
			f.Add(s[0], s[1], s[2], s[3], s[4], image, uint8(0x63))
			f.Add(s[0], s[1], s[2], s[3], s[4], image, uint8(0x35))
		}
	}
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, name, image string, flags uint8) {
		cfg := Config{
			AllowUnconfined:  flags&1 != 0,
			AllowModeRelax:   flags&2 != 0,
			ExemptNamespaces: []string{"kube-system"},
		}
		switch flags >> 2 & 3 {
		case 1:
			cfg.DefaultProfile = "builtin/wx"
		case 2:
			cfg.DefaultProfile = "localhost/audited"
		case 3:
			cfg.DefaultProfile = "unconfined"
		}
		switch flags >> 4 & 3 {
		case 1:
			cfg.Policy = teamPolicy()
		case 2:
			cfg.Policy = policy.Config{Default: policy.Rules{Profiles: []string{}, BindingImageProfiles: []string{"*"}}}
		case 3:
			cfg.Policy = policy.Config{Namespaces: map[string]policy.Rules{"team-a": {Profiles: []string{"localhost/*"}, AllowUnconfined: yes(), AllowModeRelax: no()}}}
		}
		ns := "shop"
		if flags&0x40 != 0 {
			ns = "team-a"
		}
		rules := cfg.rules(ns)
		c := Container{Name: name, Namespace: ns, Pod: "p", Image: image,
			PodAnnotations: map[string]string{k1: v1, k2: v2}}
		d, err := Select(cfg, cat, c)
		d2, err2 := Select(cfg, cat, crio(c))
		if d != d2 || (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("containerd and CRI-O differ:\n%+v, %v\n%+v, %v", d, err, d2, err2)
		}
		if err != nil {
			if d != (Decision{}) {
				t.Fatalf("error %v came with decision %+v", err, d)
			}
			var ae *AnnotationError
			if errors.As(err, &ae) && !strings.HasPrefix(err.Error(), "annotation ") {
				t.Fatalf("annotation error does not name the annotation: %v", err)
			}
			if len(err.Error()) > 2048 {
				t.Fatalf("error is %d bytes long", len(err.Error()))
			}
			return
		}
		if d.Why == "" {
			t.Fatalf("decision without a reason: %+v", d)
		}
		byAnnotation := strings.HasPrefix(d.Why, "annotation ")
		if ref, p, _, ok := cat.MatchImage(image); ok && p != nil && rules.Binding.Match(ref) && len(image) <= MaxImageLen && d.Ref != ref {
			t.Fatalf("decision %+v: the binding image profile %s (%s) did not win", d, ref, rules.Binding)
		}
		switch d.Ref {
		case "":
			t.Fatalf("exempt decision for a container that is not exempt: %+v", d)
		case Unconfined:
			if d.Profile != nil || d.Mode != "" {
				t.Fatalf("unconfined with a profile: %+v", d)
			}
			if byAnnotation && !rules.AllowUnconfined.Allowed {
				t.Fatalf("unconfined by annotation although %s: %+v", rules.AllowUnconfined, d)
			}
			if !byAnnotation && !cfg.AllowUnconfined && cfg.DefaultProfile != "" {
				t.Fatalf("unconfined although the node forbids it: %+v", d)
			}
		default:
			if d.Profile == nil || d.Profile.Name != d.Ref {
				t.Fatalf("decision %+v: profile does not match ref", d)
			}
			if d.Mode != profiles.ModeAudit && d.Mode != profiles.ModeEnforce {
				t.Fatalf("decision %+v: bad mode", d)
			}
			if !rules.AllowModeRelax.Allowed && d.Profile.Mode == profiles.ModeEnforce && d.Mode != profiles.ModeEnforce {
				t.Fatalf("decision %+v: relaxed to audit although %s", d, rules.AllowModeRelax)
			}
			if byAnnotation && !rules.Profiles.Match(d.Ref) {
				t.Fatalf("decision %+v: an annotation chose a profile %s does not allow", d, rules.Profiles)
			}
		}
	})
}
