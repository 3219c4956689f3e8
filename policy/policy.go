// Package policy says who may weaken a container's confinement. It is the
// administrator's bound on the first step of krsi's pipeline:
//
//	annotation → profile → map entry → LSM decision → event
//	^^^^^^^^^^ who may choose what
//
// The node configuration holds it: per namespace (with a default for the
// namespaces it does not list), which profiles an annotation may choose,
// which image profiles an annotation cannot override (binding), and whether
// a pod may opt out ("unconfined") or relax an enforcing profile to audit;
// and, node-wide, where the record annotation is honoured and how much it
// may write. Package selector asks it while it decides; package admission
// turns it into a Kubernetes ValidatingAdmissionPolicy. It is pure: no I/O.
//
// docs/selection.md ("Who may choose what") describes the knobs.
package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/krsi-dev/krsi/catalog"
)

// Rules bound what the annotations of one namespace's pods may ask for. A
// field left out (nil) is taken from policy.default, and there from the
// node's top-level settings (allowUnconfined, allowModeRelax) or, for
// profiles, "any profile".
type Rules struct {
	// Profiles are the profiles a profile annotation may name, as patterns
	// in which '*' matches any run of characters: "builtin/*",
	// "localhost/team-a-*", "*" (any). An empty list allows none.
	Profiles []string `yaml:"profiles" json:"profiles,omitempty"`
	// BindingImageProfiles are node profiles (patterns, "localhost/nginx",
	// "localhost/*") that, when their images: select a container's image,
	// apply whatever its annotations say: an annotation cannot override them.
	BindingImageProfiles []string `yaml:"bindingImageProfiles" json:"bindingImageProfiles,omitempty"`
	// AllowUnconfined lets an annotation say "unconfined".
	AllowUnconfined *bool `yaml:"allowUnconfined" json:"allowUnconfined,omitempty"`
	// AllowModeRelax lets a mode annotation turn an enforce profile to audit.
	AllowModeRelax *bool `yaml:"allowModeRelax" json:"allowModeRelax,omitempty"`
}

// Config is the node config's policy: section.
type Config struct {
	// Default applies to namespaces Namespaces does not list.
	Default Rules `yaml:"default" json:"default"`
	// Namespaces have their own rules; a field they leave out is Default's.
	Namespaces map[string]Rules `yaml:"namespaces" json:"namespaces,omitempty"`
}

// Node is the node's top-level settings, which the policy's unset fields
// fall back to.
type Node struct {
	AllowUnconfined bool
	AllowModeRelax  bool
}

// maxPattern bounds a pattern (a profile reference is at most 256 bytes).
const (
	maxPattern  = 256
	maxPatterns = 256
	maxStars    = 4
)

// Check says what is wrong with the policy, naming the field and how to
// fix it. A policy that does not pass must not be used: the node refuses
// to start rather than run with a policy it cannot read.
func (c Config) Check() error {
	if err := c.Default.check("policy.default"); err != nil {
		return err
	}
	for _, ns := range slices.Sorted(maps.Keys(c.Namespaces)) {
		if !IsNamespace(ns) {
			return fmt.Errorf("policy.namespaces: %q is not a namespace name (a DNS label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)", clip(ns))
		}
		if err := c.Namespaces[ns].check("policy.namespaces." + ns); err != nil {
			return err
		}
	}
	return nil
}

func (r Rules) check(field string) error {
	for _, l := range []struct {
		key      string
		patterns []string
		binding  bool
	}{{"profiles", r.Profiles, false}, {"bindingImageProfiles", r.BindingImageProfiles, true}} {
		if len(l.patterns) > maxPatterns {
			return fmt.Errorf("%s.%s: %d patterns, at most %d", field, l.key, len(l.patterns), maxPatterns)
		}
		for i, p := range l.patterns {
			if msg := checkPattern(p, l.binding); msg != "" {
				return fmt.Errorf("%s.%s[%d]: %s", field, l.key, i, msg)
			}
		}
	}
	return nil
}

