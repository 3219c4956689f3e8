package main

// Access modes beyond the open flags (test/kernel/bypass_access_test.go): a
// descriptor opened for appending used to change the file elsewhere than at
// its end, and a read-only descriptor used to change the file's attributes.

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

func accessCommands() map[string]command {
	return map[string]command{
		"append-overwrite": {"PATH ROUTE", 2, 2, func(a []string) (string, error) { return "", appendOverwrite(a[0], a[1]) }},
		"append-write":     {"PATH ROUTE", 2, 2, func(a []string) (string, error) { return "", appendWrite(a[0], a[1]) }},
		"rw-change":        {"PATH ROUTE", 2, 2, func(a []string) (string, error) { return "", rwChange(a[0], a[1]) }},
		"fd-attr":          {"PATH ROUTE", 2, 2, func(a []string) (string, error) { return "", fdAttr(a[0], a[1]) }},
		"path-attr":        {"PATH ROUTE", 2, 2, func(a []string) (string, error) { return "", pathAttr(a[0], a[1]) }},
	}
}

const (
	fallocPunchHole   = 0x02 | 0x01 // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
	fallocCollapse    = 0x08
	fallocZeroRange   = 0x10
	fallocInsertRange = 0x20
	rwfNoAppend       = 0x20 // RWF_NOAPPEND (6.9+)
)

// firstByte reads the first byte of path through a descriptor of its own.
func firstByte(path string) (byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 0); err != nil {
		return 0, err
	}
	return b[0], nil
}

// overwritten checks that the route changed the file's first byte (from what
// the test wrote there), i.e. that it changed the file elsewhere than at its end.
func overwritten(path string, before byte, route string) error {
	after, err := firstByte(path)
	if err != nil {
		return err
	}
	if after == before {
		return fmt.Errorf("%s reported success but the first byte of %s is unchanged", route, path)
	}
	return nil
}

// appendOverwrite opens path for appending (O_RDWR|O_APPEND: mmap needs read
// access) and tries to change its first byte by route.
func appendOverwrite(path, route string) error {
	before, err := firstByte(path)
	if err != nil {
		return err
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_APPEND|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s O_RDWR|O_APPEND", path)
	}
	defer unix.Close(fd)
	if err := overwriteBy(fd, path, route); err != nil {
		return err
	}
	return overwritten(path, before, route)
}

