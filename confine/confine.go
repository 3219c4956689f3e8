// Package confine runs one command under a profile with no container runtime:
// a transient cgroup v2 is staged, created (the kernel binds it as it is
// made), and the command is cloned straight into it, so its very first exec
// is already checked. This is `krsi run`: how a person tries a profile before
// deploying it, and how the kernel tests drive the kernel side.
package confine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/profiles"
)

// Options for Run.
type Options struct {
	Profile *profiles.Compiled
	// Mode overrides the profile's mode when set.
	Mode    profiles.Mode
	Command []string
	// OnEvent is called for every violation of the command or its children,
	// from one goroutine, in order.
	OnEvent func(enforcement.Event)
	// OnDone, if set, is told after the command's events are drained how
	// many events the kernel dropped because the ring buffer was full.
	OnDone func(dropped uint64)
	// Stdin, Stdout, Stderr of the command; nil means the caller's.
	Stdin          *os.File
	Stdout, Stderr *os.File
	// AllPrograms attaches every program, as the node's daemon does, not
	// only those the profile needs (benchmarks measure a node's cost).
	AllPrograms bool
}

// parentDir is where transient cgroups are made, under the cgroup2 mount.
const parentDir = "krsi"

// Run runs the command confined and returns its exit status (128+signal when
// killed by a signal). The error is krsi's own failure, never the command's.
func Run(ctx context.Context, o Options) (int, error) {
	if len(o.Command) == 0 {
		return 0, errors.New("no command to run")
	}
	mode := o.Mode
	if mode == "" {
		mode = o.Profile.Mode
	}
	path, err := exec.LookPath(o.Command[0])
	if err != nil {
		return 0, fmt.Errorf("command %q: %w", o.Command[0], err)
	}

	// A private set of programs: it detaches when this process ends and has
	// its own ring buffer, so a daemon's events are not read here. Only the
	// programs this profile's rules need: builtin/wx loads 15 of 29.
	var opts enforcement.Options
	if !o.AllPrograms {
		opts.For = []*profiles.Compiled{o.Profile}
	}
	e, err := enforcement.Open(opts)
	if err != nil {
		return 0, err
	}
	defer e.Close()
	id, err := e.SetProfile(o.Profile)
	if err != nil {
		return 0, err
	}

	cg, err := newCgroup(e, id, mode)
	if err != nil {
		return 0, err
	}
	defer cg.remove(e)

	events, err := e.Events()
	if err != nil {
		return 0, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		readEvents(events, o.OnEvent)
	}()
	defer func() {
		// Events of the command's last moments are queued already: drain them.
		_ = events.Flush()
		<-done
		events.Close()
		if o.OnDone != nil {
			n, _ := e.DroppedEvents()
			o.OnDone(n)
		}
	}()

	cmd := exec.CommandContext(ctx, path, o.Command[1:]...)
	cmd.Args[0] = o.Command[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = orStd(o.Stdin, os.Stdin), orStd(o.Stdout, os.Stdout), orStd(o.Stderr, os.Stderr)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.fd}
	return wait(cmd)
}

func orStd(f, std *os.File) *os.File {
	if f != nil {
		return f
	}
	return std
}

// wait runs cmd, forwarding the usual terminating signals to it.
func wait(cmd *exec.Cmd) (int, error) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s in its cgroup: %w", cmd.Path, err)
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("wait for %s: %w", cmd.Path, err)
	}
	return 0, nil
}

func readEvents(r *enforcement.EventReader, on func(enforcement.Event)) {
	for {
		ev, err := r.Read()
		if err != nil {
			return // flushed after the command exited, or closed
		}
		if on != nil {
			on(ev)
		}
	}
}

// transient is the command's cgroup.
type transient struct {
	dir  string // directory under the cgroup2 mount
	path string // hierarchy path, as staged
	id   uint64
	fd   int
}

func newCgroup(e *enforcement.Enforcer, id enforcement.ProfileID, mode profiles.Mode) (*transient, error) {
	m, err := cgroup.Find()
	if err != nil {
		return nil, err
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	parent := filepath.Join(m.Dir, parentDir)
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create cgroup %s: %w", parent, err)
	}
	t := &transient{dir: filepath.Join(parent, fmt.Sprintf("run-%d-%s", os.Getpid(), hex.EncodeToString(rnd[:]))), fd: -1}
	if t.path, err = m.Path(t.dir); err != nil {
		return nil, err
	}
	// Staged before mkdir: the kernel binds the cgroup as it creates it.
	if err := e.Stage(t.path, id, mode); err != nil {
		return nil, err
	}
	if err := os.Mkdir(t.dir, 0o755); err != nil {
		_ = e.Unstage(t.path)
		return nil, fmt.Errorf("create cgroup %s: %w", t.dir, err)
	}
	if t.id, err = cgroup.ID(t.dir); err != nil {
		t.remove(e)
		return nil, err
	}
	b, ok, err := e.Lookup(t.id)
	if err != nil || !ok || !b.Staged || b.Profile != id {
		t.remove(e)
		return nil, fmt.Errorf("the kernel did not bind cgroup %s when it was created "+
			"(binding %+v, found %v, err %v); refusing to run unconfined", t.path, b, ok, err)
	}
	if t.fd, err = unix.Open(t.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		t.remove(e)
		return nil, fmt.Errorf("open cgroup %s: %w", t.dir, err)
	}
	return t, nil
}

// remove kills what is left in the cgroup (daemons the command started),
// removes it, and drops its binding and staging.
func (t *transient) remove(e *enforcement.Enforcer) {
	if t.fd >= 0 {
		unix.Close(t.fd)
	}
	_ = os.WriteFile(filepath.Join(t.dir, "cgroup.kill"), []byte("1"), 0)
	for i := 0; i < 100; i++ {
		if err := unix.Rmdir(t.dir); err == nil || errors.Is(err, unix.ENOENT) {
			break
		} else if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = e.Unstage(t.path)
	_ = e.Unbind(t.id)
}
