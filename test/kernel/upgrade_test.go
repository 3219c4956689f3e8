package kernel_test

// Upgrades (docs/upgrade.md): a krsi whose BPF object or map layout differs
// from the pinned set's replaces that set, and at no instant of the switch
// does a bound container get to do what its profile forbids. Three builds of
// krsi (test/vm/run.sh): KRSI_BIN, KRSI_BIN_NEXT (another BPF object, same
// layout) and KRSI_BIN_NEXT_ABI (another object and map layout, ABI 4, with a
// migration from 3: enforcement/testlayout.go).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// recordOf is the set record of a krsi binary: its BPF object and layout.
func recordOf(t *testing.T, bin string, abi uint32) enforcement.SetRecord {
	t.Helper()
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	var v struct{ BPFObject string }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s version: %v in %s", bin, err, out)
	}
	return enforcement.SetRecord{Object: v.BPFObject, ABI: abi}
}

// statusBy reads the pinned state with bin's `krsi status` (a set of
// another layout than this test binary's, which ReadStatus refuses).
func statusBy(t *testing.T, bin, pinDir string) *enforcement.Status {
	t.Helper()
	out, err := exec.Command(bin, "status", "--pin-dir", pinDir, "--format", "json", "--cgroup-walk-limit", "0").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s status: %v: %s", bin, err, ee.Stderr)
		}
		t.Fatalf("%s status: %v", bin, err)
	}
	var st enforcement.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("%s status: %v", bin, err)
	}
	return &st
}

// waitLogged waits until the daemon's log holds text n times.
func waitLogged(t *testing.T, d *daemon, text string, n int, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); strings.Count(d.log(), text) < n; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) || d.exited(0) {
			t.Fatalf("krsi did not log %q (%d times) within %s", text, n, within)
		}
	}
}

// attacked is a container bound to a profile and a probe in it that
// repeats what the profile forbids until the test ends.
type attacked struct {
	c      *simContainer
	op     []string
	hammer *kerneltest.Process
}

// upgradeNode is a node running krsi under test: the runtime, the daemon
// and the attacked containers.
type upgradeNode struct {
	t        *testing.T
	rt       *simRuntime
	d        *daemon
	pinDir   string
	stop     string // the file that ends the attacks
	attacked []*attacked
}

// hammersAlive fails the test if an attack has ended: it ends only when one
// of its attempts was not denied (or at the end of the test).
func (n *upgradeNode) hammersAlive(when string) {
	n.t.Helper()
	for _, a := range n.attacked {
		if a.hammer.Exited() {
			n.t.Fatalf("%s: the attack %v in container %s ended: %s", when, a.op, a.c.ctr.Id, a.hammer.Wait(n.t))
		}
	}
}

// crashAt starts bin with the upgrade's test hook set to crash at step, and
// waits for the crash.
func (n *upgradeNode) crashAt(bin, step string) {
	n.t.Helper()
	n.d.kill()
	n.d.bin, n.d.env = bin, []string{"KRSI_TEST_UPGRADE_CRASH_AT=" + step}
	n.d.start()
	if !n.d.exited(loadWait()) {
		n.t.Fatalf("krsi did not crash at step %s", step)
	}
	n.d.env = nil
	n.hammersAlive("after a crash at step " + step)
}

// startOver starts bin as the node's daemon with the runtime stopped, and
// waits until it has opened its set (the nth start of the test): what the
// test then reads is what the switch carried over, not what the plugin
// bound again from the runtime's containers. resync brings the runtime back.
func (n *upgradeNode) startOver(bin string, nth int) {
	n.t.Helper()
	n.d.kill()
	n.rt.Stop()
	n.d.bin = bin
	n.d.start()
	waitLogged(n.t, n.d, "krsi plugin starting", nth, loadWait())
}

func (n *upgradeNode) resync() {
	n.t.Helper()
	n.rt.DrainSynced()
	n.rt.Restart()
	if !n.rt.WaitSynced(60 * time.Second) {
		n.t.Fatal("krsi did not synchronize with the runtime")
	}
}

