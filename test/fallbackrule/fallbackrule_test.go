package fallbackrule_test

import (
	"path"
	"testing"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/test/fallbackrule"
)

// The Go rule decides every case as the kernel's does (the kernel test runs
// the same cases against the C).
func TestBindsDecidesEveryCase(t *testing.T) {
	const root = "/krsi-test/fallback-rule"
	marked := map[string]enforced.ParentKind{}
	for _, p := range fallbackrule.Parents {
		marked[path.Join(root, p.Path)] = p.Kind
	}
	for _, c := range fallbackrule.Cases {
		if got := fallbackrule.Binds(path.Join(root, c.Path), marked); got != c.Fallback {
			t.Errorf("%s (%s): binds = %v, want %v", c.Path, c.Why, got, c.Fallback)
		}
	}
}

// The table is one the kernel test can make in order and read as the rule's
// alone: each case's parent is the root or an earlier case, and none is
// below a case the rule binds (whose children inherit instead).
func TestCasesAreMadeInOrderAndNeverInherit(t *testing.T) {
	made := map[string]bool{".": false}
	for _, c := range fallbackrule.Cases {
		bound, ok := made[path.Dir(c.Path)]
		if !ok {
			t.Errorf("%s: its parent is not an earlier case", c.Path)
		}
		if bound {
			t.Errorf("%s: below a cgroup the rule binds; it would inherit", c.Path)
		}
		made[c.Path] = c.Fallback
	}
	for _, p := range fallbackrule.Parents {
		if _, ok := made[p.Path]; !ok {
			t.Errorf("marked parent %s is not made by any case", p.Path)
		}
	}
}
