package enforcement

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/profiles"
)

// Event is one violation reported by the kernel: denied (enforce mode) or
// allowed and reported (audit mode).
type Event struct {
	Time      time.Time
	CgroupID  uint64
	PID, TID  uint32
	Comm      string
	ProfileID ProfileID
	// Rule is the index of the profile rule that decided, or -1 when no rule
	// did (W^X, the profile's default, fileless exec).
	Rule   int
	Hook   string // file_mprotect, mmap_file, bprm_check_security, file_open, path_unlink, … (hooks)
	Reason string // see reasons
	Action string // "denied" or "audited"
	Access profiles.Access
	Prot   uint32 // PROT_* requested, memory hooks
	// VMStart, VMEnd, VMFlags describe the mapping an mprotect touched.
	VMStart, VMEnd, VMFlags uint64
	Path                    string // the kernel-resolved path, path hooks
	// Invoked is the path execve was given (bprm->filename), exec hooks.
	Invoked string
	// Applet is the applet a multi-call binary was asked to run (exec of
	// /bin/sh → /bin/busybox applet sh), when the profile decides its applets.
	Applet string
}

var hooks = map[uint8]string{
	1:  "file_mprotect",
	2:  "mmap_file",
	3:  "bprm_check_security",
	4:  "file_open",
	5:  "path_unlink",
	6:  "path_rmdir",
	7:  "path_rename",
	8:  "path_link",
	9:  "path_truncate",
	10: "path_chmod",
	11: "path_chown",
	12: "path_mkdir",
	13: "path_mknod",
	14: "path_symlink",
	15: "file_receive",
	16: "ptrace",
	17: "shm_shmat",
	18: "userfaultfd",
	19: "path_chroot",
	20: "elf_interp",
	23: "task_alloc",
	24: "cgroup_mkdir",
	27: "file_fcntl",
	28: "file_permission",
	29: "file_ioctl",
	30: "inode_attr",
	31: "bprm_committing_creds",
}

// Reasons, in the order of enum krsi_reason.
var reasons = map[uint8]string{
	1:  "wx-anonymous",
	2:  "wx-writable",
	3:  "wx-modified",
	4:  "rule",
	5:  "default",
	6:  "fileless",
	7:  "no-profile",
	8:  "no-path",
	9:  "wx-fileless",
	10: "wx-open-for-write",
	11: "wx-written",
	12: "wx-exec-mapped",
	13: "wx-code-write",
	14: "reroot",
	15: "wx-kernel-object",
	16: "wx-no-mark",
	17: "wx-exec-stack",
	18: "cgroup-escape",
	19: "cgroup-quota",
	20: "rename-widens",
	21: "rename-moves-rules",
	22: "applet-unknown",
	23: "applet-loader",
}

var actions = map[uint8]string{1: "denied", 2: "audited", 3: "killed"}

var eventSize = binary.Size(bpfKrsiEvent{})

// EventReader reads events from the kernel's ring buffer.
type EventReader struct {
	rd *ringbuf.Reader
}

// ErrClosed is returned by Read after Close.
var ErrClosed = ringbuf.ErrClosed

// Events opens a reader of the kernel's violation events. There is one ring
// buffer per Enforcer's map set: each event is delivered to one reader.
func (e *Enforcer) Events() (*EventReader, error) {
	rd, err := ringbuf.NewReader(e.maps.KrsiEvents)
	if err != nil {
		return nil, fmt.Errorf("open krsi_events ring buffer: %w", err)
	}
	return &EventReader{rd: rd}, nil
}

// Close makes a blocked Read return ErrClosed.
func (r *EventReader) Close() error { return r.rd.Close() }

// SetDeadline bounds how long Read waits; after it, Read returns os.ErrDeadlineExceeded.
func (r *EventReader) SetDeadline(t time.Time) { r.rd.SetDeadline(t) }

// ErrFlushed is returned by Read once the events pending at Flush are read.
var ErrFlushed = ringbuf.ErrFlushed

// Flush wakes a blocked Read: the events queued now are returned, then ErrFlushed.
// The kernel queues an event before the operation it reports returns, so after
// a process has exited, Flush drains all of its events.
func (r *EventReader) Flush() error { return r.rd.Flush() }

// Read blocks for the next event.
func (r *EventReader) Read() (Event, error) {
	rec, err := r.rd.Read()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrFlushed) {
			return Event{}, err
		}
		return Event{}, fmt.Errorf("read krsi_events: %w", err)
	}
	return decodeEvent(rec.RawSample)
}

func decodeEvent(raw []byte) (Event, error) {
	if len(raw) < eventSize {
		return Event{}, fmt.Errorf("event of %d bytes, want at least %d", len(raw), eventSize)
	}
	var ev bpfKrsiEvent
	if err := binary.Read(bytes.NewReader(raw[:eventSize]), binary.NativeEndian, &ev); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	pathLen := int(ev.PathLen)
	if pathLen > len(raw)-eventSize {
		pathLen = len(raw) - eventSize
	}
	out := Event{
		Time:      monotonicToTime(ev.TsNs),
		CgroupID:  ev.CgroupId,
		PID:       ev.Pid,
		TID:       ev.Tid,
		Comm:      cString(ev.Comm[:]),
		ProfileID: ProfileID(ev.ProfileId),
		Rule:      -1,
		Hook:      hooks[ev.Hook],
		Reason:    reasons[ev.Reason],
		Action:    actions[ev.Action],
		Access:    profiles.Access(ev.Access),
		Prot:      ev.Prot,
		VMStart:   ev.VmStart,
		VMEnd:     ev.VmEnd,
		VMFlags:   ev.VmFlags,
		Path:      string(raw[eventSize : eventSize+pathLen]),
	}
	rest := raw[eventSize+pathLen:]
	if n := min(int(ev.InvokedLen), len(rest)); n > 0 {
		out.Invoked, rest = string(rest[:n]), rest[n:]
		// The name the program gets (the kernel's: the invoked path's last
		// component), not the caller's: for a container's entrypoint that
		// would be the runtime's.
		comm := out.Invoked[strings.LastIndexByte(out.Invoked, '/')+1:]
		if len(comm) > 15 {
			comm = comm[:15]
		}
		out.Comm = comm
	}
	if n := min(int(ev.AppletLen), len(rest)); n > 0 {
		out.Applet = string(rest[:n])
	}
	if ev.Rule != 0xffffffff {
		out.Rule = int(ev.Rule)
	}
	return out, nil
}

// monotonicToTime turns bpf_ktime_get_ns (CLOCK_MONOTONIC) into wall time.
func monotonicToTime(ns uint64) time.Time {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Now()
	}
	return time.Now().Add(-time.Duration(uint64(ts.Nano()) - ns))
}

// FailedBindings is how many cgroups the kernel could not bind at creation
// (staged or inherited) because krsi_bindings was full. The plugin's check at
// StartContainer catches a container's own cgroup; nested ones stay unbound.
func (e *Enforcer) FailedBindings() (uint64, error) { return readStat(e.maps.KrsiStats, 1) }

// NestedRefused is how many cgroups created inside bound ones the kernel left
// unbound because their container had used its quota of nested bindings (or
// all containers their share of krsi_bindings). No bound process can enter
// such a cgroup: the container's move into it fails with EPERM.
func (e *Enforcer) NestedRefused() (uint64, error) { return readStat(e.maps.KrsiStats, 3) }

// DroppedEvents is how many events the kernel could not queue because the
// ring buffer was full. Enforcement is unaffected by drops.
func (e *Enforcer) DroppedEvents() (uint64, error) { return readStat(e.maps.KrsiStats, 0) }
