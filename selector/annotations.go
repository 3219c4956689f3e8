package selector

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/krsi-dev/krsi/policy"
	"github.com/krsi-dev/krsi/profiles"
)

// The annotation keys krsi reads. Keys under profile.krsi.dev/ and
// mode.krsi.dev/ that are not one of these forms are errors.
const (
	// ProfileKey selects the profile of every container of a pod.
	ProfileKey = "profile.krsi.dev"
	// PodProfileKey selects the profile of every container of a pod; it
	// wins over ProfileKey.
	PodProfileKey = "profile.krsi.dev/pod"

	profilePrefix   = "profile.krsi.dev/"
	modePrefix      = "mode.krsi.dev/"
	modeKey         = "mode.krsi.dev"
	containerPrefix = "container."

	// MaxValueLen bounds an annotation value krsi reads.
	MaxValueLen = 256
	// MaxImageLen bounds the image name krsi matches against image
	// selectors. No valid image reference is this long (a repository path
	// is at most 255 bytes, a tag 128, a digest 71).
	MaxImageLen = 1024

	keyForms = "profile.krsi.dev, profile.krsi.dev/pod, profile.krsi.dev/container.<container-name> or mode.krsi.dev/container.<container-name>"
	refForms = "builtin/NAME, localhost/NAME or unconfined"
)

// ContainerProfileKey is the annotation that selects the profile of the
// named container; it wins over the pod-wide annotations.
func ContainerProfileKey(container string) string {
	return profilePrefix + containerPrefix + container
}

// ContainerModeKey is the annotation that sets the mode (audit or
// enforce) of the named container's profile.
func ContainerModeKey(container string) string {
	return modePrefix + containerPrefix + container
}

// AnnotationError is a krsi annotation that cannot be used. Its message
// names the annotation, says what is wrong and how to fix it.
type AnnotationError struct {
	Key   string
	Value string
	Msg   string
}

func (e *AnnotationError) Error() string {
	return "annotation " + clip(e.Key) + ": " + e.Msg
}

// collect returns the krsi annotations of c: the pod's, overridden by the
// container's own. Every krsi key, whichever container it is for, must be
// well-formed; the first malformed one in key order is the error.
func collect(c Container) (map[string]string, error) {
	ann := map[string]string{}
	var bad []string
	for _, m := range []map[string]string{c.PodAnnotations, c.Annotations} {
		for k, v := range m {
			if !isKrsiKey(k) {
				continue
			}
			if _, ok := ann[k]; !ok && checkKey(k) != "" {
				bad = append(bad, k)
			}
			ann[k] = v
		}
	}
	if len(bad) > 0 {
		k := slices.Min(bad)
		return nil, &AnnotationError{Key: k, Value: ann[k], Msg: checkKey(k)}
	}
	return ann, nil
}

func isKrsiKey(k string) bool {
	return k == ProfileKey || k == modeKey || strings.HasPrefix(k, profilePrefix) || strings.HasPrefix(k, modePrefix)
}

// checkKey returns what is wrong with a krsi annotation key, or "".
func checkKey(k string) string {
	if k == ProfileKey || k == PodProfileKey {
		return ""
	}
	if k == modeKey || k == modePrefix+"pod" {
		return "the mode is set per container: use mode.krsi.dev/container.<container-name>"
	}
	rest, ok := strings.CutPrefix(k, profilePrefix)
	if !ok {
		rest, _ = strings.CutPrefix(k, modePrefix)
	}
	name, ok := strings.CutPrefix(rest, containerPrefix)
	if !ok {
		return "not a krsi annotation: want " + keyForms
	}
	if !isDNSLabel(name) {
		return fmt.Sprintf("%q is not a container name (at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)", clip(name))
	}
	return ""
}