func overwriteBy(fd int, path, route string) error {
	z := []byte{'Z'}
	switch route {
	case "fcntl":
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			return opErr(err, "fcntl F_GETFL")
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_APPEND); err != nil {
			return opErr(err, "fcntl F_SETFL without O_APPEND")
		}
		_, err = unix.Pwrite(fd, z, 0)
		return opErr(err, "pwrite at 0 after clearing O_APPEND")
	case "mmap-shared":
		b, err := unix.Mmap(fd, 0, pageSize, rw, unix.MAP_SHARED)
		if err != nil {
			return opErr(err, "mmap MAP_SHARED PROT_READ|PROT_WRITE")
		}
		b[0] = 'Z'
		return unix.Munmap(b)
	case "mmap-shared-mprotect":
		b, err := unix.Mmap(fd, 0, pageSize, unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return opErr(err, "mmap MAP_SHARED PROT_READ")
		}
		defer unix.Munmap(b)
		if err := unix.Mprotect(b, rw); err != nil {
			return opErr(err, "mprotect PROT_READ|PROT_WRITE")
		}
		b[0] = 'Z'
		return nil
	case "punch-hole":
		return opErr(unix.Fallocate(fd, fallocPunchHole, 0, int64(pageSize)), "fallocate PUNCH_HOLE")
	case "zero-range":
		return opErr(unix.Fallocate(fd, fallocZeroRange, 0, int64(pageSize)), "fallocate ZERO_RANGE")
	case "collapse-range":
		return opErr(unix.Fallocate(fd, fallocCollapse, 0, int64(pageSize)), "fallocate COLLAPSE_RANGE")
	case "insert-range":
		return opErr(unix.Fallocate(fd, fallocInsertRange, 0, int64(pageSize)), "fallocate INSERT_RANGE")
	case "pwritev2-noappend":
		_, err := unix.Pwritev2(fd, [][]byte{z}, 0, rwfNoAppend)
		return opErr(err, "pwritev2 RWF_NOAPPEND at 0")
	case "uring-write-noappend":
		return opErr(uringOne(fd, uringOpWrite, z, 0, rwfNoAppend), "io_uring WRITE RWF_NOAPPEND at 0")
	case "uring-fallocate":
		return opErr(uringFallocate(fd, fallocPunchHole, 0, uint64(pageSize)), "io_uring FALLOCATE PUNCH_HOLE")
	case "uring-linked-write-noappend":
		return opErr(uringLinkedWrite(fd, z, 0, rwfNoAppend), "io_uring WRITE RWF_NOAPPEND at 0, linked behind a timeout")
	case "aio-noappend":
		return opErr(aioPwrite(fd, z, 0, rwfNoAppend), "io_submit PWRITE RWF_NOAPPEND at 0")
	case "copy-file-range":
		src, err := srcFile()
		if err != nil {
			return err
		}
		defer unix.Close(src)
		var off int64
		_, err = unix.CopyFileRange(src, nil, fd, &off, 1, 0)
		return opErr(err, "copy_file_range to offset 0")
	case "splice":
		p := make([]int, 2)
		if err := unix.Pipe2(p, unix.O_CLOEXEC); err != nil {
			return err
		}
		defer unix.Close(p[0])
		defer unix.Close(p[1])
		unix.Write(p[1], z)
		var off int64
		_, err := unix.Splice(p[0], nil, fd, &off, 1, 0)
		return opErr(err, "splice to offset 0")
	case "sendfile":
		src, err := srcFile()
		if err != nil {
			return err
		}
		defer unix.Close(src)
		if _, err := unix.Seek(fd, 0, 0); err != nil {
			return err
		}
		_, err = unix.Sendfile(fd, src, nil, 1)
		return opErr(err, "sendfile")
	}
	return &usageError{"unknown route " + route}
}

// srcFile is a descriptor of a new file holding "Z", in the temporary
// folder (outside the test's rules).
func srcFile() (int, error) {
	f, err := os.CreateTemp("", "krsi-src-")
	if err != nil {
		return -1, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.WriteString("Z"); err != nil {
		return -1, err
	}
	fd, err := unix.Open(f.Name(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	return fd, opErr(err, "open %s", f.Name())
}

// appendWrite appends one byte to path by route (benign: each must work) and
// checks that it landed at the end.
func appendWrite(path, route string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_APPEND|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s O_RDWR|O_APPEND", path)
	}
	defer unix.Close(fd)
	a := []byte{'A'}
	switch route {
	case "write":
		_, err = unix.Write(fd, a)
	case "writev":
		_, err = unix.Writev(fd, [][]byte{a})
	case "pwrite":
		_, err = unix.Pwrite(fd, a, 0) // O_APPEND: the kernel writes at the end anyway
	case "pwritev2":
		_, err = unix.Pwritev2(fd, [][]byte{a}, 0, 0)
	case "mmap-private":
		var b []byte
		b, err = unix.Mmap(fd, 0, pageSize, unix.PROT_READ, unix.MAP_PRIVATE)
		if err == nil {
			_ = b[0]
			unix.Munmap(b)
			_, err = unix.Write(fd, a)
		}
	default:
		return &usageError{"unknown route " + route}
	}
	if err != nil {
		return opErr(err, "%s appending to %s", route, path)
	}
	st2, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st2.Size() != st.Size()+1 {
		return fmt.Errorf("%s: size %d, want %d", route, st2.Size(), st.Size()+1)
	}
	if b, err := firstByte(path); err != nil || b == 'A' && st.Size() > 0 {
		return fmt.Errorf("%s wrote at the start of the file", route)
	}
	return nil
}

// rwChange changes a file open for writing (no O_APPEND) by route: what a
// path with the write bit allows.
func rwChange(path, route string) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s O_RDWR", path)
	}
	defer unix.Close(fd)
	switch route {
	case "punch-hole":
		return opErr(unix.Fallocate(fd, fallocPunchHole, 0, int64(pageSize)), "fallocate PUNCH_HOLE")
	case "mmap-shared":
		b, err := unix.Mmap(fd, 0, pageSize, rw, unix.MAP_SHARED)
		if err != nil {
			return opErr(err, "mmap MAP_SHARED PROT_READ|PROT_WRITE")
		}
		b[0] = 'Z'
		return unix.Munmap(b)
	case "append-then-punch-hole":
		// O_APPEND on a path that allows write: nothing is asked beyond the write bit.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, unix.O_APPEND); err != nil {
			return opErr(err, "fcntl F_SETFL O_APPEND")
		}
		if err := unix.Fallocate(fd, fallocPunchHole, 0, int64(pageSize)); err != nil {
			return opErr(err, "fallocate PUNCH_HOLE on O_APPEND")
		}
		_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, 0)
		return opErr(err, "fcntl F_SETFL clearing O_APPEND")
	}
	return &usageError{"unknown route " + route}
}

