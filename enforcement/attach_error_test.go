package enforcement

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
)

// An arm64 kernel before 6.4 (Debian 12's own 6.1) loads the programs and
// refuses every attach with ENOTSUPP, which cilium/ebpf reports as
// ErrNotSupported: krsi must name the kernel as the cause and the fix, on
// arm64 the version to move to.
func TestAttachNotSupportedSaysTheKernelCannotAndHowToFix(t *testing.T) {
	notSupp := fmt.Errorf("create raw tracepoint: %w", ebpf.ErrNotSupported) // as link.AttachLSM wraps it
	for _, tc := range []struct {
		arch string
		want string
	}{
		{"arm64", "use Linux 6.4 or later"},
		{"amd64", "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS"},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			defer func(old string) { goarch = old }(goarch)
			goarch = tc.arch
			err := attachError("krsi_file_mprotect", notSupp)
			if !errors.Is(err, ErrKernel) || !errors.Is(err, ErrNoTrampoline) || !errors.Is(err, ebpf.ErrNotSupported) {
				t.Fatalf("err = %v; want a KernelError of kind ErrNoTrampoline wrapping ErrNotSupported", err)
			}
			for _, s := range []string{"krsi_file_mprotect", "ENOTSUPP", tc.want} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %q; want it to contain %q", err, s)
				}
			}
		})
	}
	// Any other failure stays an attach error of that program.
	err := attachError("krsi_file_open", syscall.EBUSY)
	if errors.Is(err, ErrKernel) || !errors.Is(err, syscall.EBUSY) || !strings.HasPrefix(err.Error(), "attach krsi_file_open: ") {
		t.Errorf("err = %v; want \"attach krsi_file_open: ...\" wrapping EBUSY", err)
	}
}
