package plugin_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/plugin"
)

// waitReady polls p.Ready until it is nil (want "") or fails saying want.
func waitReady(tb testing.TB, p *plugin.Plugin, want string) {
	tb.Helper()
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		err = p.Ready()
		if (want == "" && err == nil) || (want != "" && err != nil && strings.Contains(err.Error(), want)) {
			return
		}
	}
	if want == "" {
		tb.Fatalf("Ready() = %v after 15s, want nil", err)
	}
	tb.Fatalf("Ready() = %v after 15s, want an error saying %q", err, want)
}

func TestReadyOnlyWhileConnectedAndSynchronized(t *testing.T) {
	e := newEnv(t, plugin.DefaultConfig(), newFake())
	waitReady(t, e.plugin, "")

	// The runtime goes away (a restart): its connection closes.
	e.run.Stop()
	waitReady(t, e.plugin, "NRI at "+e.run.Sock)
	t.Logf("while the runtime is away: %v", e.plugin.Ready())
	if err := e.plugin.Ready(); !strings.Contains(err.Error(), "closed") && !strings.Contains(err.Error(), "not connected") {
		t.Errorf("Ready() while the runtime is away = %v, want it to say the connection closed or is not there", err)
	}
	e.run.Restart()
	if !e.run.WaitSynced(15 * time.Second) {
		t.Fatal("the plugin did not synchronize with the runtime again in 15s")
	}
	waitReady(t, e.plugin, "")
}

func testLogger(tb testing.TB) *logrus.Logger {
	log := logrus.New()
	log.Out = newTestWriter(tb)
	return log
}

func TestNotReadyBeforeConnectingSaysWhere(t *testing.T) {
	cfg := plugin.DefaultConfig()
	cfg.SocketPath = t.TempDir() + "/no-runtime.sock"
	p := plugin.New(cfg, newFake(), nil, cgroup.Mount{Dir: t.TempDir(), Root: "/"}, testLogger(t))
	if err := p.Ready(); err == nil || !strings.Contains(err.Error(), "not connected to NRI") {
		t.Fatalf("Ready() before Run = %v, want not connected", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	waitReady(t, p, "not connected to NRI at "+cfg.SocketPath+": ")
}

func TestAliveUnlessTheStateStaysLocked(t *testing.T) {
	p := plugin.New(plugin.DefaultConfig(), newFake(), nil, cgroup.Mount{Dir: t.TempDir(), Root: "/"}, testLogger(t))
	plugin.SetStuckAfter(p, 50*time.Millisecond)
	if err := p.Alive(); err != nil {
		t.Fatalf("Alive() of an idle plugin = %v", err)
	}
	unlock := plugin.LockState(p)
	// The first probe that finds the lock held only notes when.
	if err := p.Alive(); err != nil {
		t.Fatalf("Alive() at the first busy probe = %v, want nil (busy is not stuck)", err)
	}
	time.Sleep(100 * time.Millisecond)
	err := p.Alive()
	if err == nil || !strings.Contains(err.Error(), "state has been locked since") {
		t.Fatalf("Alive() with the state locked past stuckAfter = %v, want stuck", err)
	}
	unlock()
	if err := p.Alive(); err != nil {
		t.Fatalf("Alive() once the lock is free = %v", err)
	}
}

// testWriter sends the plugin's log to the test's until the test ends: the
// plugin's goroutines may still log (a connection closing) after that, which
// testing turns into a panic.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func newTestWriter(t testing.TB) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(b))
	}
	return len(b), nil
}
