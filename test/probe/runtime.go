package main

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// What a container runtime does inside a container's cgroup before the
// entrypoint runs, so tests can play the runtime's part.

// joinCgroup moves this process into the cgroup at dir, as runc does with its
// init process, then runs the rest of the command line there. Unlike a
// process cloned into the cgroup, it has run no exec inside it.
func joinCgroup(args []string) (string, error) {
	if err := os.WriteFile(filepath.Join(args[0], "cgroup.procs"), []byte("0"), 0); err != nil {
		return "", opErr(err, "join cgroup %s", args[0])
	}
	cmd, operands, err := parse(args[1:])
	if err != nil {
		return "", err
	}
	return cmd.run(operands)
}

// detachedExec runs src the way runc 1.1 re-executes itself: from a read-only
// bind mount of the binary that is lazily unmounted before the exec, so the
// file it runs is in no mount namespace.
func detachedExec(src string, args []string) error {
	dir, err := os.MkdirTemp("", "krsi-probe-bind-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	target := filepath.Join(dir, "exe")
	if err := os.WriteFile(target, nil, 0o500); err != nil {
		return err
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return opErr(err, "bind mount %s", src)
	}
	if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		_ = unix.Unmount(target, unix.MNT_DETACH)
		return opErr(err, "remount %s read-only", target)
	}
	fd, err := unix.Open(target, unix.O_PATH, 0) // no O_CLOEXEC: execveat needs it open
	_ = unix.Unmount(target, unix.MNT_DETACH)
	if err != nil {
		return opErr(err, "open %s O_PATH", target)
	}
	defer unix.Close(fd)
	return opErr(execveat(fd, append([]string{src}, args...), os.Environ()), "execveat detached:%s", src)
}
