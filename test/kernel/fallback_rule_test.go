package kernel_test

import (
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/fallbackrule"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// The kernel's fail-closed rule decides every case of the table that the
// plugin tests' in-memory enforcer follows (fallbackrule.Binds): the parents
// are marked by path before they exist, as at a node's start, and the kernel
// marks each by id as it is made.
func TestFallbackRuleDecidesEveryCase(t *testing.T) {
	kerneltest.Require(t)
	e, fb := openWithWX(t, enforcement.Options{})
	root, rootPath := kerneltest.Cgroup(t, "fallback-rule")
	var parents []enforced.Parent
	for _, p := range fallbackrule.Parents {
		parents = append(parents, enforced.Parent{Path: path.Join(rootPath, p.Path), Kind: p.Kind})
	}
	if err := e.SetFallback(parents, fb, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ClearFallback() })
	for _, tc := range fallbackrule.Cases {
		dir := filepath.Join(root, tc.Path)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b, bound, err := e.Lookup(kerneltest.ID(t, dir))
		if err != nil {
			t.Fatal(err)
		}
		if got := bound && b.Fallback && b.Profile == fb; got != tc.Fallback || bound && !got {
			t.Errorf("%s (%s): binding %+v, %v; want the fallback: %v", tc.Path, tc.Why, b, bound, tc.Fallback)
		}
	}
}
