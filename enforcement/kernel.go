package enforcement

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/cilium/ebpf"
)

// Files the kernel check reads; variables so tests can point them elsewhere.
var (
	lsmListPath = "/sys/kernel/security/lsm"
	btfPath     = "/sys/kernel/btf/vmlinux"
	// goarch is runtime.GOARCH; a variable so tests can ask for arm64's advice.
	goarch = runtime.GOARCH
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

// ErrNoTrampoline: the kernel loads krsi's programs but cannot attach them.
// LSM programs attach through BPF trampolines, which patch a call into the
// hook's entry; where the architecture cannot do that for kernel functions the
// attach fails with ENOTSUPP. arm64 could not until Linux 6.4 (ftrace direct
// calls), so Debian 12's own arm64 kernel, 6.1, cannot run krsi (verified in
// the arm64 VM: every attach fails so).
var ErrNoTrampoline = errors.New("this kernel cannot attach BPF LSM programs")

// attachError says why attaching program name failed. The architecture krsi
// runs on decides the fix it names.
func attachError(name string, err error) error {
	if !errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("attach %s: %w", name, err)
	}
	fix := "use a kernel whose architecture supports BPF trampolines (CONFIG_BPF_JIT, " +
		"CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS)"
	if goarch == "arm64" {
		fix = "use Linux 6.4 or later: arm64 kernels before 6.4 cannot attach BPF trampolines " +
			"to kernel functions (on Debian 12, the 6.12 kernel from bookworm-backports)"
	}
	return &KernelError{
		Missing: fmt.Sprintf("%s (attaching %s fails with ENOTSUPP)", ErrNoTrampoline, name),
		Fix:     fix,
		Kind:    ErrNoTrampoline,
		Err:     err,
	}
}
