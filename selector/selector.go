// Package selector is the first step of krsi's pipeline:
//
//	annotation → profile → map entry → LSM decision → event
//	^^^^^^^^^^^^^^^^^^^^
//
// Given a container (its name, pod, namespace, image and annotations), the
// node's configuration and the node's profiles (package catalog), Select
// decides which profile confines the container, in which mode, and why.
// It is pure: no I/O, no clock, no state; the same input gives the same
// decision on containerd and on CRI-O. Bad input — a malformed krsi
// annotation, an unknown profile, a forbidden opt-out or mode relaxation —
// is an error for the NRI plugin to fail the container's creation with;
// Select never guesses.
//
// The annotations, the precedence and the node settings are described in
// docs/selection.md.
package selector

import (
	"fmt"
	"slices"
	"strings"

	"github.com/krsi-dev/krsi/policy"
	"github.com/krsi-dev/krsi/profiles"
)

// Unconfined is the profile reference that opts a container out of krsi,
// where the node allows it.
const Unconfined = "unconfined"

// Config is the node's selection policy.
type Config struct {
	// DefaultProfile confines containers that no annotation and no image
	// selector gives a profile: "builtin/NAME", "localhost/NAME",
	// "unconfined" (needs AllowUnconfined), or "" for none (they run
	// unconfined).
	DefaultProfile string
	// AllowUnconfined lets annotations (and DefaultProfile) say
	// "unconfined".
	AllowUnconfined bool
	// AllowModeRelax lets a mode annotation turn an enforce profile into
	// audit. Turning audit into enforce is always allowed.
	AllowModeRelax bool
	// ExemptNamespaces are namespaces whose containers krsi leaves alone,
	// annotations and all (e.g. kube-system).
	ExemptNamespaces []string
	// ExemptPods are pods, as "namespace/name", that krsi leaves alone.
	ExemptPods []string
	// Policy bounds, per namespace, what annotations may choose; its unset
	// fields fall back to AllowUnconfined and AllowModeRelax. The zero
	// Policy lets annotations choose any profile.
	Policy policy.Config
}

// rules are the policy in force for namespace ns.
func (cfg Config) rules(ns string) policy.Namespace {
	return cfg.Policy.For(ns, policy.Node{AllowUnconfined: cfg.AllowUnconfined, AllowModeRelax: cfg.AllowModeRelax})
}

// Container is what Select needs to know about a container being created.
type Container struct {
	Name      string // the container's name in its pod
	Namespace string // the pod's namespace
	Pod       string // the pod's name
	// Image is the image as the runtime names it: a reference
	// ("docker.io/library/nginx:1.27", "registry:5000/app@sha256:…") or an
	// image id ("sha256:…"). It may be empty.
	Image string
	// PodAnnotations are the pod sandbox's annotations; Annotations the
	// container's own. CRI-O copies the pod's annotations into the
	// container's, containerd does not; Select reads both, and where both
	// carry a key with different values the container's own wins.
	PodAnnotations, Annotations map[string]string
}

// Catalog is the part of *catalog.Catalog that Select uses.
type Catalog interface {
	Lookup(ref string) (*profiles.Compiled, error)
	MatchImage(image string) (ref string, p *profiles.Compiled, pattern string, ok bool)
}

// Decision is the profile chosen for one container.
type Decision struct {
	// Ref is "builtin/NAME", "localhost/NAME", "unconfined", or "" when
	// the container is exempt.
	Ref string
	// Profile is the compiled profile; nil when unconfined or exempt.
	Profile *profiles.Compiled
	// Mode is the mode to enforce Profile in: its own, or the one a mode
	// annotation set. Empty when Profile is nil.
	Mode profiles.Mode
	// Why says, for the log, what chose the profile (and the mode, if an
	// annotation changed it).
	Why string
}

// Exempt reports whether krsi leaves the container alone.
func (d Decision) Exempt() bool { return d.Ref == "" }

