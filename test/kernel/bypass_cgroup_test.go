package kernel_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// Leaving the bound cgroup (docs/threat-model.md): every route a confined
// process has to put itself, a child or a thread in a cgroup that is not its
// container's, tried under `krsi run` (which, like a container with the
// host's cgroup namespace, can write the whole cgroup tree) and without krsi
// (the same move works, so the denial is krsi's).

// escapeTo makes a cgroup outside any container for one attempt.
func escapeTo(t *testing.T, name string) string {
	t.Helper()
	dir, _ := kerneltest.Cgroup(t, fmt.Sprintf("%s-%d", name, os.Getpid()))
	return dir
}

// sendCgroupProcs serves one connection on a new socket: a descriptor of
// dir/cgroup.procs opened for writing outside, passed with SCM_RIGHTS.
func sendCgroupProcs(t *testing.T, dir string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "cgroup.procs"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); f.Close() })
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		c.WriteMsgUnix([]byte("fd"), unix.UnixRights(int(f.Fd())), nil)
	}()
	return sock
}

func TestBypassCgroup(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	// An exec-only profile: the check holds whatever rules a profile has.
	execOnly := writeProfile(t, "memory:\n  wx: allow\nexec:\n  deny: [/nonexistent]\n")

	tests := []struct {
		name    string
		profile string
		// args: the probe's arguments to move into dst; control: the same
		// move without krsi (nil: args).
		args    func(t *testing.T, dst string) []string
		control func(t *testing.T, dst string) ([]string, string)
		event   []string
	}{
		{"process moves itself (cgroup.procs)", "builtin/wx",
			func(_ *testing.T, d string) []string { return []string{"cgroup-move", d} }, nil,
			[]string{"hook=file_open", "/cgroup.procs"}},
		{"process moves itself, exec-only profile", execOnly,
			func(_ *testing.T, d string) []string { return []string{"cgroup-move", d} }, nil,
			[]string{"hook=file_open"}},
		{"process moves a child (cgroup.procs)", "builtin/wx",
			func(_ *testing.T, d string) []string { return []string{"cgroup-move-child", d} }, nil,
			[]string{"hook=file_open"}},
		{"process moves a thread (cgroup.threads)", "builtin/wx",
			func(_ *testing.T, d string) []string { return []string{"cgroup-move-thread", d} },
			// A thread may only move within its threaded domain: the control
			// runs in a domain with a threaded child.
			func(t *testing.T, _ string) ([]string, string) {
				dom := escapeTo(t, "thread-domain")
				thr := filepath.Join(dom, "t")
				if err := os.Mkdir(thr, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(thr, "cgroup.type"), []byte("threaded"), 0); err != nil {
					t.Fatal(err)
				}
				return []string{"cgroup-move-thread", thr}, dom
			},
			[]string{"hook=file_open", "/cgroup.threads"}},
		{"clone3 CLONE_INTO_CGROUP", "builtin/wx",
			func(_ *testing.T, d string) []string { return []string{"cgroup-clone-into", d} }, nil,
			[]string{"hook=task_alloc"}},
		{"clone3 CLONE_INTO_CGROUP, exec-only profile", execOnly,
			func(_ *testing.T, d string) []string { return []string{"cgroup-clone-into", d} }, nil,
			[]string{"hook=task_alloc"}},
		{"io_uring openat of cgroup.procs", "builtin/wx",
			func(_ *testing.T, d string) []string { return []string{"cgroup-uring-move", d} }, nil,
			[]string{"hook=file_open", "/cgroup.procs"}},
		{"cgroup.procs descriptor passed in", "builtin/wx",
			func(t *testing.T, d string) []string { return []string{"recv-fd-move", sendCgroupProcs(t, d)} }, nil,
			[]string{"hook=file_receive"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check(t, confinedRun(t, tt.profile, tt.args(t, escapeTo(t, fmt.Sprintf("escape%d", i)))...), denied,
				append([]string{"action=denied", "reason=cgroup-escape"}, tt.event...)...)

			dst := escapeTo(t, fmt.Sprintf("control%d", i))
			args, in := tt.args(t, dst), ""
			if tt.control != nil {
				args, in = tt.control(t, dst)
			}
			check(t, kerneltest.Run(t, in, append([]string{probe}, args...)...), allowed)
		})
	}
}

