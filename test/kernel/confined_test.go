package kernel_test

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/confine"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// shared is one set of every program, loaded the first time a test confines
// a probe and detached when the package's tests end. Under TCG loading and
// verifying the programs takes 10-20 s and detaching them 4 s; the attack
// suites confine a probe some hundred times, so they share one set, loaded
// as the node's daemon loads it (every program). `krsi run` itself, which
// loads only what its profile needs, is tested by run_test.go through the
// binary.
var shared struct {
	once sync.Once
	set  *confine.Set
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.set != nil {
		shared.set.Close()
	}
	os.Exit(code)
}

// confinedRun runs krsi-probe with probeArgs under profile (builtin/NAME or a
// profile file) in the shared set, in a transient cgroup of its own, as
// `krsi run --profile profile -- krsi-probe probeArgs...` would: Stderr
// holds the probe's stderr and then krsi's events, one line each, in
// `krsi run`'s text format.
func confinedRun(t *testing.T, profile string, probeArgs ...string) kerneltest.Result {
	t.Helper()
	probe := kerneltest.Env(t, "KRSI_PROBE")
	shared.once.Do(func() { shared.set, shared.err = confine.Open(enforcement.Options{}) })
	if shared.err != nil {
		t.Fatalf("load the shared set of programs: %v", shared.err)
	}
	p, err := profiles.Resolve(profile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Compile()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, errf := tempFile(t), tempFile(t)
	var events bytes.Buffer
	log := logrus.New()
	log.Out, log.Formatter = &events, eventlog.TextFormatter{}
	info := eventlog.Source{Profile: c.Name, Rules: c.Rules}
	status, err := shared.set.Run(context.Background(), confine.Options{
		Profile: c,
		Command: append([]string{probe}, probeArgs...),
		OnEvent: func(ev enforced.Event) { eventlog.Log(log, ev, info) },
		Stdin:   stdin,
		Stdout:  out,
		Stderr:  errf,
	})
	if err != nil {
		t.Fatalf("confine %s under %s: %v", probe, profile, err)
	}
	return kerneltest.Result{Exit: status, Stdout: readAll(t, out), Stderr: readAll(t, errf) + events.String()}
}

func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readAll(t *testing.T, f *os.File) string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