// profileValue checks a profile annotation against the namespace's policy
// and looks its profile up.
func profileValue(rules policy.Namespace, cat Catalog, key, value string) (string, *profiles.Compiled, error) {
	fail := func(format string, args ...any) (string, *profiles.Compiled, error) {
		return "", nil, &AnnotationError{Key: key, Value: value, Msg: fmt.Sprintf(format, args...)}
	}
	if msg := checkValue(value, refForms); msg != "" {
		return fail("%s", msg)
	}
	if value == Unconfined {
		if f := rules.AllowUnconfined; !f.Allowed {
			return fail("value %q: namespace %s may not opt out of krsi (rule %s); remove the annotation or name a profile (%s), or have the node admin set %s: true in the krsi config",
				value, rules.Name, f, strings.TrimSuffix(refForms, " or unconfined"), f.Field)
		}
		return Unconfined, nil, nil
	}
	if !strings.HasPrefix(value, "builtin/") && !strings.HasPrefix(value, "localhost/") {
		hint := ""
		for _, prefix := range []string{"builtin/", "localhost/"} {
			if _, err := cat.Lookup(prefix + value); err == nil {
				hint = "; did you mean " + prefix + value + "?"
				break
			}
		}
		return fail("value %q is not %s%s", value, refForms, hint)
	}
	if !rules.Profiles.Match(value) {
		return fail("value %q: namespace %s may not choose this profile (rule %s); name a profile the rule allows, or have the node admin add it to %s in the krsi config",
			value, rules.Name, rules.Profiles, rules.Profiles.Field)
	}
	p, err := cat.Lookup(value)
	if err != nil {
		return fail("value %q: %v", value, err)
	}
	if p == nil {
		return fail("value %q: the catalog has no compiled profile for it", value)
	}
	return value, p, nil
}

// modeValue checks a mode annotation against the decision so far.
func modeValue(rules policy.Namespace, key, value string, d Decision) (profiles.Mode, error) {
	fail := func(format string, args ...any) (profiles.Mode, error) {
		return "", &AnnotationError{Key: key, Value: value, Msg: fmt.Sprintf(format, args...)}
	}
	if msg := checkValue(value, "audit or enforce"); msg != "" {
		return fail("%s", msg)
	}
	mode := profiles.Mode(value)
	if mode != profiles.ModeAudit && mode != profiles.ModeEnforce {
		return fail("value %q is neither audit nor enforce", value)
	}
	if d.Profile == nil {
		return fail("value %q: the container has no profile to set the mode of (unconfined: %s); remove the annotation or select a profile", value, d.Why)
	}
	if f := rules.AllowModeRelax; mode == profiles.ModeAudit && d.Mode == profiles.ModeEnforce && !f.Allowed {
		return fail("value %q: profile %s is in enforce mode and namespace %s may not relax it to audit (rule %s); remove the annotation, or have the node admin set %s: true in the krsi config",
			value, d.Ref, rules.Name, f, f.Field)
	}
	return mode, nil
}

// checkValue returns what is wrong with the form of a value, or "". The
// length is checked first, so a huge value costs nothing more.
func checkValue(v, want string) string {
	switch {
	case len(v) > MaxValueLen:
		return fmt.Sprintf("value is %d bytes long, at most %d; want %s", len(v), MaxValueLen, want)
	case v == "":
		return fmt.Sprintf("empty value; want %s, or remove the annotation", want)
	case strings.IndexFunc(v, unicode.IsSpace) >= 0:
		return fmt.Sprintf("value %q contains white space; want %s, written without spaces", v, want)
	case !utf8.ValidString(v):
		return fmt.Sprintf("value %q is not valid UTF-8; want %s", clip(v), want)
	}
	return ""
}

// isDNSLabel: what Kubernetes takes for a container or namespace name.
func isDNSLabel(s string) bool { return policy.IsNamespace(s) }

// isDNSSubdomain: what Kubernetes takes for a pod name.
func isDNSSubdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !isDNSLabel(label) {
			return false
		}
	}
	return true
}

// clip shortens s for a message.
func clip(s string) string {
	const max = 128
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
