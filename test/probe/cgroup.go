package main

// Leaving the bound cgroup (test/kernel/bypass_cgroup_test.go): each
// subcommand tries to put this process, a child or a thread of it in the
// cgroup DIR, or to make more cgroups than krsi binds, and reports whether
// the kernel let it.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/cgroup"
)

func cgroupCommands() map[string]command {
	one := func(f func(string) error) func([]string) (string, error) {
		return func(a []string) (string, error) { return "", f(a[0]) }
	}
	return map[string]command{
		"cgroup-move":        {"DIR", 1, 1, one(func(d string) error { return moveInto(d, "cgroup.procs", os.Getpid()) })},
		"cgroup-move-child":  {"DIR", 1, 1, one(moveChild)},
		"cgroup-move-thread": {"DIR", 1, 1, one(moveThread)},
		"cgroup-clone-into":  {"DIR", 1, 1, one(cloneInto)},
		"cgroup-nest":        {"N [threaded]", 1, 2, nest},
		"recv-fd-move":       {"SOCKET", 1, 1, one(recvFdMove)},
		"cgroup-uring-move":  {"DIR", 1, 1, one(uringOpenMove)},
	}
}

// moveInto writes id to dir/file (cgroup.procs: a process, cgroup.threads: a thread).
func moveInto(dir, file string, id int) error {
	f := filepath.Join(dir, file)
	fd, err := unix.Open(f, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s for writing", f)
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(strconv.Itoa(id)))
	return opErr(err, "write %d to %s", id, f)
}

// moveChild starts a child and moves it, not itself, into dir.
func moveChild(dir string) error {
	cmd := exec.Command("/bin/sleep", "30")
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	return moveInto(dir, "cgroup.procs", cmd.Process.Pid)
}

// moveThread moves one thread of this process into dir through cgroup.threads.
func moveThread(dir string) error {
	errc := make(chan error)
	go func() {
		// The thread moved never runs other goroutines: it exits with this one.
		runtime.LockOSThread()
		errc <- moveInto(dir, "cgroup.threads", unix.Gettid())
	}()
	return <-errc
}

// cloneInto starts /bin/true with clone3(CLONE_INTO_CGROUP) into dir.
func cloneInto(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s", dir)
	}
	defer unix.Close(fd)
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Run(); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return opErr(errno, "clone3(CLONE_INTO_CGROUP) into %s", dir)
		}
		return err
	}
	return nil
}

// ownCgroup is the directory of this process's cgroup.
func ownCgroup() (string, error) {
	m, err := cgroup.Find()
	if err != nil {
		return "", err
	}
	p, err := cgroup.ProcessPath(os.Getpid())
	if err != nil {
		return "", err
	}
	rel, ok := strings.CutPrefix(p, m.Root)
	if !ok {
		return "", fmt.Errorf("cgroup %s is outside the mount's root %s", p, m.Root)
	}
	return filepath.Join(m.Dir, rel), nil
}

// nest makes n cgroups inside this process's own (c0 ... c<n-1>, one level,
// as systemd in a container would) and moves itself into the last one; with
// "threaded", the last one is a threaded cgroup and one thread moves into it
// through cgroup.threads. It moves back and removes them before it reports.
func nest(a []string) (string, error) {
	n, err := strconv.Atoi(a[0])
	if err != nil || n < 1 {
		return "", &usageError{"cgroup-nest N: N is a count"}
	}
	threaded := len(a) == 2 && a[1] == "threaded"
	own, err := ownCgroup()
	if err != nil {
		return "", err
	}
	var made []string
	defer func() {
		_ = moveInto(own, "cgroup.procs", os.Getpid())
		for i := len(made) - 1; i >= 0; i-- {
			_ = unix.Rmdir(made[i])
		}
	}()
	for i := 0; i < n; i++ {
		d := filepath.Join(own, fmt.Sprintf("c%d", i))
		if err := unix.Mkdir(d, 0o755); err != nil {
			return "", fmt.Errorf("mkdir %s (setup): %w", d, err)
		}
		made = append(made, d)
	}
	last := made[n-1]
	if threaded {
		if err := os.WriteFile(filepath.Join(last, "cgroup.type"), []byte("threaded"), 0); err != nil {
			return "", fmt.Errorf("make %s threaded (setup): %w", last, err)
		}
		return "", moveThread(last)
	}
	return "", moveInto(last, "cgroup.procs", os.Getpid())
}