// checkPattern returns what is wrong with a profile pattern, or "".
func checkPattern(p string, binding bool) string {
	want := `builtin/NAME or localhost/NAME, where '*' matches any run of characters ("builtin/*", "localhost/team-a-*"), or "*" for any profile`
	if binding {
		want = `localhost/NAME, where '*' matches any run of characters ("localhost/nginx", "localhost/*"), or "*" for every image profile (built-in profiles select no image)`
	}
	switch {
	case len(p) > maxPattern:
		return fmt.Sprintf("%d bytes long, at most %d", len(p), maxPattern)
	case p == "":
		return "empty pattern; want " + want
	case p == "*":
		return ""
	case strings.Count(p, "*") > maxStars:
		return fmt.Sprintf("%q has more than %d '*'", clip(p), maxStars)
	case p == "unconfined":
		return `"unconfined" is not a profile: allowUnconfined says whether pods may opt out`
	}
	rest, ok := strings.CutPrefix(p, "localhost/")
	if !ok && !binding {
		rest, ok = strings.CutPrefix(p, "builtin/")
	}
	if !ok || rest == "" {
		return fmt.Sprintf("%q: want %s", clip(p), want)
	}
	for _, c := range []byte(rest) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '*') {
			return fmt.Sprintf("%q: %q cannot be in a profile name (lower-case letters, digits, '-', '.', '_'; '*' as the wildcard)", clip(p), rune(c))
		}
	}
	return ""
}

// Namespace is the policy in force for one namespace, every field resolved.
type Namespace struct {
	Name string
	// Each rule with the field it came from, for messages and logs.
	Profiles, Binding               Patterns
	AllowUnconfined, AllowModeRelax Flag
}

// Patterns is a resolved list of profile patterns; Any when the list was
// never set (today's behaviour: any profile).
type Patterns struct {
	List  []string
	Any   bool
	Field string // where it is set: "policy.namespaces.shop.profiles", …
	Set   bool   // false: not set anywhere, List and Any are the defaults
}

// Flag is a resolved yes/no rule.
type Flag struct {
	Allowed bool
	Field   string
}

// For resolves the rules of namespace ns.
func (c Config) For(ns string, node Node) Namespace {
	own, listed := c.Namespaces[ns]
	pick := func(key string, ownList, defList []string, unset Patterns) Patterns {
		switch {
		case listed && ownList != nil:
			return Patterns{List: ownList, Field: "policy.namespaces." + ns + "." + key, Set: true}
		case defList != nil:
			return Patterns{List: defList, Field: "policy.default." + key, Set: true}
		}
		return unset
	}
	flag := func(key string, ownFlag, defFlag *bool, node bool) Flag {
		switch {
		case listed && ownFlag != nil:
			return Flag{*ownFlag, "policy.namespaces." + ns + "." + key}
		case defFlag != nil:
			return Flag{*defFlag, "policy.default." + key}
		}
		return Flag{node, key}
	}
	return Namespace{
		Name:            ns,
		Profiles:        pick("profiles", own.Profiles, c.Default.Profiles, Patterns{Any: true, Field: "policy.default.profiles (not set: any profile)"}),
		Binding:         pick("bindingImageProfiles", own.BindingImageProfiles, c.Default.BindingImageProfiles, Patterns{Field: "policy.default.bindingImageProfiles (not set: none)"}),
		AllowUnconfined: flag("allowUnconfined", own.AllowUnconfined, c.Default.AllowUnconfined, node.AllowUnconfined),
		AllowModeRelax:  flag("allowModeRelax", own.AllowModeRelax, c.Default.AllowModeRelax, node.AllowModeRelax),
	}
}

// Match reports whether ref matches one of the patterns.
func (p Patterns) Match(ref string) bool {
	if p.Any {
		return true
	}
	for _, pat := range p.List {
		if Glob(pat, ref) {
			return true
		}
	}
	return false
}

// String is the rule as a message shows it: its field and its value.
func (p Patterns) String() string {
	if !p.Set {
		return p.Field
	}
	return p.Field + ": [" + strings.Join(p.List, ", ") + "]"
}

func (f Flag) String() string { return fmt.Sprintf("%s: %t", f.Field, f.Allowed) }

// Glob reports whether s matches pattern, in which '*' matches any run of
// characters ('/' included) and every other character itself: the image
// selectors' matching (catalog.Glob), so the two cannot drift.
func Glob(pattern, s string) bool { return catalog.Glob(pattern, s) }

// IsNamespace reports whether s is a Kubernetes namespace name (a DNS label:
// also what Kubernetes takes for a container name).
func IsNamespace(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i, c := range []byte(s) {
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) <= 128 {
		return s
	}
	i := 128
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
