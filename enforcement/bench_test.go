package enforcement_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// The control-plane costs of the kernel side, run in the VM by
// test/bench/control-plane.sh (they need the programs loaded):
//
//	enforcement.test -test.run '^$' -test.bench . -test.benchtime 10000x

// BenchmarkBindUnbind binds and unbinds one cgroup while 10,000 others are
// bound: the map's size must not slow it down.
func BenchmarkBindUnbind(b *testing.B) {
	kerneltest.Require(b)
	e := open(b, enforcement.Options{})
	id, err := e.SetProfile(compile(b, "bench", wx))
	if err != nil {
		b.Fatal(err)
	}
	const others = 10000
	for i := uint64(0); i < others; i++ {
		if err := e.Bind(1<<40+i, id, profiles.ModeEnforce); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cg := uint64(1<<41 + i)
		if err := e.Bind(cg, id, profiles.ModeEnforce); err != nil {
			b.Fatal(err)
		}
		if err := e.Unbind(cg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetProfile writes (and swaps in) a profile of 10 and of 10,000
// file and exec rules: compile to map entries and the batch map update.
func BenchmarkSetProfile(b *testing.B) {
	kerneltest.Require(b)
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			var y strings.Builder
			y.WriteString("exec:\n  deny:\n")
			for i := 0; i < n/2; i++ {
				fmt.Fprintf(&y, "    - /opt/bench/bin%d/tool\n", i)
			}
			y.WriteString("files:\n  rules:\n")
			for i := 0; i < n/2; i++ {
				fmt.Fprintf(&y, "    - path: /srv/data%d/**\n      deny: [write]\n", i)
			}
			c := compile(b, fmt.Sprintf("bench%d", n), y.String())
			e := open(b, enforcement.Options{})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.SetProfile(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
