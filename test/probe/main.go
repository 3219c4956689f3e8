// Command krsi-probe tries one operation and reports what the kernel said about it.
//
// It is the "process in the container" of krsi's kernel tests: a test puts it in a
// cgroup bound to a profile, runs one subcommand and reads the verdict. It is static
// (CGO_ENABLED=0) so it runs as is inside the VM's initramfs, and being Go it never
// needs an executable mapping of its own, so it starts fine under a W^X profile.
//
// Output contract (tests parse it): exactly one line on stdout,
//
//	ok                              exit 0: the operation succeeded
//	denied: <what> : <errno text>   exit 1: the kernel said EPERM or EACCES
//	error: <message>                exit 2: any other failure, or a usage error
//
// except that a successful exec replaces the probe, whose output and exit code are
// then the target's, and that `loop` prints `ns/op <float>` instead of `ok` (followed
// by ` bpf <program> <runs> <ns>` fields with KRSI_PROBE_BPFSTATS=1, see bpfstats.go).
//
// It is a multi-call binary: `krsi-probe mmap-rwx` and a link named `mmap-rwx`
// pointing at krsi-probe do the same.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Exit codes of the output contract.
const (
	exitOK     = 0
	exitDenied = 1
	exitError  = 2
)

// opError ties a failed system call to the operation that made it; <what> in
// "denied: <what> : <errno text>" is its what.
type opError struct {
	what string
	err  error
}

func (e *opError) Error() string { return e.what + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

func opErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &opError{what: fmt.Sprintf(format, args...), err: err}
}

// usageError is a bad command line: exit 2, never "denied".
type usageError struct{ msg string }

func (e *usageError) Error() string { return "usage: " + e.msg }

// command is one subcommand. Its run returns the line to print on success ("" means
// "ok").
type command struct {
	usage    string // operands, for the usage text
	min, max int    // number of operands; max < 0: no limit
	run      func(args []string) (string, error)
}

var commands map[string]command

func init() {
	// Filled here rather than in the declaration because loop refers back to the map.
	commands = map[string]command{
		"mprotect-rw-rx": {"", 0, 0, func([]string) (string, error) { return "", mprotectRWtoRX() }},
		"mmap-rwx":       {"", 0, 0, func([]string) (string, error) { return "", mmapAnon(rwx) }},
		"mmap-anon-rx":   {"", 0, 0, func([]string) (string, error) { return "", mmapAnon(rx) }},
		"mprotect-rwx":   {"", 0, 0, func([]string) (string, error) { return "", mprotectRWtoRWX() }},
		"mmap-file-exec": {"PATH", 1, 1, func(a []string) (string, error) { return "", mmapFileExec(a[0]) }},
		"open":           {"PATH r|w|rw|a|c|t", 2, 2, func(a []string) (string, error) { return "", openClose(a[0], a[1]) }},
		"exec":           {"PATH [ARGS...]", 1, -1, func(a []string) (string, error) { return "", execPath(a[0], a[1:]) }},
		"memfd-exec":     {"SRC [ARGS...]", 1, -1, func(a []string) (string, error) { return "", memfdExec(a[0], a[1:]) }},
		"execveat":       {"PATH [ARGS...]", 1, -1, func(a []string) (string, error) { return "", execveatPath(a[0], a[1:]) }},
		"loop":           {"open N PATH | mprotect N | exec N PATH [ARGS...]", 2, -1, loop},
		"flood":          {"N", 1, 1, flood},
		"join-cgroup":    {"DIR SUBCOMMAND [OPERANDS...]", 2, -1, joinCgroup},
		"detached-exec":  {"SRC [ARGS...]", 1, -1, func(a []string) (string, error) { return "", detachedExec(a[0], a[1:]) }},
		"each":           {"SUBCOMMAND [OPERANDS...] [, SUBCOMMAND [OPERANDS...]]...", 1, -1, each},
		"until":          {"STOPFILE SUBCOMMAND [OPERANDS...]", 2, -1, until},
	}
	for name, c := range bypassCommands() {
		commands[name] = c
	}
	for name, c := range cgroupCommands() {
		commands[name] = c
	}
	for name, c := range accessCommands() {
		commands[name] = c
	}
	for name, c := range appletCommands() {
		commands[name] = c
	}
}

func main() {
	args := os.Args[1:]
	// Multi-call: called through a link named after a subcommand.
	if _, ok := commands[filepath.Base(os.Args[0])]; ok {
		args = os.Args
		args[0] = filepath.Base(args[0])
	}
	line, code := run(args)
	fmt.Println(line)
	if code == exitError && strings.HasPrefix(line, "error: usage:") {
		printUsage(os.Stderr)
	}
	os.Exit(code)
}