// recvFdMove receives a descriptor (SCM_RIGHTS) and writes this process's pid
// through it: a cgroup.procs file opened for writing by someone outside.
func recvFdMove(socket string) error {
	return recvFdWrite(socket, []byte(strconv.Itoa(os.Getpid())))
}

// uringOpenMove opens dir/cgroup.procs for writing with io_uring's
// IORING_OP_OPENAT (no open(2) of the caller's own), then writes this
// process's pid through the descriptor it gives.
func uringOpenMove(dir string) error {
	const (
		sysSetup       = 425
		sysEnter       = 426
		opOpenat       = 18
		offSQRing      = 0
		offCQRing      = 0x8000000
		offSQEs        = 0x10000000
		enterGetEvents = 1
		featSingleMmap = 1
	)
	// struct io_uring_params: 10 u32, then the SQ and CQ ring offsets (40 bytes each).
	var p [30]uint32
	fd, _, errno := unix.Syscall(sysSetup, 4, uintptr(unsafe.Pointer(&p[0])), 0)
	if errno != 0 {
		return fmt.Errorf("io_uring_setup (setup): %w", errno)
	}
	defer unix.Close(int(fd))
	sqEntries, cqEntries, features := p[0], p[1], p[5]
	sq := p[10:20] // head, tail, ring_mask, ring_entries, flags, dropped, array, resv1, user_addr
	cq := p[20:30] // head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1, user_addr
	sqSize := int(sq[6] + sqEntries*4)
	cqSize := int(cq[5] + cqEntries*16)
	if features&featSingleMmap != 0 && cqSize > sqSize {
		sqSize = cqSize
	}
	sqRing, err := unix.Mmap(int(fd), offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap SQ ring (setup): %w", err)
	}
	defer unix.Munmap(sqRing)
	cqRing := sqRing
	if features&featSingleMmap == 0 {
		if cqRing, err = unix.Mmap(int(fd), offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
			return fmt.Errorf("mmap CQ ring (setup): %w", err)
		}
		defer unix.Munmap(cqRing)
	}
	sqes, err := unix.Mmap(int(fd), offSQEs, int(sqEntries)*64, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap SQEs (setup): %w", err)
	}
	defer unix.Munmap(sqes)

	path, err := unix.BytePtrFromString(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return err
	}
	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	tail := atomic.LoadUint32(u32(sqRing, sq[1]))
	idx := tail & atomic.LoadUint32(u32(sqRing, sq[2]))
	sqe := sqes[idx*64 : idx*64+64]
	clear(sqe)
	sqe[0] = opOpenat
	*(*int32)(unsafe.Pointer(&sqe[4])) = unix.AT_FDCWD
	*(*uint64)(unsafe.Pointer(&sqe[16])) = uint64(uintptr(unsafe.Pointer(path)))
	*(*uint32)(unsafe.Pointer(&sqe[28])) = unix.O_WRONLY | unix.O_CLOEXEC
	*u32(sqRing, sq[6]+idx*4) = idx
	atomic.StoreUint32(u32(sqRing, sq[1]), tail+1)
	_, _, errno = unix.Syscall6(sysEnter, fd, 1, 1, enterGetEvents, 0, 0)
	runtime.KeepAlive(path)
	if errno != 0 {
		return fmt.Errorf("io_uring_enter: %w", errno)
	}
	head := atomic.LoadUint32(u32(cqRing, cq[0]))
	if head == atomic.LoadUint32(u32(cqRing, cq[1])) {
		return errors.New("io_uring: no completion")
	}
	cqe := cq[5] + (head&atomic.LoadUint32(u32(cqRing, cq[2])))*16
	res := *(*int32)(unsafe.Pointer(&cqRing[cqe+8]))
	atomic.StoreUint32(u32(cqRing, cq[0]), head+1)
	if res < 0 {
		return opErr(syscall.Errno(-res), "io_uring openat %s/cgroup.procs for writing", dir)
	}
	defer unix.Close(int(res))
	_, err = unix.Write(int(res), []byte(strconv.Itoa(os.Getpid())))
	return opErr(err, "write the pid through the io_uring descriptor")
}
