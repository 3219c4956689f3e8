package main

// The attacks of krsi's bypass suite (test/kernel/bypass_*_test.go,
// docs/threat-model.md): each subcommand tries one route around a profile and
// reports, by the output contract, whether the kernel let it through.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func bypassCommands() map[string]command {
	one := func(f func(string) error) func([]string) (string, error) {
		return func(a []string) (string, error) { return "", f(a[0]) }
	}
	two := func(f func(string, string) error) func([]string) (string, error) {
		return func(a []string) (string, error) { return "", f(a[0], a[1]) }
	}
	none := func(f func() error) func([]string) (string, error) {
		return func([]string) (string, error) { return "", f() }
	}
	return map[string]command{
		// W^X
		"pkey-mprotect-rw-rx": {"", 0, 0, none(pkeyMprotectRWtoRX)},
		"stack-mprotect-x":    {"", 0, 0, none(stackMprotectX)},
		"memfd-rw-rx":         {"", 0, 0, none(memfdRWandRX)},
		"shared-rw-rx":        {"PATH", 1, 1, one(sharedRWandRX)},
		"write-map-rx":        {"PATH", 1, 1, one(writeThenMapRX)},
		"write-mprotect-rx":   {"PATH", 1, 1, one(writeThenMprotectRX)},
		"memfd-reopen-rx":     {"", 0, 0, none(memfdReopenRX)},
		"memfd-mprotect-rx":   {"", 0, 0, none(memfdMprotectRX)},
		"map-rx-then-write":   {"PATH", 1, 1, one(mapRXThenWrite)},
		"procmem-write":       {"", 0, 0, none(procMemWrite)},
		"process-vm-writev":   {"", 0, 0, none(processVMWritev)},
		"ptrace-attach":       {"", 0, 0, none(ptraceAttach)},
		"ptrace-traceme":      {"PATH", 1, 1, one(ptraceTraceme)},
		"shm-exec":            {"", 0, 0, none(shmExec)},
		"userfaultfd":         {"", 0, 0, none(userfaultfd)},
		// W^X: kernel objects mapped writable and executable
		"io-uring-rw-rx":     {"", 0, 0, none(ioUringRWandRX)},
		"memfd-secret-rw-rx": {"", 0, 0, none(memfdSecretRWandRX)},
		"packet-ring-rw-rx":  {"", 0, 0, none(packetRingRWandRX)},
		"devzero-shared-rx":  {"", 0, 0, none(devZeroSharedRX)},
		// W^X: the loader, other names, races
		"copy":              {"SRC DST", 2, 2, two(copyFile)},
		"map-rx":            {"PATH", 1, 1, one(mapPathRX)},
		"copy-then-exec":    {"SRC DST PROG [ARGS...]", 3, -1, func(a []string) (string, error) { return "", copyThenExec(a[0], a[1], a[2], a[3:]) }},
		"memfd-interp-exec": {"INTERP PROG [ARGS...]", 2, -1, func(a []string) (string, error) { return "", memfdInterpExec(a[0], a[1], a[2:]) }},
		"run-then-open-w":   {"PROG PATH", 2, 2, two(runThenOpenW)},
		"race-map-write":    {"PATH", 1, 1, one(raceMapWrite)},
		"map-rx-recv-fd":    {"PATH SOCKET", 2, 2, two(mapRXThenRecvFd)},
		// exec
		"copy-exec":   {"SRC DST [ARGS...]", 2, -1, func(a []string) (string, error) { return "", copyExec(a[0], a[1], a[2:]) }},
		"chroot":      {"DIR", 1, 1, one(func(d string) error { return opErr(unix.Chroot(d), "chroot %s", d) })},
		"exec-procfd": {"PATH [ARGS...]", 1, -1, func(a []string) (string, error) { return "", execProcFd(a[0], a[1:]) }},
		// files: changes that do not go through open(2)
		"unlink":   {"PATH", 1, 1, one(func(p string) error { return opErr(unix.Unlink(p), "unlink %s", p) })},
		"rmdir":    {"PATH", 1, 1, one(func(p string) error { return opErr(unix.Rmdir(p), "rmdir %s", p) })},
		"mkdir":    {"PATH", 1, 1, one(func(p string) error { return opErr(unix.Mkdir(p, 0o755), "mkdir %s", p) })},
		"mkfifo":   {"PATH", 1, 1, one(func(p string) error { return opErr(unix.Mkfifo(p, 0o644), "mknod %s", p) })},
		"truncate": {"PATH", 1, 1, one(func(p string) error { return opErr(unix.Truncate(p, 0), "truncate %s", p) })},
		"chmod":    {"PATH", 1, 1, one(func(p string) error { return opErr(unix.Chmod(p, 0o600), "chmod %s", p) })},
		"fchmod":   {"PATH", 1, 1, one(fchmodReadOnly)},
		"chown":    {"PATH", 1, 1, one(func(p string) error { return opErr(unix.Chown(p, 1, 1), "chown %s", p) })},
		"utimes":   {"PATH", 1, 1, one(utimes)},
		"setxattr": {"PATH", 1, 1, one(func(p string) error {
			return opErr(unix.Setxattr(p, "user.krsi", []byte("x"), 0), "setxattr %s", p)
		})},
		"symlink":         {"TARGET PATH", 2, 2, two(func(t, p string) error { return opErr(unix.Symlink(t, p), "symlink %s", p) })},
		"link":            {"OLD NEW", 2, 2, two(func(o, n string) error { return opErr(unix.Link(o, n), "link %s %s", o, n) })},
		"rename":          {"OLD NEW", 2, 2, two(func(o, n string) error { return opErr(unix.Rename(o, n), "rename %s %s", o, n) })},
		"rename-exchange": {"A B", 2, 2, two(renameExchange)},
		// files: ways into a file other than a path lookup
		"openat2-beneath": {"DIR NAME r|w|rw|a|c|t", 3, 3, func(a []string) (string, error) { return "", openat2Beneath(a[0], a[1], a[2]) }},
		"open-by-handle":  {"PATH r|w|rw|a|c|t", 2, 2, func(a []string) (string, error) { return "", openByHandle(a[0], a[1]) }},
		"recv-fd":         {"SOCKET", 1, 1, one(recvFd)},
	}
}