// bindingsOf is a status's bindings as cgroup id → profile and mode.
func bindingsOf(st *enforcement.Status) map[uint64]string {
	m := map[uint64]string{}
	for _, b := range st.Bindings {
		m[b.CgroupID] = fmt.Sprintf("%s/%s", b.ProfileName, b.Mode)
	}
	return m
}

func programIDs(st *enforcement.Status) []uint32 {
	var ids []uint32
	for _, p := range st.Programs {
		if p.ProgramID != 0 {
			ids = append(ids, p.ProgramID)
		}
	}
	return ids
}

// checkReplaced checks the set after a replacement: made by want, every
// program attached and none of before's, before's bindings, profiles and
// counters intact, and nothing left of the switch.
func (n *upgradeNode) checkReplaced(before, after *enforcement.Status, want enforcement.SetRecord) {
	t := n.t
	t.Helper()
	if after.Set == nil || *after.Set != want {
		t.Errorf("pinned set records %v, want %v", after.Set, want)
	}
	if !after.Enforcing() {
		t.Errorf("not every program is attached after the replacement: %+v", after.Programs)
	}
	for _, p := range after.Programs {
		if p.Unknown {
			t.Errorf("a link of another krsi is still pinned: %s", p.Name)
		}
		if slices.Contains(programIDs(before), p.ProgramID) {
			t.Errorf("%s still runs the replaced set's program %d", p.Name, p.ProgramID)
		}
	}
	got := bindingsOf(after)
	for id, b := range bindingsOf(before) {
		if got[id] != b {
			t.Errorf("cgroup %d was bound to %s; after the replacement: %q", id, b, got[id])
		}
	}
	profilesOf := func(st *enforcement.Status) []string {
		var ps []string
		for _, p := range st.Profiles {
			ps = append(ps, fmt.Sprintf("%d %s %d rules %d entries", p.ID, p.Name, p.Rules, p.Entries))
		}
		slices.Sort(ps)
		return ps
	}
	if b, a := profilesOf(before), profilesOf(after); !slices.Equal(b, a) {
		t.Errorf("profiles before the replacement %v, after %v", b, a)
	}
	// The counters go on counting through the switch (the attacks' events
	// fill the ring buffer while no daemon reads it): none may go back.
	if after.DroppedEvents < before.DroppedEvents || after.FailedBindings < before.FailedBindings ||
		after.FallbackBound < before.FallbackBound || after.NestedRefused < before.NestedRefused {
		t.Errorf("counters went back: before %d/%d/%d/%d, after %d/%d/%d/%d (dropped/failed/fallback/refused)",
			before.DroppedEvents, before.FailedBindings, before.FallbackBound, before.NestedRefused,
			after.DroppedEvents, after.FailedBindings, after.FallbackBound, after.NestedRefused)
	}
	t.Logf("events dropped while no daemon read them: %d before the switch, %d after", before.DroppedEvents, after.DroppedEvents)
	for _, d := range []string{n.pinDir + "-next", n.pinDir + "-old"} {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is left after the replacement (%v)", d, err)
		}
	}
	// The replaced programs are gone from the kernel once their pins are:
	// nothing else holds them (freed after an RCU grace period; for the
	// sleepable ones an RCU tasks trace period, which on arm64's emulation
	// took over 10 s with other VMs on the host).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		var alive []uint32
		for _, id := range programIDs(before) {
			if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id)); err == nil {
				p.Close()
				alive = append(alive, id)
			}
		}
		if len(alive) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("programs %v of the replaced set are still loaded", alive)
			break
		}
	}
}