// What must keep working: a container that makes cgroups inside its own and
// moves its processes and threads there (systemd in a container).
func TestBypassCgroupMovesWithinTheContainer(t *testing.T) {
	kerneltest.Require(t)
	for _, args := range [][]string{{"cgroup-nest", "2"}, {"cgroup-nest", "2", "threaded"}} {
		t.Run(args[len(args)-1], func(t *testing.T) {
			t.Parallel()
			check(t, confinedRun(t, "builtin/wx", args...), allowed)
		})
	}
}

// A container that makes more nested cgroups than its quota (256) gets the
// rest unbound, and cannot move into them: fail closed. Without krsi the same
// move works.
func TestBypassCgroupNestedQuota(t *testing.T) {
	kerneltest.Require(t)
	t.Parallel()
	check(t, confinedRun(t, "builtin/wx", "cgroup-nest", "300"), denied,
		"hook=cgroup_mkdir", "reason=cgroup-quota", "hook=file_open", "reason=cgroup-escape")
	ctl, _ := kerneltest.Cgroup(t, fmt.Sprintf("nest-control-%d", os.Getpid()))
	check(t, kerneltest.Run(t, ctl, kerneltest.Env(t, "KRSI_PROBE"), "cgroup-nest", "300"), allowed)
}

// One map set, two containers: a process of one may not move into the
// other's cgroup; nested cgroups past all containers' share of krsi_bindings
// stay unbound and closed, while a new container still gets its binding; a
// removed nested cgroup gives its room back.
func TestBypassCgroupOtherContainerAndRoomForBindings(t *testing.T) {
	kerneltest.Require(t)
	t.Parallel()
	// 64 bindings: at most 32 inherited ones, whatever the quota.
	e, id := openWithWX(t, enforcement.Options{Capacity: enforcement.Capacity{Bindings: 64}})
	a, _ := kerneltest.Cgroup(t, fmt.Sprintf("room-a-%d", os.Getpid()))
	b, _ := kerneltest.Cgroup(t, fmt.Sprintf("room-b-%d", os.Getpid()))
	for _, d := range []string{a, b} {
		if err := e.Bind(kerneltest.ID(t, d), id, profiles.ModeEnforce); err != nil {
			t.Fatal(err)
		}
	}
	var nested []string
	mkNested := func(n int) {
		for i := 0; i < n; i++ {
			d := filepath.Join(a, fmt.Sprintf("n%d", len(nested)))
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			nested = append(nested, d)
		}
	}
	bound := func(d string) bool {
		t.Helper()
		_, ok, err := e.Lookup(kerneltest.ID(t, d))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	mkNested(40)
	if !bound(nested[31]) || bound(nested[32]) || bound(nested[39]) {
		t.Fatalf("want the first 32 nested cgroups bound and the rest not: n31 %v, n32 %v, n39 %v",
			bound(nested[31]), bound(nested[32]), bound(nested[39]))
	}
	if n, err := e.NestedRefused(); err != nil || n != 8 {
		t.Fatalf("nested refused: %d, %v; want 8", n, err)
	}

	// A container created now is still bound as it is made.
	cdir, cpath := kerneltest.CgroupPath(t, fmt.Sprintf("room-c-%d", os.Getpid()))
	if err := e.Stage(cpath, id, profiles.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(cdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if bc, ok, err := e.Lookup(kerneltest.ID(t, cdir)); err != nil || !ok || !bc.Staged {
		t.Fatalf("a staged container with nested cgroups at their limit: %+v, %v, %v", bc, ok, err)
	}

	probe := kerneltest.Env(t, "KRSI_PROBE")
	check(t, kerneltest.Run(t, a, probe, "cgroup-move", nested[0]), allowed)
	check(t, kerneltest.Run(t, a, probe, "cgroup-move", nested[39]), denied)
	check(t, kerneltest.Run(t, a, probe, "cgroup-move", b), denied)
	check(t, kerneltest.Run(t, a, probe, "cgroup-clone-into", nested[0]), denied)
	check(t, kerneltest.Run(t, "", probe, "cgroup-move", nested[39]), allowed) // not krsi's doing without it

	// Removed nested cgroups give their room back.
	for _, d := range nested[:4] {
		if err := unix.Rmdir(d); err != nil {
			t.Fatal(err)
		}
	}
	nested = nested[:0]
	mkNested(4)
	for _, d := range nested {
		if !bound(d) {
			t.Fatalf("%s: not bound after four nested cgroups were removed", d)
		}
	}
}
