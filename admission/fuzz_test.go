package admission

import (
	"regexp"
	"testing"

	"github.com/krsi-dev/krsi/policy"
)

// FuzzGlobRegexp: the RE2 expression the admission policy matches a
// profile pattern with accepts exactly what the node's policy.Glob does,
// so admission and node agree on every value.
func FuzzGlobRegexp(f *testing.F) {
	for _, s := range [][2]string{
		{"builtin/*", "builtin/wx"}, {"localhost/a.b*", "localhost/aXb"}, {"localhost/a*a", "localhost/a"},
		{"*", "x\ny"}, {"localhost/x.*", "localhost/x.y"}, {"localhost/a*b*c", "localhost/abcbc"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(s) > 512 || (policy.Config{Default: policy.Rules{Profiles: []string{pattern}}}).Check() != nil {
			return // the node refuses such a pattern before anything matches it
		}
		re, err := regexp.Compile("(?s)^(?:" + globRegexp(pattern) + ")$")
		if err != nil {
			t.Fatalf("pattern %q: %v", pattern, err)
		}
		if node, adm := policy.Glob(pattern, s), re.MatchString(s); node != adm {
			t.Fatalf("pattern %q, value %q: node %t, admission %t", pattern, s, node, adm)
		}
	})
}
