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

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

// The names events give the kernel's enum krsi_hook, krsi_reason and
// krsi_action (bpf/include/krsi.h). TestABI checks that every value the C
// defines has one.
var hooks = map[bpfKrsiHook]string{
	bpfKrsiHookKRSI_HOOK_FILE_MPROTECT:   "file_mprotect",
	bpfKrsiHookKRSI_HOOK_MMAP_FILE:       "mmap_file",
	bpfKrsiHookKRSI_HOOK_BPRM_CHECK:      "bprm_check_security",
	bpfKrsiHookKRSI_HOOK_FILE_OPEN:       "file_open",
	bpfKrsiHookKRSI_HOOK_PATH_UNLINK:     "path_unlink",
	bpfKrsiHookKRSI_HOOK_PATH_RMDIR:      "path_rmdir",
	bpfKrsiHookKRSI_HOOK_PATH_RENAME:     "path_rename",
	bpfKrsiHookKRSI_HOOK_PATH_LINK:       "path_link",
	bpfKrsiHookKRSI_HOOK_PATH_TRUNCATE:   "path_truncate",
	bpfKrsiHookKRSI_HOOK_PATH_CHMOD:      "path_chmod",
	bpfKrsiHookKRSI_HOOK_PATH_CHOWN:      "path_chown",
	bpfKrsiHookKRSI_HOOK_PATH_MKDIR:      "path_mkdir",
	bpfKrsiHookKRSI_HOOK_PATH_MKNOD:      "path_mknod",
	bpfKrsiHookKRSI_HOOK_PATH_SYMLINK:    "path_symlink",
	bpfKrsiHookKRSI_HOOK_FILE_RECEIVE:    "file_receive",
	bpfKrsiHookKRSI_HOOK_PTRACE:          "ptrace",
	bpfKrsiHookKRSI_HOOK_SHM_SHMAT:       "shm_shmat",
	bpfKrsiHookKRSI_HOOK_USERFAULTFD:     "userfaultfd",
	bpfKrsiHookKRSI_HOOK_PATH_CHROOT:     "path_chroot",
	bpfKrsiHookKRSI_HOOK_ELF_INTERP:      "elf_interp",
	bpfKrsiHookKRSI_HOOK_TASK_ALLOC:      "task_alloc",
	bpfKrsiHookKRSI_HOOK_CGROUP_MKDIR:    "cgroup_mkdir",
	bpfKrsiHookKRSI_HOOK_FILE_FCNTL:      "file_fcntl",
	bpfKrsiHookKRSI_HOOK_FILE_PERMISSION: "file_permission",
	bpfKrsiHookKRSI_HOOK_FILE_IOCTL:      "file_ioctl",
	bpfKrsiHookKRSI_HOOK_INODE_ATTR:      "inode_attr",
	bpfKrsiHookKRSI_HOOK_BPRM_COMMITTING: "bprm_committing_creds",
}

var reasons = map[bpfKrsiReason]string{
	bpfKrsiReasonKRSI_REASON_WX_ANON:            "wx-anonymous",
	bpfKrsiReasonKRSI_REASON_WX_WRITABLE:        "wx-writable",
	bpfKrsiReasonKRSI_REASON_WX_MODIFIED:        "wx-modified",
	bpfKrsiReasonKRSI_REASON_RULE:               "rule",
	bpfKrsiReasonKRSI_REASON_DEFAULT:            "default",
	bpfKrsiReasonKRSI_REASON_FILELESS:           "fileless",
	bpfKrsiReasonKRSI_REASON_NO_PROFILE:         "no-profile",
	bpfKrsiReasonKRSI_REASON_NO_PATH:            "no-path",
	bpfKrsiReasonKRSI_REASON_WX_FILELESS:        "wx-fileless",
	bpfKrsiReasonKRSI_REASON_WX_OPEN_FOR_WRITE:  "wx-open-for-write",
	bpfKrsiReasonKRSI_REASON_WX_WRITTEN:         "wx-written",
	bpfKrsiReasonKRSI_REASON_WX_EXEC_MAPPED:     "wx-exec-mapped",
	bpfKrsiReasonKRSI_REASON_WX_CODE_WRITE:      "wx-code-write",
	bpfKrsiReasonKRSI_REASON_REROOT:             "reroot",
	bpfKrsiReasonKRSI_REASON_WX_KERNEL_OBJECT:   "wx-kernel-object",
	bpfKrsiReasonKRSI_REASON_WX_NO_MARK:         "wx-no-mark",
	bpfKrsiReasonKRSI_REASON_WX_EXEC_STACK:      "wx-exec-stack",
	bpfKrsiReasonKRSI_REASON_CGROUP_ESCAPE:      "cgroup-escape",
	bpfKrsiReasonKRSI_REASON_CGROUP_QUOTA:       "cgroup-quota",
	bpfKrsiReasonKRSI_REASON_RENAME_WIDENS:      "rename-widens",
	bpfKrsiReasonKRSI_REASON_RENAME_MOVES_RULES: "rename-moves-rules",
	bpfKrsiReasonKRSI_REASON_APPLET_UNKNOWN:     "applet-unknown",
	bpfKrsiReasonKRSI_REASON_APPLET_LOADER:      "applet-loader",
}

var actions = map[bpfKrsiAction]string{
	bpfKrsiActionKRSI_ACTION_DENIED:  "denied",
	bpfKrsiActionKRSI_ACTION_AUDITED: "audited",
	bpfKrsiActionKRSI_ACTION_KILLED:  "killed",
}

var eventSize = binary.Size(bpfKrsiEvent{})

// EventReader reads events from the kernel's ring buffer.
type EventReader struct {
	rd *ringbuf.Reader
}

// ErrClosed is wrapped by the error Read returns after Close.
var ErrClosed = enforced.ErrClosed

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
func (r *EventReader) Read() (enforced.Event, error) {
	rec, err := r.rd.Read()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrFlushed) {
			return enforced.Event{}, err
		}
		if errors.Is(err, ringbuf.ErrClosed) {
			return enforced.Event{}, fmt.Errorf("read krsi_events: %w", ErrClosed)
		}
		return enforced.Event{}, fmt.Errorf("read krsi_events: %w", err)
	}
	return decodeEvent(rec.RawSample)
}

func decodeEvent(raw []byte) (enforced.Event, error) {
	if len(raw) < eventSize {
		return enforced.Event{}, fmt.Errorf("event of %d bytes, want at least %d", len(raw), eventSize)
	}
	var ev bpfKrsiEvent
	if err := binary.Read(bytes.NewReader(raw[:eventSize]), binary.NativeEndian, &ev); err != nil {
		return enforced.Event{}, fmt.Errorf("decode event: %w", err)
	}
	pathLen := int(ev.PathLen)
	if pathLen > len(raw)-eventSize {
		pathLen = len(raw) - eventSize
	}
	out := enforced.Event{
		Time:      monotonicToTime(ev.TsNs),
		CgroupID:  ev.CgroupId,
		PID:       ev.Pid,
		TID:       ev.Tid,
		Comm:      cString(ev.Comm[:]),
		ProfileID: enforced.ProfileID(ev.ProfileId),
		Rule:      -1,
		Hook:      hooks[bpfKrsiHook(ev.Hook)],
		Reason:    reasons[bpfKrsiReason(ev.Reason)],
		Action:    actions[bpfKrsiAction(ev.Action)],
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
	if ev.Rule != uint32(bpfKrsiRuleNoneKRSI_RULE_NONE) {
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