// run parses args, does the operation and returns the one line to print and the
// exit code.
func run(args []string) (string, int) {
	cmd, operands, err := parse(args)
	if err != nil {
		return report("", err)
	}
	return report(cmd.run(operands))
}

// parse picks the subcommand and checks its number of operands.
func parse(args []string) (command, []string, error) {
	if len(args) == 0 {
		return command{}, nil, &usageError{"no subcommand"}
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return command{}, nil, &usageError{fmt.Sprintf("unknown subcommand %q", args[0])}
	}
	n := len(args) - 1
	if n < cmd.min || (cmd.max >= 0 && n > cmd.max) {
		return command{}, nil, &usageError{fmt.Sprintf("%s %s", args[0], cmd.usage)}
	}
	return cmd, args[1:], nil
}

// report turns an operation's result into the output line and exit code.
func report(out string, err error) (string, int) {
	if err == nil {
		if out == "" {
			out = "ok"
		}
		return out, exitOK
	}
	var oe *opError
	if errors.As(err, &oe) && isDenial(oe.err) {
		return fmt.Sprintf("denied: %s : %s", oe.what, errnoText(oe.err)), exitDenied
	}
	return "error: " + err.Error(), exitError
}

// isDenial says whether err is the kernel refusing (an LSM returns -EPERM or -EACCES).
func isDenial(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}

func errnoText(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

func printUsage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: krsi-probe SUBCOMMAND [OPERANDS]")
	for _, name := range names {
		fmt.Fprintf(w, "  %s %s\n", name, commands[name].usage)
	}
}

// --- memory -------------------------------------------------------------------------

const (
	rw  = unix.PROT_READ | unix.PROT_WRITE
	rx  = unix.PROT_READ | unix.PROT_EXEC
	rwx = unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC
)

var pageSize = os.Getpagesize()

func protString(prot int) string {
	var parts []string
	for _, p := range []struct {
		bit  int
		name string
	}{{unix.PROT_READ, "PROT_READ"}, {unix.PROT_WRITE, "PROT_WRITE"}, {unix.PROT_EXEC, "PROT_EXEC"}} {
		if prot&p.bit != 0 {
			parts = append(parts, p.name)
		}
	}
	if len(parts) == 0 {
		return "PROT_NONE"
	}
	return strings.Join(parts, "|")
}

// mmapAnon maps one anonymous private page with prot and unmaps it.
func mmapAnon(prot int) error {
	b, err := unix.Mmap(-1, 0, pageSize, prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return opErr(err, "mmap anon %s", protString(prot))
	}
	return unix.Munmap(b)
}

// mprotectFromRW maps an anonymous RW page, writes to it (as a JIT would write
// code) and changes it to prot.
func mprotectFromRW(prot int) error {
	b, err := unix.Mmap(-1, 0, pageSize, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return opErr(err, "mmap anon %s", protString(rw))
	}
	defer unix.Munmap(b)
	b[0] = 0xc3 // x86 "ret"
	return opErr(unix.Mprotect(b, prot), "mprotect %s", protString(prot))
}

func mprotectRWtoRX() error  { return mprotectFromRW(rx) }
func mprotectRWtoRWX() error { return mprotectFromRW(rwx) }

// flood tries mprotect(RW -> RX) on one anonymous page N times, as an
// attacker looping on a denied operation would, and prints how many were
// denied: "denied N of N" (exit 0). It is how tests make the kernel report a
// known number of violations.
func flood(a []string) (string, error) {
	n, err := strconv.Atoi(a[0])
	if err != nil || n < 1 {
		return "", &usageError{"flood N: N must be a positive number"}
	}
	b, err := unix.Mmap(-1, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return "", opErr(err, "mmap anon RW")
	}
	defer unix.Munmap(b)
	b[0] = 1
	denied := 0
	for i := 0; i < n; i++ {
		switch err := unix.Mprotect(b, rx); {
		case err == nil:
			return "", fmt.Errorf("mprotect RW -> RX was allowed at try %d", i+1)
		case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
			denied++
		default:
			return "", opErr(err, "mprotect %s", protString(rx))
		}
	}
	return fmt.Sprintf("denied %d of %d", denied, n), nil
}

// mmapFileExec maps the first page of path PROT_READ|PROT_EXEC, MAP_PRIVATE: what
// ld.so does with the program it is asked to run (`ld.so ./binary`).
func mmapFileExec(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s", path)
	}
	defer unix.Close(fd)
	b, err := unix.Mmap(fd, 0, pageSize, rx, unix.MAP_PRIVATE)
	if err != nil {
		return opErr(err, "mmap %s %s", path, protString(rx))
	}
	return unix.Munmap(b)
}

// --- files --------------------------------------------------------------------------