// --- W^X ------------------------------------------------------------------------------

func pkeyMprotectRWtoRX() error {
	b, err := unix.Mmap(-1, 0, pageSize, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return opErr(err, "mmap anon RW")
	}
	defer unix.Munmap(b)
	b[0] = 0xc3
	// pkey -1: no key; the protection change is what W^X judges.
	_, _, errno := unix.Syscall6(unix.SYS_PKEY_MPROTECT, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), rx,
		^uintptr(0), 0, 0)
	if errno != 0 {
		return opErr(errno, "pkey_mprotect PROT_READ|PROT_EXEC")
	}
	return nil
}

// stackMprotectX makes the main thread's stack executable, as an exploit that
// put its code on the stack would.
func stackMprotectX() error {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(maps), "\n") {
		if !strings.HasSuffix(line, "[stack]") {
			continue
		}
		var start, end uintptr
		if _, err := fmt.Sscanf(line, "%x-%x", &start, &end); err != nil {
			return fmt.Errorf("parse %q: %w", line, err)
		}
		_, _, errno := unix.Syscall(unix.SYS_MPROTECT, start, end-start, rwx)
		if errno != 0 {
			return opErr(errno, "mprotect [stack] PROT_READ|PROT_WRITE|PROT_EXEC")
		}
		return nil
	}
	return errors.New("no [stack] in /proc/self/maps")
}

func memfdWithCode() (int, error) {
	fd, err := unix.MemfdCreate("krsi-code", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, opErr(err, "memfd_create")
	}
	code := bytes.Repeat([]byte{0xc3}, pageSize)
	if _, err := unix.Write(fd, code); err != nil {
		unix.Close(fd)
		return -1, opErr(err, "write memfd")
	}
	return fd, nil
}

// sharedViews maps fd shared twice, writable and executable: what a JIT that
// keeps W^X per mapping does, and what W^X per memory forbids.
func sharedViews(fd int, what string) error { return sharedViewsAt(fd, 0, what) }

func sharedViewsAt(fd int, off int64, what string) error {
	w, err := unix.Mmap(fd, off, pageSize, rw, unix.MAP_SHARED)
	if err != nil {
		return opErr(err, "mmap %s shared RW", what)
	}
	defer unix.Munmap(w)
	x, err := unix.Mmap(fd, off, pageSize, rx, unix.MAP_SHARED)
	if err != nil {
		return opErr(err, "mmap %s shared RX", what)
	}
	w[0] = 0xc3
	if x[0] != 0xc3 {
		return errors.New("the executable view does not see the write")
	}
	return unix.Munmap(x)
}