const (
	fsIocSetflags   = 0x40086602 // FS_IOC_SETFLAGS
	fsIocGetflags   = 0x80086601 // FS_IOC_GETFLAGS
	fsIocFssetxattr = 0x401c5820 // FS_IOC_FSSETXATTR
	fsIocFsgetxattr = 0x801c581f // FS_IOC_FSGETXATTR
	fsNodumpFl      = 0x00000040 // FS_NODUMP_FL
	fsXflagNodump   = 0x00000080 // FS_XFLAG_NODUMP
)

// fsxattr is struct fsxattr.
type fsxattr struct {
	Xflags     uint32
	Extsize    uint32
	Nextents   uint32
	Projid     uint32
	Cowextsize uint32
	Pad        [8]byte
}

// fdAttr changes an attribute of path through a descriptor opened read-only.
func fdAttr(path, route string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opErr(err, "open %s O_RDONLY", path)
	}
	defer unix.Close(fd)
	switch route {
	case "chattr":
		var fl int
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocGetflags, uintptr(unsafe.Pointer(&fl))); e != 0 {
			return opErr(e, "ioctl FS_IOC_GETFLAGS")
		}
		fl |= fsNodumpFl
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocSetflags, uintptr(unsafe.Pointer(&fl))); e != 0 {
			return opErr(e, "ioctl FS_IOC_SETFLAGS (chattr +d)")
		}
		return nil
	case "fssetxattr":
		var x fsxattr
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocFsgetxattr, uintptr(unsafe.Pointer(&x))); e != 0 {
			return opErr(e, "ioctl FS_IOC_FSGETXATTR")
		}
		x.Xflags |= fsXflagNodump
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocFssetxattr, uintptr(unsafe.Pointer(&x))); e != 0 {
			return opErr(e, "ioctl FS_IOC_FSSETXATTR")
		}
		return nil
	case "fchmod":
		return opErr(unix.Fchmod(fd, 0o600), "fchmod")
	case "fchown":
		return opErr(unix.Fchown(fd, 1, 1), "fchown")
	case "futimens":
		ts := []unix.Timespec{unix.NsecToTimespec(0), unix.NsecToTimespec(0)}
		return opErr(unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH), "futimens")
	case "fsetxattr":
		return opErr(unix.Fsetxattr(fd, "trusted.krsi", []byte("x"), 0), "fsetxattr trusted.krsi")
	case "fremovexattr":
		return opErr(unix.Fremovexattr(fd, "trusted.krsi"), "fremovexattr trusted.krsi")
	}
	return &usageError{"unknown route " + route}
}

// aclAccess is a system.posix_acl_access value (struct posix_acl_xattr_header
// and entries): user rw, group rw, other r, i.e. mode 0664.
var aclAccess = []byte{
	2, 0, 0, 0, // version
	1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, // ACL_USER_OBJ rw-
	4, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, // ACL_GROUP_OBJ rw-
	0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, // ACL_OTHER r--
}

