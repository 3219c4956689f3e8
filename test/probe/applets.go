package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Multi-call binaries (busybox): execs whose argv[0] is not the path, and a
// second thread rewriting argv[0] while the exec is in flight
// (test/kernel/bypass_applet_test.go).
func appletCommands() map[string]command {
	return map[string]command{
		"exec-argv0":       {"path|procfd|execveat PATH ARGV0 [ARGS...]", 3, -1, execArgv0},
		"argv0-race":       {"PATH GOOD BAD N: N execs of PATH with argv[0] flipping between GOOD and BAD, then -c 'exit 7'", 4, 4, argv0Race},
		"argv0-race-child": {"PATH GOOD BAD", 3, 3, argv0RaceChild},
	}
}

func execArgv0(a []string) (string, error) {
	how, path, argv := a[0], a[1], a[2:]
	switch how {
	case "path":
		return "", opErr(unix.Exec(path, argv, os.Environ()), "execve %s", path)
	case "procfd", "execveat":
		fd, err := unix.Open(path, unix.O_PATH, 0)
		if err != nil {
			return "", opErr(err, "open %s O_PATH", path)
		}
		if how == "procfd" {
			p := fmt.Sprintf("/proc/self/fd/%d", fd)
			return "", opErr(unix.Exec(p, argv, os.Environ()), "execve %s", p)
		}
		return "", opErr(execveat(fd, argv, os.Environ()), "execveat %s", path)
	}
	return "", &usageError{"exec-argv0: want path, procfd or execveat"}
}

// argv0Race runs argv0-race-child n times and counts how each ended:
// "ran-good=A ran-bad=B denied=C killed=D". ran-bad > 0 is a bypass.
func argv0Race(a []string) (string, error) {
	n, err := strconv.Atoi(a[3])
	if err != nil {
		return "", &usageError{"argv0-race: N"}
	}
	var good, bad, denied, killed, other int
	for range n {
		cmd := exec.Command("/proc/self/exe", "argv0-race-child", a[0], a[1], a[2])
		err := cmd.Run()
		st, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case err == nil:
			good++
		case st.Signaled() && st.Signal() == syscall.SIGKILL:
			killed++
		case st.Exited() && st.ExitStatus() == 7:
			bad++
		case st.Exited() && st.ExitStatus() == exitDenied:
			denied++
		default:
			other++
		}
	}
	line := fmt.Sprintf("ran-good=%d ran-bad=%d denied=%d killed=%d other=%d", good, bad, denied, killed, other)
	return line, nil
}

// argv0RaceChild execs PATH with argv[0] in a buffer that another thread
// flips between GOOD and BAD the whole time; the other arguments are
// "-c" "exit 7" (a shell exits 7, true exits 0).
func argv0RaceChild(a []string) (string, error) {
	path := a[0]
	size := max(len(a[1]), len(a[2])) + 1
	good := append([]byte(a[1]), make([]byte, size-len(a[1]))...)
	bad := append([]byte(a[2]), make([]byte, size-len(a[2]))...)
	buf := make([]byte, size)
	copy(buf, good)
	go func() {
		for {
			copy(buf, bad)
			copy(buf, good)
		}
	}()
	p, _ := unix.BytePtrFromString(path)
	c, _ := unix.BytePtrFromString("-c")
	e, _ := unix.BytePtrFromString("exit 7")
	argv := []*byte{&buf[0], c, e, nil}
	envv := []*byte{nil}
	_, _, errno := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
	return "", opErr(errno, "execve %s", path)
}