func memfdRWandRX() error {
	fd, err := memfdWithCode()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return sharedViews(fd, "memfd")
}

func sharedRWandRX(path string) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return opErr(err, "open %s rw", path)
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, int64(pageSize)); err != nil {
		return opErr(err, "ftruncate %s", path)
	}
	return sharedViews(fd, path)
}

func mapRX(fd int, what string) error {
	b, err := unix.Mmap(fd, 0, pageSize, rx, unix.MAP_PRIVATE)
	if err != nil {
		return opErr(err, "mmap %s PROT_READ|PROT_EXEC", what)
	}
	return unix.Munmap(b)
}

// writeCode writes a page of code (ret instructions) to path.
func writeCode(path string) error {
	err := os.WriteFile(path, bytes.Repeat([]byte{0xc3}, pageSize), 0o755)
	var pe *os.PathError
	if errors.As(err, &pe) {
		return opErr(pe.Err, "write %s", path)
	}
	return err
}

// writeThenMapRX writes code to a new file, closes it and maps it executable:
// a dropped shared object.
func writeThenMapRX(path string) error {
	if err := writeCode(path); err != nil {
		return err
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s", path)
	}
	defer unix.Close(fd)
	return mapRX(fd, path)
}

// writeThenMprotectRX writes path, maps it read-only, then makes the mapping
// executable: mprotect sees the mapping's file, which on an overlay is the
// file of the layer underneath, not the one that was opened.
func writeThenMprotectRX(path string) error {
	if err := writeCode(path); err != nil {
		return err
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s", path)
	}
	b, err := unix.Mmap(fd, 0, pageSize, unix.PROT_READ, unix.MAP_PRIVATE)
	unix.Close(fd)
	if err != nil {
		return opErr(err, "mmap %s PROT_READ", path)
	}
	defer unix.Munmap(b)
	return opErr(unix.Mprotect(b, rx), "mprotect %s mapping PROT_READ|PROT_EXEC", path)
}

// memfdReopenRX drops every writable descriptor of a memfd before mapping it
// executable through a read-only one.
func memfdReopenRX() error {
	fd, err := memfdWithCode()
	if err != nil {
		return err
	}
	ro, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	unix.Close(fd)
	if err != nil {
		return opErr(err, "reopen memfd read-only")
	}
	defer unix.Close(ro)
	return mapRX(ro, "memfd (read-only)")
}

func memfdMprotectRX() error {
	fd, err := memfdWithCode()
	if err != nil {
		return err
	}
	b, err := unix.Mmap(fd, 0, pageSize, unix.PROT_READ, unix.MAP_PRIVATE)
	unix.Close(fd)
	if err != nil {
		return opErr(err, "mmap memfd PROT_READ")
	}
	defer unix.Munmap(b)
	return opErr(unix.Mprotect(b, rx), "mprotect memfd mapping PROT_READ|PROT_EXEC")
}

// mapRXThenWrite maps path executable, then opens it for writing: the pages
// under the mapping would change to whatever is written.
func mapRXThenWrite(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s", path)
	}
	b, err := unix.Mmap(fd, 0, pageSize, rx, unix.MAP_PRIVATE)
	unix.Close(fd)
	if err != nil {
		return opErr(err, "mmap %s PROT_READ|PROT_EXEC", path)
	}
	defer unix.Munmap(b)
	wfd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s w while mapped executable", path)
	}
	return unix.Close(wfd)
}

// execMapping maps the probe's own binary read-only and executable: code
// pages no one may write.
func execMapping() ([]byte, error) {
	fd, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, opErr(err, "open /proc/self/exe")
	}
	defer unix.Close(fd)
	b, err := unix.Mmap(fd, 0, pageSize, rx, unix.MAP_PRIVATE)
	if err != nil {
		return nil, opErr(err, "mmap /proc/self/exe PROT_READ|PROT_EXEC")
	}
	return b, nil
}