// pathAttr changes an attribute of path by its name.
func pathAttr(path, route string) error {
	switch route {
	case "utimes":
		ts := []unix.Timespec{unix.NsecToTimespec(0), unix.NsecToTimespec(0)}
		return opErr(unix.UtimesNano(path, ts), "utimensat %s", path)
	case "touch":
		return opErr(unix.UtimesNanoAt(unix.AT_FDCWD, path, nil, 0), "utimensat %s (now)", path)
	case "setxattr":
		return opErr(unix.Setxattr(path, "trusted.krsi", []byte("x"), 0), "setxattr %s trusted.krsi", path)
	case "removexattr":
		return opErr(unix.Removexattr(path, "trusted.krsi"), "removexattr %s trusted.krsi", path)
	case "setfacl":
		return opErr(unix.Setxattr(path, "system.posix_acl_access", aclAccess, 0), "setxattr %s system.posix_acl_access", path)
	}
	return &usageError{"unknown route " + route}
}

// --- io_uring and aio, by hand (a few system calls; no library needed) ----------------

const (
	uringOpFallocate = 17 // IORING_OP_FALLOCATE
	uringOpWrite     = 23 // IORING_OP_WRITE
)

// uringParams is struct io_uring_params.
type uringParams struct {
	SqEntries, CqEntries, Flags, SqThreadCPU, SqThreadIdle, Features, WqFd uint32
	Resv                                                                   [3]uint32
	SqOff                                                                  [10]uint32 // struct io_sqring_offsets
	CqOff                                                                  [10]uint32 // struct io_cqring_offsets
}

// uringSqe is struct io_uring_sqe.
type uringSqe struct {
	Opcode, Flags uint8
	Ioprio        uint16
	Fd            int32
	Off, Addr     uint64
	Len, RwFlags  uint32
	UserData      uint64
	BufIndex      uint16
	Personality   uint16
	SpliceFdIn    int32
	Addr3, Pad    uint64
}

// uringRun submits sqes on a new ring and returns the result of the last one.
// With busy, it does not wait in io_uring_enter: it calls busy until every
// request has completed, so that completions and the requests linked to them
// run as task work on the way back from busy's system calls.
func uringRun(sqes []uringSqe, busy func()) error {
	var p uringParams
	rfd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return opErr(e, "io_uring_setup")
	}
	defer unix.Close(int(rfd))
	sqRing, err := unix.Mmap(int(rfd), 0, int(p.SqOff[6]+p.SqEntries*4), rw, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return opErr(err, "mmap io_uring SQ ring")
	}
	defer unix.Munmap(sqRing)
	cqRing, err := unix.Mmap(int(rfd), 0x8000000, int(p.CqOff[5]+p.CqEntries*16), rw, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return opErr(err, "mmap io_uring CQ ring")
	}
	defer unix.Munmap(cqRing)
	ring, err := unix.Mmap(int(rfd), 0x10000000, int(p.SqEntries)*64, rw, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return opErr(err, "mmap io_uring SQEs")
	}
	defer unix.Munmap(ring)

	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	tail := atomic.LoadUint32(u32(sqRing, p.SqOff[1]))
	mask := *u32(sqRing, p.SqOff[2])
	for i, sqe := range sqes {
		sqe.UserData = uint64(i)
		*(*uringSqe)(unsafe.Pointer(&ring[64*i])) = sqe
		*u32(sqRing, p.SqOff[6]+4*((tail+uint32(i))&mask)) = uint32(i)
	}
	atomic.StoreUint32(u32(sqRing, p.SqOff[1]), tail+uint32(len(sqes)))
	const enterGetEvents = 1
	n := uintptr(len(sqes))
	wait := n
	if busy != nil {
		wait = 0
	}
	if _, _, e := unix.Syscall6(unix.SYS_IO_URING_ENTER, rfd, n, wait, enterGetEvents, 0, 0); e != 0 {
		return opErr(e, "io_uring_enter")
	}
	head := atomic.LoadUint32(u32(cqRing, p.CqOff[0]))
	for i := 0; busy != nil && atomic.LoadUint32(u32(cqRing, p.CqOff[1]))-head < uint32(n); i++ {
		if i == 1e6 {
			return errors.New("io_uring: the requests did not complete")
		}
		busy()
	}
	res := int32(0)
	for ; head != atomic.LoadUint32(u32(cqRing, p.CqOff[1])); head++ {
		cqe := p.CqOff[5] + 16*(head&*u32(cqRing, p.CqOff[2]))
		if *(*uint64)(unsafe.Pointer(&cqRing[cqe])) == uint64(len(sqes)-1) {
			res = *(*int32)(unsafe.Pointer(&cqRing[cqe+8]))
		}
	}
	if res < 0 {
		return unix.Errno(-res)
	}
	return nil
}