// Select decides the profile and mode of container c. The first of these
// that applies chooses the profile:
//
//  1. the namespace or the pod is exempt (Config.ExemptNamespaces,
//     Config.ExemptPods): no profile, and annotations are not read;
//  2. a node profile whose images: selector picks c.Image, if the
//     namespace's policy makes it binding (bindingImageProfiles);
//  3. annotation profile.krsi.dev/container.<container-name>;
//  4. annotation profile.krsi.dev/pod;
//  5. annotation profile.krsi.dev;
//  6. a node profile whose images: selector picks c.Image;
//  7. Config.DefaultProfile; if it is empty, unconfined.
//
// A profile annotation may name only what the namespace's policy allows
// (Config.Policy); a refusal names the namespace, the annotation, its value
// and the rule. Then annotation mode.krsi.dev/container.<container-name>
// may change the mode. Every krsi annotation that applies to c is checked, not only the
// one that decides, and every annotation key under profile.krsi.dev/ or
// mode.krsi.dev/ must be well-formed, even one for another container; any
// problem is an *AnnotationError. Errors about the node's own settings
// (an unknown default profile) are plain errors. cat must not be nil.
func Select(cfg Config, cat Catalog, c Container) (Decision, error) {
	if slices.Contains(cfg.ExemptNamespaces, c.Namespace) {
		return Decision{Why: fmt.Sprintf("namespace %s is exempt", c.Namespace)}, nil
	}
	if pod := c.Namespace + "/" + c.Pod; slices.Contains(cfg.ExemptPods, pod) {
		return Decision{Why: fmt.Sprintf("pod %s is exempt", pod)}, nil
	}

	ann, err := collect(c)
	if err != nil {
		return Decision{}, err
	}
	rules := cfg.rules(c.Namespace)

	// The profile annotations that apply, most specific first; each is
	// checked even when a more specific one decides.
	var d Decision
	decided, decidedKey := false, ""
	for _, key := range []string{ContainerProfileKey(c.Name), PodProfileKey, ProfileKey} {
		value, ok := ann[key]
		if !ok {
			continue
		}
		ref, p, err := profileValue(rules, cat, key, value)
		if err != nil {
			return Decision{}, err
		}
		if !decided {
			d = Decision{Ref: ref, Profile: p, Why: "annotation " + key}
			decided, decidedKey = true, key
		}
	}
	if decided && len(rules.Binding.List) > 0 {
		// Checked after the annotations: a forbidden one is refused even
		// where a binding image profile would have overridden it.
		bd, ok, err := binding(rules, cat, c)
		if err != nil {
			return Decision{}, err
		}
		if ok && bd.Ref != d.Ref {
			bd.Why += fmt.Sprintf("; annotation %s (%s) not applied", decidedKey, clip(ann[decidedKey]))
			d = bd
		}
	}
	if !decided {
		d, err = fallback(cfg, cat, c)
		if err != nil {
			return Decision{}, err
		}
	}
	if d.Profile != nil {
		d.Mode = d.Profile.Mode
		if d.Mode == "" {
			d.Mode = profiles.ModeEnforce
		}
	}

	modeKey := ContainerModeKey(c.Name)
	if value, ok := ann[modeKey]; ok {
		mode, err := modeValue(rules, modeKey, value, d)
		if err != nil {
			return Decision{}, err
		}
		if mode != d.Mode {
			d.Why += fmt.Sprintf("; mode %s from annotation %s", mode, modeKey)
			d.Mode = mode
		}
	}
	return d, nil
}

// binding returns the image profile of c if the namespace's policy makes
// it binding.
func binding(rules policy.Namespace, cat Catalog, c Container) (Decision, bool, error) {
	if c.Image == "" {
		return Decision{}, false, nil
	}
	if len(c.Image) > MaxImageLen {
		return Decision{}, false, fmt.Errorf("image name %q is %d bytes long; no image reference is longer than %d bytes, so krsi cannot tell whether a binding image profile (%s) selects it",
			clip(c.Image), len(c.Image), MaxImageLen, rules.Binding)
	}
	ref, p, pattern, ok := cat.MatchImage(c.Image)
	if !ok || p == nil || !rules.Binding.Match(ref) {
		return Decision{}, false, nil
	}
	return Decision{Ref: ref, Profile: p, Why: fmt.Sprintf("image %s matches %s (pattern %s), binding in namespace %s (rule %s)",
		clip(c.Image), ref, pattern, c.Namespace, rules.Binding)}, true, nil
}

// fallback chooses by image, then by the node default.
func fallback(cfg Config, cat Catalog, c Container) (Decision, error) {
	if len(c.Image) > MaxImageLen {
		// No image selector could match it: choosing the default instead
		// would be a guess at what the node meant for this image.
		return Decision{}, fmt.Errorf("image name %q is %d bytes long; no image reference is longer than %d bytes, so krsi cannot match it against image profiles",
			clip(c.Image), len(c.Image), MaxImageLen)
	}
	if c.Image != "" {
		if ref, p, pattern, ok := cat.MatchImage(c.Image); ok && p != nil {
			return Decision{Ref: ref, Profile: p, Why: fmt.Sprintf("image %s matches %s (pattern %s)", clip(c.Image), ref, pattern)}, nil
		}
	}
	switch cfg.DefaultProfile {
	case "":
		return Decision{Ref: Unconfined, Why: "no annotation or image selector chose a profile, and the node has no default profile"}, nil
	case Unconfined:
		if !cfg.AllowUnconfined {
			return Decision{}, fmt.Errorf("node default profile is %q, but the node config does not allow unconfined containers (AllowUnconfined); set a default profile or allow unconfined", Unconfined)
		}
		return Decision{Ref: Unconfined, Why: "node default"}, nil
	}
	p, err := cat.Lookup(cfg.DefaultProfile)
	if err != nil {
		return Decision{}, fmt.Errorf("node default profile: %w", err)
	}
	return Decision{Ref: cfg.DefaultProfile, Profile: p, Why: "node default"}, nil
}

// Validate checks the node config against the catalog, for start-up: the
// default profile exists (or is "unconfined" with AllowUnconfined) and the
// exemptions and the policy are well-formed.
func (cfg Config) Validate(cat Catalog) error {
	if err := cfg.Policy.Check(); err != nil {
		return err
	}
	switch cfg.DefaultProfile {
	case "":
	case Unconfined:
		if !cfg.AllowUnconfined {
			return fmt.Errorf("default profile %q needs AllowUnconfined", Unconfined)
		}
	default:
		if _, err := cat.Lookup(cfg.DefaultProfile); err != nil {
			return fmt.Errorf("default profile: %w", err)
		}
	}
	for _, ns := range cfg.ExemptNamespaces {
		if !isDNSLabel(ns) {
			return fmt.Errorf("exempt namespace %q is not a namespace name (a DNS label: lower-case letters, digits and '-', at most 63)", ns)
		}
	}
	for _, pod := range cfg.ExemptPods {
		ns, name, ok := strings.Cut(pod, "/")
		if !ok || !isDNSLabel(ns) || !isDNSSubdomain(name) {
			return fmt.Errorf("exempt pod %q: want namespace/name", pod)
		}
	}
	return nil
}