// procMemWrite writes into an executable mapping through /proc/self/mem,
// which the kernel does past the page's protection (FOLL_FORCE).
func procMemWrite() error {
	mem, err := unix.Open("/proc/self/mem", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open /proc/self/mem rw")
	}
	defer unix.Close(mem)
	b, err := execMapping()
	if err != nil {
		return err
	}
	defer unix.Munmap(b)
	want := b[0] ^ 0xff
	if _, err := unix.Pwrite(mem, []byte{want}, int64(uintptr(unsafe.Pointer(&b[0])))); err != nil {
		return opErr(err, "pwrite /proc/self/mem")
	}
	if b[0] != want {
		return errors.New("the write through /proc/self/mem did not reach the executable page")
	}
	return nil
}

// processVMWritev tries the same with process_vm_writev, which honours page
// protections: the kernel itself refuses it (EFAULT), with or without krsi.
func processVMWritev() error {
	b, err := execMapping()
	if err != nil {
		return err
	}
	defer unix.Munmap(b)
	src := []byte{b[0] ^ 0xff}
	local := []unix.Iovec{{Base: &src[0], Len: 1}}
	remote := []unix.RemoteIovec{{Base: uintptr(unsafe.Pointer(&b[0])), Len: 1}}
	_, err = unix.ProcessVMWritev(os.Getpid(), local, remote, 0)
	return opErr(err, "process_vm_writev into an executable mapping")
}

// ptraceAttach attaches to a child process, as a debugger (or an injector
// that writes code with PTRACE_POKETEXT) does.
func ptraceAttach() error {
	child := exec.Command("/bin/sleep", "10")
	if err := child.Start(); err != nil {
		return fmt.Errorf("start /bin/sleep: %w", err)
	}
	defer func() {
		child.Process.Kill()
		child.Wait()
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceAttach(child.Process.Pid); err != nil {
		return opErr(err, "ptrace attach %d", child.Process.Pid)
	}
	var ws unix.WaitStatus
	unix.Wait4(child.Process.Pid, &ws, 0, nil)
	return unix.PtraceDetach(child.Process.Pid)
}

// ptraceTraceme starts path asking to be traced (PTRACE_TRACEME), as strace does.
func ptraceTraceme(path string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, err := syscall.ForkExec(path, []string{path}, &syscall.ProcAttr{
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Ptrace: true},
	})
	if err != nil {
		return opErr(err, "ptrace traceme and exec %s", path)
	}
	unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	return nil
}

const shmExecFlag = 0o100000 // SHM_EXEC

func shmExec() error {
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, pageSize, unix.IPC_CREAT|0o600)
	if err != nil {
		return opErr(err, "shmget")
	}
	defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	b, err := unix.SysvShmAttach(id, 0, shmExecFlag)
	if err != nil {
		return opErr(err, "shmat SHM_EXEC")
	}
	return unix.SysvShmDetach(b)
}

const uffdUserModeOnly = 1 // UFFD_USER_MODE_ONLY

func userfaultfd() error {
	fd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|uffdUserModeOnly, 0, 0)
	if errno != 0 {
		return opErr(errno, "userfaultfd")
	}
	return unix.Close(int(fd))
}

// --- W^X: kernel objects ----------------------------------------------------------------

// ioUringRWandRX maps an io_uring's submission queue entries twice, writable
// and executable: shared kernel memory that no file system holds.
func ioUringRWandRX() error {
	var params [120]byte // struct io_uring_params; sq_entries is its first field
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0])), 0)
	if errno != 0 {
		return opErr(errno, "io_uring_setup")
	}
	defer unix.Close(int(fd))
	const ioringOffSQEs = 0x10000000 // IORING_OFF_SQES
	return sharedViewsAt(int(fd), ioringOffSQEs, "io_uring SQEs")
}

// memfdSecretRWandRX maps a memfd_secret (Linux 5.14+, on by default from
// 6.5: 6.1 wants secretmem.enable=1 and otherwise says ENOSYS) twice.
func memfdSecretRWandRX() error {
	fd, _, errno := unix.Syscall(unix.SYS_MEMFD_SECRET, unix.O_CLOEXEC, 0, 0)
	if errno != 0 {
		return opErr(errno, "memfd_secret")
	}
	defer unix.Close(int(fd))
	if err := unix.Ftruncate(int(fd), int64(pageSize)); err != nil {
		return opErr(err, "ftruncate memfd_secret")
	}
	return sharedViews(int(fd), "memfd_secret")
}

