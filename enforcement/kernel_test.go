package enforcement_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

func compile(t testing.TB, name, body string) *profiles.Compiled {
	t.Helper()
	p, err := profiles.Parse(name+".yaml", []byte("apiVersion: krsi.dev/v1\nkind: Profile\nname: "+name+"\n"+body))
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setProfile writes the profile name (compile's body) into e's kernel maps.
func setProfile(t testing.TB, e *enforcement.Enforcer, name, body string) enforced.ProfileID {
	t.Helper()
	id, err := e.SetProfile(compile(t, name, body))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func open(t testing.TB, opts enforcement.Options) *enforcement.Enforcer {
	t.Helper()
	e, err := enforcement.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

const wx = "memory:\n  wx: deny\n"

func probe(t testing.TB, cg string, args ...string) kerneltest.Result {
	t.Helper()
	return kerneltest.Run(t, cg, append([]string{kerneltest.Env(t, "KRSI_PROBE")}, args...)...)
}

// stagedCgroup makes cgroup name the way the plugin and a runtime do: stage
// (e.Stage, or e.StageContainer for a container whose path rules wait for its
// entrypoint) binds it to profile id in enforce mode, then it is created.
func stagedCgroup(t testing.TB, name string, stage func(string, enforced.ProfileID, profiles.Mode) error,
	id enforced.ProfileID) (string, uint64) {
	t.Helper()
	dir, path := kerneltest.CgroupPath(t, name)
	if err := stage(path, id, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, kerneltest.ID(t, dir)
}

func TestStagedCgroupIsBoundAtCreation(t *testing.T) {
	kerneltest.Require(t)
	e := open(t, enforcement.Options{})
	id := setProfile(t, e, "staged", wx)
	dir, cgid := stagedCgroup(t, "staged", e.Stage, id)
	b, ok, err := e.Lookup(cgid)
	if err != nil || !ok || !b.Staged || b.Profile != id || b.Mode != profiles.ModeEnforce {
		t.Fatalf("binding of the staged cgroup = %+v, %v, %v; want staged to profile %d", b, ok, err, id)
	}
	if r := probe(t, dir, "mprotect-rw-rx"); !r.Denied() {
		t.Fatalf("first process in the staged cgroup: %s", r)
	}

	sibling, _ := kerneltest.Cgroup(t, "staged-sibling")
	if _, ok, _ := e.Lookup(kerneltest.ID(t, sibling)); ok {
		t.Fatal("a sibling cgroup that was not staged got bound")
	}
	if r := probe(t, sibling, "mprotect-rw-rx"); !r.OK() {
		t.Fatalf("process in an unbound sibling: %s", r)
	}
}

func TestNestedCgroupInheritsBinding(t *testing.T) {
	kerneltest.Require(t)
	e := open(t, enforcement.Options{})
	id := setProfile(t, e, "nested", wx)
	parent, _ := kerneltest.Cgroup(t, "nested")
	if err := e.Bind(kerneltest.ID(t, parent), id, profiles.ModeAudit); err != nil {
		t.Fatal(err)
	}
	child := filepath.Join(parent, "child")
	grandchild := filepath.Join(child, "grandchild")
	if err := os.MkdirAll(grandchild, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{child, grandchild} {
		b, ok, err := e.Lookup(kerneltest.ID(t, dir))
		if err != nil || !ok || !b.Inherited || b.Profile != id || b.Mode != profiles.ModeAudit {
			t.Fatalf("%s: binding %+v, %v, %v; want inherited audit binding to %d", dir, b, ok, err, id)
		}
	}
	if err := e.Bind(kerneltest.ID(t, parent), id, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(parent, "enforced")
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := probe(t, nested, "mprotect-rw-rx"); !r.Denied() {
		t.Fatalf("process in a nested cgroup of an enforced one: %s", r)
	}

	// rmdir drops the binding in the kernel: nothing leaks.
	gid := kerneltest.ID(t, grandchild)
	if err := os.Remove(grandchild); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := e.Lookup(gid); ok {
		t.Fatal("binding of a removed cgroup is still there")
	}
}

func TestEventsCarryIdentity(t *testing.T) {
	kerneltest.Require(t)
	e := open(t, enforcement.Options{})
	c := compile(t, "events", "exec:\n  deny: ["+kerneltest.Env(t, "KRSI_DYN_TRUE")+"]\n")
	id, err := e.SetProfile(c)
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := kerneltest.Cgroup(t, "events")
	cgid := kerneltest.ID(t, dir)
	if err := e.Bind(cgid, id, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	rd, err := e.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	// An exec event's comm is the name the new program would have had (the
	// invoked path's last component), not the caller's (krsi-probe here; a
	// container's entrypoint would show the runtime's).
	if r := probe(t, dir, "exec", kerneltest.Env(t, "KRSI_DYN_TRUE")); !r.Denied() {
		t.Fatalf("exec of a denied binary: %s", r)
	}
	rd.SetDeadline(time.Now().Add(5 * time.Second))
	ev, err := rd.Read()
	if err != nil {
		t.Fatal(err)
	}
	if ev.CgroupID != cgid || ev.ProfileID != id || ev.Hook != "bprm_check_security" ||
		ev.Action != "denied" || ev.Reason != "rule" || ev.Path != kerneltest.Env(t, "KRSI_DYN_TRUE") ||
		ev.Comm != filepath.Base(ev.Path) || ev.Invoked != ev.Path || ev.PID == 0 || ev.Access != profiles.AccessExec ||
		ev.Rule != 0 || c.Rules[ev.Rule] == "" || time.Since(ev.Time) > time.Minute || time.Since(ev.Time) < 0 {
		t.Fatalf("event = %+v", ev)
	}
	if n, err := e.DroppedEvents(); err != nil || n != 0 {
		t.Fatalf("dropped events = %d, %v", n, err)
	}
}

func TestProfileSwapIsWhole(t *testing.T) {
	kerneltest.Require(t)
	e := open(t, enforcement.Options{})
	tru := kerneltest.Env(t, "KRSI_DYN_TRUE")
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	if err := os.Symlink(kerneltest.Env(t, "KRSI_PROBE"), other); err != nil {
		t.Fatal(err)
	}
	v1 := compile(t, "swap", "exec:\n  deny: ["+tru+"]\n")
	id, err := e.SetProfile(v1)
	if err != nil {
		t.Fatal(err)
	}
	cg, _ := kerneltest.Cgroup(t, "swap")
	if err := e.Bind(kerneltest.ID(t, cg), id, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	if r := probe(t, cg, "exec", tru); !r.Denied() {
		t.Fatalf("v1 should deny %s: %s", tru, r)
	}
	v2 := compile(t, "swap", "memory:\n  wx: deny\nexec:\n  deny: [/nonexistent]\n")
	id2, err := e.SetProfile(v2)
	if err != nil || id2 != id {
		t.Fatalf("swap: id %d, %v; want the same id %d", id2, err, id)
	}
	if r := probe(t, cg, "exec", tru); r.Exit != 0 {
		t.Fatalf("v2 allows %s: %s", tru, r)
	}
	if r := probe(t, cg, "mprotect-rw-rx"); !r.Denied() {
		t.Fatalf("v2 denies W^X: %s", r)
	}
	if name, err := e.ProfileName(id); err != nil || name != "swap" {
		t.Fatalf("ProfileName = %q, %v", name, err)
	}
	if err := e.RemoveProfile(id); err == nil || !strings.Contains(err.Error(), "still bound") {
		t.Fatalf("removing a bound profile: %v", err)
	}
}

// The pinned-enforcement tests start krsi's loader in a child process (this
// test binary, re-executed) so that a real process exit is what they survive.
func TestMain(m *testing.M) {
	if dir := os.Getenv("KRSI_TEST_PIN_HELPER"); dir != "" {
		os.Exit(pinHelper(dir, os.Getenv("KRSI_TEST_PIN_CGROUP")))
	}
	os.Exit(m.Run())
}

func pinHelper(pinDir, cgroupDir string) int {
	e, err := enforcement.Open(enforcement.Options{PinDir: pinDir})
	if err != nil {
		os.Stderr.WriteString(err.Error())
		return 3
	}
	defer e.Close()
	p, err := profiles.Builtin("wx")
	var c *profiles.Compiled
	if err == nil {
		c, err = p.Compile()
	}
	var id enforced.ProfileID
	if err == nil {
		id, err = e.SetProfile(c)
	}
	var cgid uint64
	if err == nil {
		cgid, err = cgroup.ID(cgroupDir)
	}
	if err == nil {
		err = e.Bind(cgid, id, profiles.ModeEnforce)
	}
	if err != nil {
		os.Stderr.WriteString(err.Error())
		return 4
	}
	if e.Reused() {
		return 10
	}
	return 0
}

func runPinHelper(t *testing.T, pinDir, cg string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KRSI_TEST_PIN_HELPER="+pinDir, "KRSI_TEST_PIN_CGROUP="+cg)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if exit.ExitCode() == 10 {
			return 10
		}
		t.Fatalf("pin helper: %v: %s", err, out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestEnforcementOutlivesTheLoaderAndIsReused(t *testing.T) {
	kerneltest.Require(t)
	pinDir := filepath.Join("/sys/fs/bpf", "krsi-test-"+filepath.Base(t.TempDir()))
	t.Cleanup(func() { enforcement.Unload(pinDir) })
	cg, _ := kerneltest.Cgroup(t, "pinned")

	if got := runPinHelper(t, pinDir, cg); got != 0 {
		t.Fatalf("first loader reused pins that did not exist (status %d)", got)
	}
	// The loader has exited: only the pins hold the programs now.
	if r := probe(t, cg, "mprotect-rw-rx"); !r.Denied() {
		t.Fatalf("after the loader exited: %s", r)
	}
	if got := runPinHelper(t, pinDir, cg); got != 10 {
		t.Fatalf("second loader did not reuse the pins (status %d)", got)
	}
	if r := probe(t, cg, "mprotect-rw-rx"); !r.Denied() {
		t.Fatalf("after a restart that reused the pins: %s", r)
	}

	e := open(t, enforcement.Options{PinDir: pinDir})
	if !e.Reused() {
		t.Fatal("Open did not reuse a complete pinned set")
	}
	if b, ok, err := e.Lookup(kerneltest.ID(t, cg)); err != nil || !ok || b.Profile == 0 {
		t.Fatalf("binding after restart = %+v, %v, %v", b, ok, err)
	}
	e.Close()

	if err := enforcement.Unload(pinDir); err != nil {
		t.Fatal(err)
	}
	// The kernel detaches a link whose last pin is removed from a work queue
	// (6.12), so the release is not immediate.
	var r kerneltest.Result
	for i := 0; i < 50; i++ {
		if r = probe(t, cg, "mprotect-rw-rx"); r.OK() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("5s after Unload the cgroup is still confined: %s", r)
}