// The test takes about seven minutes under TCG (421 s on 6.1): each of its
// seven starts of krsi that load a set verifies every program (10-20 s each
// alone, some 40 s with the attacks running), and a switch is only shown
// gapless by attacking through all of it, at each step where it can crash.
func TestUpgradeReplacesThePinnedSetWithoutAGap(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	binA, binB, binC := kerneltest.Env(t, "KRSI_BIN"), kerneltest.Env(t, "KRSI_BIN_NEXT"), kerneltest.Env(t, "KRSI_BIN_NEXT_ABI")
	recA, recB, recC := recordOf(t, binA, 3), recordOf(t, binB, 3), recordOf(t, binC, 4)
	// krsi-next-abi has krsi-next's object and another layout.
	if recA.Object == recB.Object || recA.Object == recC.Object || recB == recC {
		t.Fatalf("the builds must differ: %s, %s, %s", recA, recB, recC)
	}

	work := t.TempDir()
	target := writeFileUnder(t, work, "data/target")
	if err := os.MkdirAll(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	denied := copyFile(t, probe, filepath.Join(work, "bin", "denied"))
	profDir := writeProfiles(t, map[string]string{
		"noexec": execDenyProfile("noexec", denied),
		"ro":     "apiVersion: krsi.dev/v1\nkind: Profile\nname: ro\nfiles:\n  rules:\n    - path: " + target + "\n      deny: [write]\n",
	})
	attacks := []struct {
		id  string
		ann map[string]string
		op  []string
	}{
		{"wx", wxPod, []string{"mmap-rwx"}},
		{"noexec", map[string]string{"profile.krsi.dev/pod": "localhost/noexec"}, []string{"exec", denied, "mmap-anon-rx"}},
		{"ro", map[string]string{"profile.krsi.dev/pod": "localhost/ro"}, []string{"open", target, "w"}},
	}
	// Control: without krsi every attack succeeds.
	for _, a := range attacks {
		if r := kerneltest.Run(t, "", append([]string{probe}, a.op...)...); !r.OK() {
			t.Fatalf("control: %v without krsi: %s", a.op, r)
		}
	}

	n := &upgradeNode{t: t, rt: newSimRuntime(t, "/krsi-test-upgrade"), pinDir: "/sys/fs/bpf/krsi-test-upgrade",
		stop: filepath.Join(work, "stop")}
	n.d = startDaemon(t, n.rt, n.pinDir, profDir)
	for _, a := range attacks {
		c := n.rt.newContainer(a.id, a.ann)
		if err := n.rt.create(c, true, true); err != nil {
			t.Fatalf("create %s: %v", a.id, err)
		}
		if r := kerneltest.Run(t, c.dir, append([]string{probe}, a.op...)...); !r.Denied() {
			t.Fatalf("%v in container %s before any upgrade: %s", a.op, a.id, r)
		}
		n.attacked = append(n.attacked, &attacked{c: c, op: a.op})
	}
	// Staged by the first krsi, created while the second replaces its set.
	late := n.rt.newContainer("late", wxPod)
	if err := n.rt.create(late, false, false); err != nil {
		t.Fatal(err)
	}
	before := pinnedState(t, n.pinDir)
	if before.Set == nil || *before.Set != recA {
		t.Fatalf("the first krsi's set records %v, want %v", before.Set, recA)
	}
	for _, a := range n.attacked {
		a.hammer = kerneltest.Start(t, a.c.dir, append([]string{probe, "until", n.stop}, a.op...)...)
	}

	// 1. Another BPF object: the second krsi replaces the set while cgroups
	// come and go in a bound container and a staged one is created. At most
	// 64 live at once: the container's quota of nested bindings is 256.
	var made []string
	removed := 0
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(300 * time.Millisecond):
			}
			if i == 3 {
				if err := os.MkdirAll(late.dir, 0o755); err != nil {
					t.Errorf("create the staged container's cgroup: %v", err)
				}
			}
			dir := filepath.Join(n.attacked[0].c.dir, fmt.Sprintf("during-%d", i))
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Errorf("mkdir %s: %v", dir, err)
				return
			}
			made = append(made, dir)
			if len(made) > 64 {
				kerneltest.RemoveCgroup(made[0])
				made = made[1:]
				removed++
			}
		}
	}()
	n.startOver(binB, 2)
	close(done)
	wg.Wait()
	n.hammersAlive("after the replacement by another object")
	after := pinnedState(t, n.pinDir)
	n.checkReplaced(before, after, recB)
	if !strings.Contains(n.d.log(), "replaced the set pinned by "+recA.String()) {
		t.Errorf("krsi did not log the replacement:\n%s", n.d.log())
	}
	bound := bindingsOf(after)
	for _, dir := range append(made, late.dir) {
		if id := kerneltest.ID(t, dir); !strings.HasPrefix(bound[id], "builtin/wx/") {
			t.Errorf("%s, made during the switch, is bound to %q, want builtin/wx", dir, bound[id])
		}
	}
	if r := kerneltest.Run(t, made[len(made)-1], probe, "mmap-rwx"); !r.Denied() {
		t.Errorf("mmap-rwx in a cgroup made during the switch: %s", r)
	}
	// Both sets' cgroup_mkdir ran for the cgroups made while both were
	// attached: counted once, or the quota would have refused some.
	if after.NestedRefused != 0 {
		t.Errorf("%d nested cgroups were refused during the switch", after.NestedRefused)
	}
	t.Logf("switch to %s: %d cgroups made meanwhile (%d removed again), all bound", recB, len(made)+removed, removed)
	n.resync()
	for _, dir := range made {
		kerneltest.RemoveCgroup(dir)
	}

	// 2. Back to the first object, crashing after each step of the switch;
	// the start after a crash repairs and replaces again.
	before = pinnedState(t, n.pinDir)
	for _, step := range []string{"loaded", "attached", "recorded", "swapped"} {
		n.crashAt(binA, step)
		next, old := exists(n.pinDir+"-next"), exists(n.pinDir+"-old")
		switch {
		case step == "swapped" && (next || !old):
			t.Errorf("crash after %s: want the replaced set in %s-old and no -next (next %v, old %v)", step, n.pinDir, next, old)
		case step != "swapped" && (!next || old):
			t.Errorf("crash after %s: want the new set in %s-next and no -old (next %v, old %v)", step, n.pinDir, next, old)
		}
	}
	n.startOver(binA, 3)
	n.hammersAlive("after the crashes")
	n.checkReplaced(before, pinnedState(t, n.pinDir), recA)
	n.resync()

	// 3. Another map layout (a migration from ABI 3 to 4), crashing between
	// the two renames of the commit: no set at the pin directory itself.
	before = pinnedState(t, n.pinDir)
	n.crashAt(binC, "retired")
	if exists(n.pinDir) || !exists(n.pinDir+"-next") || !exists(n.pinDir+"-old") {
		t.Errorf("crash after retired: want only %s-next and -old", n.pinDir)
	}
	n.startOver(binC, 4)
	n.hammersAlive("after the migration")
	migrated := statusBy(t, binC, n.pinDir)
	n.checkReplaced(before, migrated, recC)
	n.resync()

	// 4. A downgrade past the layout change is refused, and the set stays.
	n.d.kill()
	n.d.bin = binA
	n.d.start()
	if !n.d.exited(loadWait()) {
		t.Fatal("a krsi of ABI 3 started over a set of ABI 4 did not stop")
	}
	for _, want := range []string{"newer krsi", "map layout ABI 4", "map layout ABI 3", "krsi unload --pin-dir " + n.pinDir, "leaves that set enforcing"} {
		if !strings.Contains(n.d.log(), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, n.d.log())
		}
	}
	kept := statusBy(t, binC, n.pinDir)
	if kept.Set == nil || *kept.Set != recC || !slices.Equal(programIDs(kept), programIDs(migrated)) {
		t.Errorf("the refused downgrade changed the set: %v, programs %v (were %v)", kept.Set, programIDs(kept), programIDs(migrated))
	}

	// Every attempt of every attack, through all of it, was denied.
	n.hammersAlive("at the end")
	if err := os.WriteFile(n.stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, a := range n.attacked {
		r := a.hammer.Wait(t)
		if !r.Denied() || !strings.Contains(r.Stdout, "all denied") {
			t.Errorf("%v in container %s: %s", a.op, a.c.ctr.Id, r)
		} else {
			t.Logf("%s: %s", a.c.ctr.Id, strings.TrimSpace(r.Stdout))
		}
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