// packetRingRWandRX maps an AF_PACKET receive ring (PACKET_RX_RING, needs
// CAP_NET_RAW) twice: a socket's kernel memory.
func packetRingRWandRX() error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "socket AF_PACKET")
	}
	defer unix.Close(fd)
	req := unix.TpacketReq{Block_size: uint32(pageSize), Block_nr: 1, Frame_size: uint32(pageSize / 2), Frame_nr: 2}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return opErr(err, "setsockopt PACKET_RX_RING")
	}
	return sharedViews(fd, "AF_PACKET ring")
}

// devZeroSharedRX maps /dev/zero shared and executable: a character device
// whose shared mapping the kernel backs with an internal shmem object.
func devZeroSharedRX() error {
	fd, err := unix.Open("/dev/zero", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open /dev/zero")
	}
	defer unix.Close(fd)
	b, err := unix.Mmap(fd, 0, pageSize, rx, unix.MAP_SHARED)
	if err != nil {
		return opErr(err, "mmap /dev/zero shared PROT_READ|PROT_EXEC")
	}
	if b[0] != 0 {
		return errors.New("/dev/zero mapped non-zero")
	}
	return unix.Munmap(b)
}

// --- W^X: the loader, other names, races ------------------------------------------------

// copyFile writes a copy of src at dst (a new file, written by the caller).
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return opErr(pe.Err, "write %s", dst)
		}
		return err
	}
	return nil
}

func mapPathRX(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s", path)
	}
	defer unix.Close(fd)
	return mapRX(fd, path)
}

// copyThenExec writes src to dst, then runs prog: a program the caller did
// not write whose PT_INTERP names dst, so that the kernel's ELF loader maps
// the written file as its interpreter.
func copyThenExec(src, dst, prog string, args []string) error {
	if err := copyFile(src, dst); err != nil {
		return err
	}
	return execPath(prog, args)
}

// interpFd is the descriptor a prepared program's PT_INTERP names
// (/proc/self/fd/9): memfdInterpExec puts the interpreter there.
const interpFd = 9

// memfdInterpExec copies interp into a memfd at descriptor 9, left open
// across execve, and runs prog, whose PT_INTERP is /proc/self/fd/9: the
// loader maps a file with no name as the interpreter.
func memfdInterpExec(interp, prog string, args []string) error {
	data, err := os.ReadFile(interp)
	if err != nil {
		return fmt.Errorf("read %s: %w", interp, err)
	}
	fd, err := unix.MemfdCreate("krsi-interp", 0)
	if err != nil {
		return opErr(err, "memfd_create")
	}
	if _, err := unix.Write(fd, data); err != nil {
		return opErr(err, "write memfd")
	}
	if err := unix.Dup3(fd, interpFd, 0); err != nil {
		return opErr(err, "dup3 memfd to %d", interpFd)
	}
	return execPath(prog, args)
}

// runThenOpenW runs prog to its end, then opens path for writing: path is a
// file prog's run mapped executable (its interpreter, mapped by the kernel's
// loader), which no running copy of prog may see rewritten.
func runThenOpenW(prog, path string) error {
	if out, err := exec.Command(prog).CombinedOutput(); err != nil {
		return fmt.Errorf("run %s: %w (%s)", prog, err, out)
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s w after it ran mapped executable", path)
	}
	return unix.Close(fd)
}

// raceMapWrite maps path executable and opens it for writing from two
// threads at once, again and again: the attack wins if both ever succeed
// (each check alone saw nothing of the other).
func raceMapWrite(path string) error {
	const rounds = 2000
	var mapErr, writeErr error
	var mapped, opened int
	start := make(chan struct{})
	done := make(chan struct{}, 2)
	go func() {
		runtime.LockOSThread()
		<-start
		for i := 0; i < rounds; i++ {
			if err := mapPathRX(path); err != nil {
				mapErr = err
			} else {
				mapped++
			}
		}
		done <- struct{}{}
	}()
	go func() {
		runtime.LockOSThread()
		<-start
		for i := 0; i < rounds; i++ {
			fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				writeErr = opErr(err, "open %s w", path)
				continue
			}
			opened++
			unix.Close(fd)
		}
		done <- struct{}{}
	}()
	close(start)
	<-done
	<-done
	switch {
	case mapped > 0 && opened > 0:
		return nil
	case mapped == 0:
		return mapErr
	default:
		return writeErr
	}
}

