package kerneltest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Overlay mounts an overlay file system, as a container runtime mounts a
// container's root: lower is its read-only layer, an empty upper layer takes
// the writes. It returns the mount point, unmounted at the end of the test.
// Debian's kernels build overlayfs as a module: the VM image carries it as
// /lib/modules/<release>/overlay.ko (test/vm/run.sh), loaded here on first use.
func Overlay(tb testing.TB, lower string) string {
	tb.Helper()
	dir := tb.TempDir()
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	err := unix.Mount("overlay", merged, "overlay", 0, opts)
	if errors.Is(err, unix.ENODEV) {
		if lerr := loadOverlayModule(); lerr != nil {
			if InVM() {
				tb.Fatalf("mount overlay: %v; and %v", err, lerr)
			}
			tb.Skipf("this kernel has no overlay file system: %v", lerr)
		}
		err = unix.Mount("overlay", merged, "overlay", 0, opts)
	}
	if err != nil {
		tb.Fatalf("mount -t overlay -o %s overlay %s: %v", opts, merged, err)
	}
	tb.Cleanup(func() { _ = unix.Unmount(merged, unix.MNT_DETACH) })
	return merged
}

func loadOverlayModule() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return err
	}
	ko := filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]), "overlay.ko")
	f, err := os.Open(ko)
	if err != nil {
		return fmt.Errorf("load the overlay module: %w", err)
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load %s: %w", ko, err)
	}
	return nil
}