func uringSubmit(sqe uringSqe) error { return uringRun([]uringSqe{sqe}, nil) }

// uringLinkedWrite queues a write behind a timeout (a hard link: it runs
// when the timeout fires) and meanwhile appends with write(2): the linked
// write is then issued as task work on the way back from a write(2).
func uringLinkedWrite(fd int, buf []byte, off uint64, rwFlags uint32) error {
	ts := unix.NsecToTimespec(20e6)
	const opTimeout, hardlink = 11, 1 << 3
	a := []byte{'A'}
	err := uringRun([]uringSqe{
		{Opcode: opTimeout, Flags: hardlink, Fd: -1, Addr: uint64(uintptr(unsafe.Pointer(&ts))), Len: 1},
		{Opcode: uringOpWrite, Fd: int32(fd), Off: off, Addr: uint64(uintptr(unsafe.Pointer(&buf[0]))),
			Len: uint32(len(buf)), RwFlags: rwFlags},
	}, func() { unix.Write(fd, a) })
	runtime.KeepAlive(ts)
	runtime.KeepAlive(buf)
	return err
}

func uringOne(fd int, op uint8, buf []byte, off uint64, rwFlags uint32) error {
	defer runtime.KeepAlive(buf)
	return uringSubmit(uringSqe{Opcode: op, Fd: int32(fd), Off: off, Addr: uint64(uintptr(unsafe.Pointer(&buf[0]))),
		Len: uint32(len(buf)), RwFlags: rwFlags})
}

func uringFallocate(fd int, mode uint32, off, length uint64) error {
	return uringSubmit(uringSqe{Opcode: uringOpFallocate, Fd: int32(fd), Off: off, Addr: length, Len: mode})
}

// aioPwrite writes buf at off with Linux AIO (io_submit), with rwFlags (aio_rw_flags).
func aioPwrite(fd int, buf []byte, off int64, rwFlags uint32) error {
	var ctx uintptr
	if _, _, e := unix.Syscall(unix.SYS_IO_SETUP, 1, uintptr(unsafe.Pointer(&ctx)), 0); e != 0 {
		return opErr(e, "io_setup")
	}
	defer unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
	// struct iocb (little endian): data, key, rw_flags, opcode, reqprio, fildes, buf, nbytes, offset, ...
	type iocb struct {
		Data         uint64
		Key, RwFlags uint32
		Opcode       uint16
		Reqprio      int16
		Fildes       uint32
		Buf, Nbytes  uint64
		Offset       int64
		Reserved2    uint64
		Flags, Resfd uint32
	}
	cb := iocb{RwFlags: rwFlags, Opcode: 1 /* IOCB_CMD_PWRITE */, Fildes: uint32(fd),
		Buf: uint64(uintptr(unsafe.Pointer(&buf[0]))), Nbytes: uint64(len(buf)), Offset: off}
	cbs := []*iocb{&cb}
	if _, _, e := unix.Syscall(unix.SYS_IO_SUBMIT, ctx, 1, uintptr(unsafe.Pointer(&cbs[0]))); e != 0 {
		return e
	}
	// struct io_event: data, obj, res, res2
	var ev [4]int64
	if _, _, e := unix.Syscall6(unix.SYS_IO_GETEVENTS, ctx, 1, 1, uintptr(unsafe.Pointer(&ev[0])), 0, 0); e != 0 {
		return opErr(e, "io_getevents")
	}
	runtime.KeepAlive(buf)
	if ev[2] < 0 {
		return unix.Errno(-ev[2])
	}
	return nil
}
