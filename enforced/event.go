package enforced

import (
	"errors"
	"time"

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
	Hook   string // file_mprotect, mmap_file, bprm_check_security, file_open, path_unlink, … (the LSM hook)
	Reason string // wx-anonymous, rule, default, fileless, … (docs/events.md)
	Action string // "denied", "audited", or "killed" (after execve's point of no return)
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

// ErrClosed is wrapped by the error of an event reader's Read after its Close.
var ErrClosed = errors.New("event reader closed")
