package kernel_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// openWithWX loads the programs with opts (unpinned, closed when the test
// ends) and builtin/wx into them.
func openWithWX(t *testing.T, opts enforcement.Options) (*enforcement.Enforcer, enforced.ProfileID) {
	t.Helper()
	e, err := enforcement.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	p, _ := profiles.Builtin("wx")
	c, err := p.Compile()
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.SetProfile(c)
	if err != nil {
		t.Fatal(err)
	}
	return e, id
}

// boundToWX loads the programs (unpinned, closed when the test ends) and
// binds a new cgroup named name to builtin/wx; it returns the cgroup's
// directory.
func boundToWX(t *testing.T, name string) (*enforcement.Enforcer, string) {
	t.Helper()
	e, id := openWithWX(t, enforcement.Options{})
	dir, _ := kerneltest.Cgroup(t, name)
	if err := e.Bind(kerneltest.ID(t, dir), id, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	return e, dir
}

// loadWait bounds a krsi start that loads and verifies every program: 10-20 s
// under TCG on amd64 on an idle host, but over 30 s with other VMs on the same
// 2 cores (the upgrade test's first start missed 30 s so); on arm64's
// emulation, slower per instruction, a whole suite beside other VMs missed
// 3 min twice.
func loadWait() time.Duration {
	if runtime.GOARCH == "arm64" {
		return 10 * time.Minute
	}
	return 3 * time.Minute
}

// startDaemon starts `krsi plugin` against the simulated runtime and waits
// until the runtime has synchronized it.
func startDaemon(t *testing.T, rt *simRuntime, pinDir, profDir string) *daemon {
	t.Helper()
	d := newDaemon(t, rt.Sock, pinDir, profDir)
	d.start()
	if !rt.WaitSynced(loadWait()) {
		t.Fatal("krsi did not connect to the runtime")
	}
	return d
}

// writeFileUnder writes a one-byte file at dir/rel, making its folders.
func writeFileUnder(t *testing.T, dir, rel string) string {
	t.Helper()
	f := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}
