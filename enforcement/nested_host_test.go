package enforcement

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/profiles"
)

// Room for nested bindings (bpf/progs/cgroup.h), on the host: the
// quota per container, the cap on all containers together, the refusal
// counter, room given back at rmdir, and a container's own binding past the
// cap. The VM suite (test/kernel/bypass_cgroup_test.go) checks that a cgroup
// left unbound cannot be entered.
func TestNestedBindingsQuotaAndCap(t *testing.T) {
	// 3 per container, 5 for all (half of 10 bindings).
	e, m, _ := loadMkdirOnlyC(t, Capacity{Bindings: 10, NestedPerContainer: 3})
	id := func(d string) uint64 {
		t.Helper()
		v, err := cgroup.ID(d)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	bound := func(d string) bool {
		t.Helper()
		_, ok, err := e.Lookup(id(d))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	refused := func() uint64 {
		n, err := e.NestedRefused()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	mk := func(d string) string {
		t.Helper()
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	top := tempCgroup(t, m, fmt.Sprintf("krsi-nested-%d", os.Getpid()))
	a, b := mk(filepath.Join(top, "a")), mk(filepath.Join(top, "b"))
	for _, d := range []string{a, b} {
		if err := e.Bind(id(d), 7, profiles.ModeEnforce); err != nil {
			t.Fatal(err)
		}
	}
	// a: three nested (two levels deep: a grandchild counts for a too), the fourth refused.
	a1 := mk(filepath.Join(a, "1"))
	a11 := mk(filepath.Join(a1, "1"))
	a2 := mk(filepath.Join(a, "2"))
	a3 := mk(filepath.Join(a, "3"))
	if !bound(a1) || !bound(a11) || !bound(a2) || bound(a3) || refused() != 1 {
		t.Fatalf("quota 3: a/1 %v, a/1/1 %v, a/2 %v, a/3 %v (want t t t f), refused %d (want 1)",
			bound(a1), bound(a11), bound(a2), bound(a3), refused())
	}
	var raw bpfKrsiBinding
	if err := e.maps.KrsiBindings.Lookup(id(a11), &raw); err != nil || raw.Root != id(a) {
		t.Fatalf("a/1/1's root: %d (%v), want a's id %d", raw.Root, err, id(a))
	}
	// b: two fit under the cap of 5, the third does not.
	b1, b2, b3 := mk(filepath.Join(b, "1")), mk(filepath.Join(b, "2")), mk(filepath.Join(b, "3"))
	if !bound(b1) || !bound(b2) || bound(b3) || refused() != 2 {
		t.Fatalf("cap 5: b/1 %v, b/2 %v, b/3 %v (want t t f), refused %d (want 2)", bound(b1), bound(b2), bound(b3), refused())
	}
	// A container's own binding does not count: staged past the cap, still bound.
	cdir := filepath.Join(top, "c")
	cpath, err := m.Path(cdir)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Stage(cpath, 7, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	if mk(cdir); !bound(cdir) {
		t.Fatal("a staged container past the cap on nested bindings was not bound")
	}
	// Room given back: a/2 removed, b/3's replacement fits (a's count and the total drop).
	for _, d := range []string{b3, a2} {
		if err := unix.Rmdir(d); err != nil {
			t.Fatal(err)
		}
	}
	if b4 := mk(filepath.Join(b, "4")); !bound(b4) {
		t.Fatal("a removed nested cgroup did not give its room back")
	}
	// A removed container takes its count with it.
	aid := id(a)
	for _, d := range []string{a3, a11, a1} {
		if err := unix.Rmdir(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Rmdir(a); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := e.maps.KrsiNested.Lookup(id(b), &n); err != nil || n != 3 {
		t.Fatalf("b's count: %d, %v; want 3 (b/1, b/2, b/4)", n, err)
	}
	if err := e.maps.KrsiNested.Lookup(uint64(0), &n); err != nil || n != 3 {
		t.Fatalf("the total: %d, %v; want 3 (b's)", n, err)
	}
	if err := e.maps.KrsiNested.Lookup(aid, &n); err == nil {
		t.Fatalf("a removed, its count is still there: %d", n)
	}
}
