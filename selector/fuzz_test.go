package selector

import (
	"errors"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/profiles"
)

// FuzzSelect feeds Select arbitrary annotations, container names and
// images. It must not panic; it returns either an error and a zero
// Decision, or a decision that is whole and obeys the node's
// permissions; and containerd (pod annotations only) and CRI-O (pod
// annotations copied into the container's) give the same answer.
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
		c := Container{Name: name, Namespace: "shop", Pod: "p", Image: image,
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
		switch d.Ref {
		case "":
			t.Fatalf("exempt decision for a container that is not exempt: %+v", d)
		case Unconfined:
			if d.Profile != nil || d.Mode != "" {
				t.Fatalf("unconfined with a profile: %+v", d)
			}
			if !cfg.AllowUnconfined && cfg.DefaultProfile != "" {
				t.Fatalf("unconfined although the node forbids it: %+v", d)
			}
		default:
			if d.Profile == nil || d.Profile.Name != d.Ref {
				t.Fatalf("decision %+v: profile does not match ref", d)
			}
			if d.Mode != profiles.ModeAudit && d.Mode != profiles.ModeEnforce {
				t.Fatalf("decision %+v: bad mode", d)
			}
			if !cfg.AllowModeRelax && d.Profile.Mode == profiles.ModeEnforce && d.Mode != profiles.ModeEnforce {
				t.Fatalf("decision %+v: relaxed to audit although the node forbids it", d)
			}
		}
	})
}
