// Package kerneltest holds what krsi's kernel tests share: the gate that skips
// them where the kernel cannot run BPF LSM (and fails them in the VM suite,
// where a skip would hide a missing feature), and ways to run the probe
// program in a cgroup and read its verdict.
package kerneltest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/cgroup"
)

// InVM reports whether the tests run inside krsi's VM suite (test/vm), where
// every kernel test must run.
func InVM() bool { return os.Getenv("KRSI_VM") == "1" }

// Require skips a test that needs BPF LSM enforcement unless it runs in the
// VM suite or KRSI_HOST_LSM=1 says the host kernel runs BPF LSM programs.
func Require(tb testing.TB) {
	tb.Helper()
	if InVM() || os.Getenv("KRSI_HOST_LSM") == "1" {
		return
	}
	tb.Skip("needs a kernel that runs BPF LSM programs: run `make test-vm`, " +
		"or set KRSI_HOST_LSM=1 on a host with BPF LSM")
}

// Env returns a path the VM image provides through the environment
// (KRSI_BIN, KRSI_PROBE, KRSI_LDSO, KRSI_DYN_TRUE), failing the test if unset.
func Env(tb testing.TB, name string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		tb.Fatalf("%s is not set: the kernel tests run from test/vm/run.sh, which sets it", name)
	}
	return v
}

// Result is what a process did.
type Result struct {
	Exit           int
	Stdout, Stderr string
}

// Denied reports whether the probe said the kernel denied its operation.
func (r Result) Denied() bool {
	return r.Exit == 1 && strings.HasPrefix(r.Stdout, "denied:")
}

// OK reports whether the probe's operation succeeded.
func (r Result) OK() bool { return r.Exit == 0 && strings.TrimSpace(r.Stdout) == "ok" }

func (r Result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.Exit, r.Stdout, r.Stderr)
}

// Run runs argv and returns what it did; cgroupDir, if set, is the cgroup the
// process is cloned into (it never runs outside it).
func Run(tb testing.TB, cgroupDir string, argv ...string) Result {
	tb.Helper()
	return Start(tb, cgroupDir, argv...).Wait(tb)
}

// Process is a process Start started and nobody waited for yet.
type Process struct {
	cmd       *exec.Cmd
	out, errb bytes.Buffer
	done      chan struct{}
	err       error
}

// Start starts argv as Run does and returns without waiting; the process is
// killed when the test ends if it still runs then.
func Start(tb testing.TB, cgroupDir string, argv ...string) *Process {
	tb.Helper()
	p := &Process{cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errb
	if cgroupDir != "" {
		fd, err := unix.Open(cgroupDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			tb.Fatalf("open cgroup %s: %v", cgroupDir, err)
		}
		defer unix.Close(fd) // the child is in the cgroup once Start returns
		p.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("run %v: %v", argv, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		if !p.Exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to end and returns what it did.
func (p *Process) Wait(tb testing.TB) Result {
	tb.Helper()
	<-p.done
	r := Result{Stdout: p.out.String(), Stderr: p.errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(p.err, &exit):
		r.Exit = exit.ExitCode()
	case p.err != nil:
		tb.Fatalf("run %v: %v", p.cmd.Args, p.err)
	}
	return r
}

// Cgroup makes a cgroup v2 directory for one test under the hierarchy's root
// and removes it when the test ends. It returns the directory and the
// hierarchy path the kernel reports for it.
func Cgroup(tb testing.TB, name string) (dir, path string) {
	tb.Helper()
	dir, path = CgroupPath(tb, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatalf("create cgroup: %v", err)
	}
	return dir, path
}

// CgroupPath names a cgroup for the test without creating it (to stage it
// first); the test's cleanup removes it and its children if they exist.
func CgroupPath(tb testing.TB, name string) (dir, path string) {
	tb.Helper()
	m, err := cgroup.Find()
	if err != nil {
		tb.Fatal(err)
	}
	parent := filepath.Join(m.Dir, "krsi-test")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		tb.Fatalf("create cgroup parent: %v", err)
	}
	dir = filepath.Join(parent, name)
	if path, err = m.Path(dir); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { RemoveCgroup(dir) })
	return dir, path
}

// RemoveCgroup removes the cgroup directory dir and every cgroup below it,
// killing what still runs in them; what cannot be removed is left.
func RemoveCgroup(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			RemoveCgroup(filepath.Join(dir, e.Name()))
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	_ = unix.Rmdir(dir)
}

// ID is the cgroup v2 id of dir.
func ID(tb testing.TB, dir string) uint64 {
	tb.Helper()
	id, err := cgroup.ID(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
