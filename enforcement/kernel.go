package enforcement

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Files the kernel check reads; variables so tests can point them elsewhere.
var (
	lsmListPath = "/sys/kernel/security/lsm"
	btfPath     = "/sys/kernel/btf/vmlinux"
)

// ErrKernel is wrapped by every error that says the kernel cannot enforce.
var ErrKernel = errors.New("kernel cannot run krsi")

// KernelError says what the kernel lacks and how to fix it.
type KernelError struct {
	Missing string
	Fix     string
	Err     error
	// Kind is a sentinel such as ErrLSMRefused, for errors.Is; may be nil.
	Kind error
}

func (e *KernelError) Error() string {
	msg := "kernel cannot run krsi: " + e.Missing
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Fix != "" {
		msg += "; fix: " + e.Fix
	}
	return msg
}

func (e *KernelError) Unwrap() []error { return []error{ErrKernel, e.Kind, e.Err} }

// CheckKernel reports whether BPF LSM is active and kernel BTF is present,
// which krsi needs before it loads anything. It cannot tell whether the kernel
// will accept LSM programs (some refuse them with EPERM though "bpf" is
// listed); Open says so when the load is refused.
func CheckKernel() error {
	data, err := os.ReadFile(lsmListPath)
	if err != nil {
		return &KernelError{
			Missing: "cannot read the active LSM list " + lsmListPath,
			Fix:     "mount securityfs (mount -t securityfs securityfs /sys/kernel/security)",
			Err:     err,
		}
	}
	active := strings.Split(strings.TrimSpace(string(data)), ",")
	found := false
	for _, l := range active {
		found = found || l == "bpf"
	}
	if !found {
		return &KernelError{
			Missing: fmt.Sprintf("BPF LSM is not active (active LSMs: %s)", strings.TrimSpace(string(data))),
			Fix: "boot with bpf in the LSM list, e.g. lsm=" + strings.TrimSpace(string(data)) +
				",bpf on the kernel command line (the kernel needs CONFIG_BPF_LSM=y)",
		}
	}
	if _, err := os.Stat(btfPath); err != nil {
		return &KernelError{
			Missing: "kernel BTF is not available at " + btfPath,
			Fix:     "use a kernel built with CONFIG_DEBUG_INFO_BTF=y",
			Err:     err,
		}
	}
	return nil
}
