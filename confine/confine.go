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
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforced"
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
	OnEvent func(enforced.Event)
	// OnDone, if set, is told after the command's events are drained how
	// many events the kernel dropped because the ring buffer was full.
	OnDone func(dropped uint64)
	// Stdin, Stdout, Stderr of the command; nil means the caller's.
	Stdin          *os.File
	Stdout, Stderr *os.File
	// AllPrograms attaches every program, as the node's daemon does, not
	// only those the profile needs (benchmarks measure a node's cost).
	AllPrograms bool
	// NestedPerContainer overrides the number of cgroups the command may
	// create in its own that the kernel binds (enforcement.Capacity; 0: the
	// default). The benchmarks fill krsi_bindings this way.
	NestedPerContainer int
}

// parentDir is where transient cgroups are made, under the cgroup2 mount.
const parentDir = "krsi"

// Run runs the command confined and returns its exit status (128+signal when
// killed by a signal). The error is krsi's own failure, never the command's.
// It loads a private set of programs that detaches when it returns: only
// those the profile's rules need (builtin/wx loads 13 of 30 on 6.1) unless
// o.AllPrograms.
func Run(ctx context.Context, o Options) (int, error) {
	if o.Profile == nil {
		return 0, errors.New("no profile to run under")
	}
	var opts enforcement.Options
	if !o.AllPrograms {
		opts.For = []*profiles.Compiled{o.Profile}
	}
	opts.Capacity.NestedPerContainer = o.NestedPerContainer
	s, err := Open(opts)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	status, err := s.Run(ctx, o)
	if err == nil && o.OnDone != nil {
		n, _ := s.e.DroppedEvents()
		o.OnDone(n)
	}
	return status, err
}

// Set is a loaded set of programs that runs commands, several at once, each
// in its own transient cgroup under its own profile. Loading and verifying
// the programs is the expensive part of a run (seconds under emulation), so
// a caller with many commands to confine (the kernel tests) loads once. The
// set is private: it has its own maps and ring buffer, and detaches on Close.
type Set struct {
	e      *enforcement.Enforcer
	events *enforcement.EventReader
	done   chan struct{} // closed when the reader goroutine ends

	mu    sync.Mutex
	subs  map[enforced.ProfileID]func(enforced.Event)
	names map[string]int // profile names of the runs in progress
	runs  int            // runs so far, for unique profile names

	// flushMu makes one drain at a time; flushed carries the reader's
	// acknowledgement of it.
	flushMu sync.Mutex
	flushed chan struct{}
}

// Open loads and attaches a set of programs for Run.
func Open(opts enforcement.Options) (*Set, error) {
	if opts.PinDir != "" {
		return nil, errors.New("a confine set is private: no pin directory")
	}
	e, err := enforcement.Open(opts)
	if err != nil {
		return nil, err
	}
	events, err := e.Events()
	if err != nil {
		e.Close()
		return nil, err
	}
	s := &Set{e: e, events: events, done: make(chan struct{}), flushed: make(chan struct{}),
		subs: map[enforced.ProfileID]func(enforced.Event){}, names: map[string]int{}}
	go s.read()
	return s, nil
}

// Close detaches the programs and frees the maps.
func (s *Set) Close() error {
	s.events.Close()
	<-s.done
	return s.e.Close()
}

// read delivers each event to the run whose profile decided it. Runs are
// told apart by profile, not cgroup, because a command's nested cgroups are
// bound to its profile too.
func (s *Set) read() {
	defer close(s.done)
	for {
		ev, err := s.events.Read()
		switch {
		case errors.Is(err, enforcement.ErrFlushed):
			s.flushed <- struct{}{}
			continue
		case err != nil:
			return // closed
		}
		s.mu.Lock()
		on := s.subs[ev.ProfileID]
		s.mu.Unlock()
		if on != nil {
			on(ev)
		}
	}
}

// drain returns once every event queued before it was called is delivered.
func (s *Set) drain() {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.events.Flush() != nil {
		return
	}
	select {
	case <-s.flushed:
	case <-s.done:
	}
}

// Run runs one command confined in this set, as the package's Run does; it
// may be called from several goroutines at once. o.AllPrograms is the set's
// business (Open) and ignored here; o.OnDone is not called.
func (s *Set) Run(ctx context.Context, o Options) (int, error) {
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

	// Each run has a profile of its own in the maps, under a name of its own
	// when another run uses the name: profiles are replaced by name, and two
	// runs of different files both named "test" must not rewrite each other.
	p := *o.Profile
	s.mu.Lock()
	s.runs++
	if s.names[p.Name] > 0 {
		p.Name = fmt.Sprintf("%s#%d", p.Name, s.runs)
	}
	s.names[p.Name]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.names[p.Name]--; s.names[p.Name] == 0 {
			delete(s.names, p.Name)
		}
		s.mu.Unlock()
	}()
	id, err := s.e.SetProfile(&p)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.subs[id] = o.OnEvent
	s.mu.Unlock()
	defer func() {
		// Events of the command's last moments are queued already: drain them.
		s.drain()
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
		_ = s.e.RemoveProfile(id)
	}()

	cg, err := newCgroup(s.e, id, mode)
	if err != nil {
		return 0, err
	}
	defer cg.remove(s.e)

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

// transient is the command's cgroup.
type transient struct {
	dir  string // directory under the cgroup2 mount
	path string // hierarchy path, as staged
	id   uint64
	fd   int
}

func newCgroup(e *enforcement.Enforcer, id enforced.ProfileID, mode profiles.Mode) (*transient, error) {
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
// removes it with the cgroups the command made inside it, and drops its
// binding and staging.
func (t *transient) remove(e *enforcement.Enforcer) {
	if t.fd >= 0 {
		unix.Close(t.fd)
	}
	_ = os.WriteFile(filepath.Join(t.dir, "cgroup.kill"), []byte("1"), 0)
	// Deepest first: a cgroup with children cannot be removed.
	var dirs []string
	_ = filepath.WalkDir(t.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		rmdir(dirs[i])
	}
	_ = e.Unstage(t.path)
	_ = e.Unbind(t.id)
}

// rmdir removes an empty cgroup, waiting up to 2 s for killed processes to
// leave it.
func rmdir(dir string) {
	for i := 0; i < 100; i++ {
		if err := unix.Rmdir(dir); err == nil || !errors.Is(err, unix.EBUSY) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