// mapRXThenRecvFd maps path executable, then receives a descriptor (of the
// same file, opened writable by the sender) and writes through it.
func mapRXThenRecvFd(path, socket string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s", path)
	}
	b, err := unix.Mmap(fd, 0, pageSize, rx, unix.MAP_PRIVATE)
	unix.Close(fd)
	if err != nil {
		return opErr(err, "mmap %s PROT_READ|PROT_EXEC", path)
	}
	defer unix.Munmap(b)
	return recvFd(socket)
}

// --- exec -------------------------------------------------------------------------------

// copyExec copies src to dst (a new file), makes it executable and runs it.
func copyExec(src, dst string, args []string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return opErr(pe.Err, "write %s", dst)
		}
		return err
	}
	return execPath(dst, args)
}

// execProcFd runs path through /proc/self/fd/N of an O_PATH descriptor.
func execProcFd(path string, args []string) error {
	fd, err := unix.Open(path, unix.O_PATH, 0)
	if err != nil {
		return opErr(err, "open %s O_PATH", path)
	}
	return execPath(fmt.Sprintf("/proc/self/fd/%d", fd), args)
}

// --- files ------------------------------------------------------------------------------

// fchmodReadOnly changes a file's mode through a descriptor opened for reading.
func fchmodReadOnly(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s", path)
	}
	defer unix.Close(fd)
	return opErr(unix.Fchmod(fd, 0o600), "fchmod %s", path)
}

func utimes(path string) error {
	ts := []unix.Timespec{unix.NsecToTimespec(0), unix.NsecToTimespec(0)}
	return opErr(unix.UtimesNano(path, ts), "utimes %s", path)
}

func renameExchange(a, b string) error {
	return opErr(unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE),
		"rename exchange %s %s", a, b)
}

func openat2Beneath(dir, name, mode string) error {
	flags, err := openFlags(mode)
	if err != nil {
		return err
	}
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s", dir)
	}
	defer unix.Close(dfd)
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
	if flags&unix.O_CREAT != 0 {
		how.Mode = 0o644 // openat2 refuses a mode without O_CREAT
	}
	fd, err := unix.Openat2(dfd, name, how)
	if err != nil {
		return opErr(err, "openat2 %s/%s %s", dir, name, mode)
	}
	return unix.Close(fd)
}

// openByHandle reopens path from its file handle: open_by_handle_at does no
// path lookup at all.
func openByHandle(path, mode string) error {
	flags, err := openFlags(mode)
	if err != nil {
		return err
	}
	h, mountID, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
	if err != nil {
		return opErr(err, "name_to_handle_at %s", path)
	}
	mnt, err := mountOf(mountID)
	if err != nil {
		return err
	}
	mfd, err := unix.Open(mnt, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open mount %s", mnt)
	}
	defer unix.Close(mfd)
	fd, err := unix.OpenByHandleAt(mfd, h, flags|unix.O_CLOEXEC)
	if err != nil {
		return opErr(err, "open_by_handle_at %s %s", path, mode)
	}
	return unix.Close(fd)
}

// mountOf finds the mount point of a mount id in /proc/self/mountinfo.
func mountOf(id int) (string, error) {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[0] == strconv.Itoa(id) {
			return f[4], nil
		}
	}
	return "", fmt.Errorf("mount id %d is not in /proc/self/mountinfo", id)
}

// recvFd connects to a unix socket, receives one descriptor (SCM_RIGHTS) and
// writes through it. The kernel drops a descriptor an LSM refuses and marks
// the message truncated (MSG_CTRUNC); the probe reports that as the denial
// it is, since recvmsg itself does not fail.
func recvFd(socket string) error { return recvFdWrite(socket, []byte("x")) }

func recvFdWrite(socket string, data []byte) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "socket")
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: socket}); err != nil {
		return opErr(err, "connect %s", socket)
	}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10})
	buf := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return opErr(err, "recvmsg")
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if r, err := unix.ParseUnixRights(&m); err == nil {
				fds = append(fds, r...)
			}
		}
	}
	if len(fds) == 0 {
		if flags&unix.MSG_CTRUNC != 0 {
			return opErr(unix.EPERM, "receive a file descriptor (dropped by the kernel, MSG_CTRUNC)")
		}
		return errors.New("no file descriptor in the message")
	}
	defer unix.Close(fds[0])
	_, err = unix.Write(fds[0], data)
	return opErr(err, "write the received file")
}