// openFlags maps the mode letters of `open PATH MODE` to open(2) flags.
func openFlags(mode string) (int, error) {
	switch mode {
	case "r":
		return unix.O_RDONLY, nil
	case "w":
		return unix.O_WRONLY, nil
	case "rw":
		return unix.O_RDWR, nil
	case "a":
		return unix.O_WRONLY | unix.O_APPEND, nil
	case "c":
		return unix.O_WRONLY | unix.O_CREAT, nil
	case "t":
		return unix.O_WRONLY | unix.O_TRUNC, nil
	}
	return 0, &usageError{fmt.Sprintf("open: mode %q is not one of r, w, rw, a, c, t", mode)}
}

func openClose(path, mode string) error {
	flags, err := openFlags(mode)
	if err != nil {
		return err
	}
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return opErr(err, "open %s %s", path, mode)
	}
	return unix.Close(fd)
}

// --- exec ---------------------------------------------------------------------------

// execPath is execve(2). It only returns on failure.
func execPath(path string, args []string) error {
	argv := append([]string{path}, args...)
	return opErr(unix.Exec(path, argv, os.Environ()), "execve %s", path)
}

// memfdExec copies src into a memfd and runs it from there: the fileless exec an
// attacker uses to run a payload that never touched the disk.
func memfdExec(src string, args []string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return opErr(pe.Err, "read %s", src)
		}
		return err
	}
	// MFD_EXEC (Linux 6.3+) says up front that the memfd is to be executed, which
	// newer kernels want (vm.memfd_noexec); older ones reject the flag with EINVAL.
	// No MFD_CLOEXEC: a "#!" script run from the memfd needs the fd to stay open.
	fd, err := unix.MemfdCreate("krsi-probe", unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate("krsi-probe", 0)
	}
	if err != nil {
		return opErr(err, "memfd_create")
	}
	defer unix.Close(fd)
	for b := data; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			return opErr(err, "write memfd")
		}
		b = b[n:]
	}
	return opErr(execveat(fd, append([]string{src}, args...), os.Environ()), "execveat memfd:%s", src)
}

// execveatPath opens path with O_PATH and runs it through execveat(fd, "",
// AT_EMPTY_PATH), the fexecve(3) way.
func execveatPath(path string, args []string) error {
	// No O_CLOEXEC, for the same "#!" reason as memfdExec.
	fd, err := unix.Open(path, unix.O_PATH, 0)
	if err != nil {
		return opErr(err, "open %s O_PATH", path)
	}
	defer unix.Close(fd)
	return opErr(execveat(fd, append([]string{path}, args...), os.Environ()), "execveat %s", path)
}

// execveat runs the file open at fd. golang.org/x/sys/unix has no wrapper for it.
func execveat(fd int, argv, envv []string) error {
	empty, err := unix.BytePtrFromString("")
	if err != nil {
		return err
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envvp, err := syscall.SlicePtrFromStrings(envv)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd),
		uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argvp[0])),
		uintptr(unsafe.Pointer(&envvp[0])),
		unix.AT_EMPTY_PATH, 0)
	return errno // only returns on failure, so errno != 0
}

// --- loop (benchmarks) ----------------------------------------------------------------

// loop runs one operation n times and reports the mean time per operation. The
// operations are picked to cross exactly the hooks a benchmark wants to price.
func loop(args []string) (string, error) {
	op := args[0]
	n, err := strconv.Atoi(args[1])
	if err != nil || n <= 0 {
		return "", &usageError{fmt.Sprintf("loop: N must be a positive integer, got %q", args[1])}
	}
	rest := args[2:]
	var body func(n int) error
	switch {
	case op == "open" && len(rest) == 1:
		body = func(n int) error { return loopOpen(rest[0], n) }
	case op == "mprotect" && len(rest) == 0:
		body = loopMprotect
	case op == "exec" && len(rest) >= 1:
		body = func(n int) error { return loopExec(rest[0], rest[1:], n) }
	default:
		return "", &usageError{"loop " + commands["loop"].usage}
	}
	stats, err := startBPFStats()
	if err != nil {
		return "", err
	}
	var before progStats
	if stats != nil {
		defer stats.Close()
		if before, err = krsiStats(); err != nil {
			return "", err
		}
	}
	start := time.Now()
	if err := body(n); err != nil {
		return "", err
	}
	line := fmt.Sprintf("ns/op %.1f", float64(time.Since(start).Nanoseconds())/float64(n))
	if stats != nil {
		after, err := krsiStats()
		if err != nil {
			return "", err
		}
		line += statsDelta(before, after)
	}
	return line, nil
}

// The loops are as lean as a C loop of the bare system calls: raw system
// calls (no entry into the Go scheduler around each), arguments prepared
// before the loop, so that an operation costs what the kernel does for it
// and the hook's share of it is not diluted by the runtime's.

// loopOpen: one op = openat(O_RDONLY) + close, the file_open hook.
func loopOpen(path string, n int) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	cwd := unix.AT_FDCWD // a variable: the constant is negative
	at := uintptr(cwd)
	for range n {
		fd, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, at, uintptr(unsafe.Pointer(p)),
			unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if errno != 0 {
			return opErr(errno, "open %s r", path)
		}
		unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	}
	runtime.KeepAlive(p)
	return nil
}

// loopMprotect: one op = one mprotect of an anonymous page, alternating RW→R and
// R→RW. Neither adds PROT_EXEC, so even a W^X profile allows every call and the
// loop measures the cost of the file_mprotect hook, not of a denial.
func loopMprotect(n int) error {
	b, err := unix.Mmap(-1, 0, pageSize, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return opErr(err, "mmap anon %s", protString(rw))
	}
	defer unix.Munmap(b)
	b[0] = 1 // fault the page in, so the first mprotect is not special
	addr := uintptr(unsafe.Pointer(&b[0]))
	for i := range n {
		prot := uintptr(unix.PROT_READ)
		if i%2 == 1 {
			prot = rw
		}
		if _, _, errno := unix.RawSyscall(unix.SYS_MPROTECT, addr, uintptr(pageSize), prot); errno != 0 {
			return opErr(errno, "mprotect %s", protString(int(prot)))
		}
	}
	return nil
}

// loopExec: one op = fork + execve + wait, the bprm_check_security hook (and the
// rest of an exec). The child's stdin and stdout are /dev/null so that the probe
// still prints exactly one line.
func loopExec(path string, args []string, n int) error {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	attr := &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{null.Fd(), null.Fd(), os.Stderr.Fd()},
	}
	argv := append([]string{path}, args...)
	for range n {
		// ForkExec reports the child's execve error (EPERM from an LSM included).
		pid, err := syscall.ForkExec(path, argv, attr)
		if err != nil {
			return opErr(err, "execve %s", path)
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			return opErr(err, "wait4 %d", pid)
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return fmt.Errorf("loop exec: %s exited with status %v", path, waitText(ws))
		}
	}
	return nil
}

func waitText(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return strconv.Itoa(ws.ExitStatus())
}

// each runs several subcommands in turn, separated by "," operands, and
// reports all their lines in one, joined by " | " (exit 0 unless one of them
// is a usage error). It lets a test try many operations under one profile
// with one `krsi run`, which loads and verifies programs (slow under TCG).
// until repeats a subcommand, which the test expects the kernel to deny,
// until STOPFILE exists (the upgrade tests: a container attacking through a
// whole switch of krsi's programs). It stops at the first attempt that is not
// denied and reports it: "ok" (or the error) with the number of attempts.
// Every attempt denied: "denied: <what> : <errno> (N attempts, all denied)".
// An exec that succeeds replaces the probe, which then reports nothing of
// its own: the test sees no "denied" line either way.
func until(a []string) (string, error) {
	stop := a[0]
	cmd, operands, err := parse(a[1:])
	if err != nil {
		return "", err
	}
	if cmd.run == nil || a[1] == "until" {
		return "", &usageError{"until: " + a[1] + " cannot be repeated"}
	}
	for n := 1; ; n++ {
		out, err := cmd.run(operands)
		var oe *opError
		if !errors.As(err, &oe) || !isDenial(oe.err) {
			line, _ := report(out, err)
			return "", fmt.Errorf("attempt %d was not denied: %s", n, line)
		}
		if _, err := os.Stat(stop); err == nil {
			return "", &opError{what: fmt.Sprintf("%s (%d attempts, all denied)", oe.what, n), err: oe.err}
		}
		// A pause, not a spin: under TCG each denial (and its event) costs
		// the guest so much that three probes a millisecond apart made krsi's
		// loads six times slower. Ten milliseconds still put a hundred
		// attempts in every second of a switch.
		time.Sleep(10 * time.Millisecond)
	}
}

func each(a []string) (string, error) {
	var lines []string
	for len(a) > 0 {
		n := 0
		for n < len(a) && a[n] != "," {
			n++
		}
		cmd, operands, err := parse(a[:n])
		if err != nil {
			return "", err
		}
		if cmd.run == nil || a[0] == "each" || a[0] == "exec" {
			return "", &usageError{"each: " + a[0] + " cannot be one of several"}
		}
		line, _ := report(cmd.run(operands))
		lines = append(lines, line)
		if n < len(a) {
			n++
		}
		a = a[n:]
	}
	return strings.Join(lines, " | "), nil
}
