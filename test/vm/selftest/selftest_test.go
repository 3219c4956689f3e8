// Package selftest guards the VM that krsi's kernel tests run in (test/vm/run.sh):
// the kernel booted is the one asked for, BPF LSM is active, the file systems krsi
// needs are mounted, and the helpers the tests are told about (KRSI_*) are there
// and work. If these fail, the kernel tests' failures say nothing about krsi.
//
// Outside the VM (KRSI_VM unset) every test skips; inside it none may.
package selftest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func inVM(t *testing.T) {
	t.Helper()
	if os.Getenv("KRSI_VM") != "1" {
		t.Skip("not in the krsi test VM (KRSI_VM != 1); run test/vm/run.sh")
	}
}

func TestVMBootedTheRequestedKernel(t *testing.T) {
	inVM(t)
	want := os.Getenv("KRSI_VM_KERNEL") // from krsi.kernel= on the kernel command line
	if want == "" {
		t.Fatal("KRSI_VM_KERNEL is not set: run.sh passes krsi.kernel=<series> on the command line")
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	t.Logf("uname -r: %s", release)
	if !strings.HasPrefix(release, want+".") {
		t.Fatalf("kernel release %q is not of series %s", release, want)
	}
}

func TestVMHasBPFLSMActive(t *testing.T) {
	inVM(t)
	data, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil {
		t.Fatalf("read the LSM list: %v (is securityfs mounted?)", err)
	}
	lsms := strings.Split(strings.TrimSpace(string(data)), ",")
	t.Logf("lsm: %s", strings.Join(lsms, ","))
	for _, l := range lsms {
		if l == "bpf" {
			return
		}
	}
	t.Fatalf("bpf is not in the active LSM list %q", data)
}

func TestVMKernelHasBTF(t *testing.T) {
	inVM(t)
	// CO-RE relocations of krsi's programs are resolved against this.
	if st, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil || st.Size() == 0 {
		t.Fatalf("no kernel BTF at /sys/kernel/btf/vmlinux: %v", err)
	}
}

func TestVMMountsFileSystemsKrsiNeeds(t *testing.T) {
	inVM(t)
	for _, m := range []struct {
		dir   string
		magic int64
	}{
		{"/sys/kernel/security", unix.SECURITYFS_MAGIC},
		{"/sys/fs/bpf", unix.BPF_FS_MAGIC},
		{"/sys/fs/cgroup", unix.CGROUP2_SUPER_MAGIC},
		{"/tmp", unix.TMPFS_MAGIC},
		{"/run", unix.TMPFS_MAGIC},
		{"/proc", unix.PROC_SUPER_MAGIC},
	} {
		var st unix.Statfs_t
		if err := unix.Statfs(m.dir, &st); err != nil {
			t.Errorf("statfs %s: %v", m.dir, err)
			continue
		}
		if st.Type != m.magic {
			t.Errorf("%s has file system magic %#x, want %#x", m.dir, st.Type, m.magic)
		}
	}
}

// Kernel tests put the process under test into a cgroup of their own at clone time
// (CLONE_INTO_CGROUP), the way a container runtime does; check that works here.
func TestVMStartsProcessInNewCgroup(t *testing.T) {
	inVM(t)
	dir, err := os.MkdirTemp("/sys/fs/cgroup", "krsi-selftest-")
	if err != nil {
		t.Fatalf("create a cgroup: %v", err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	cmd := exec.Command("cat", "/proc/self/cgroup")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run cat in %s: %v", dir, err)
	}
	want := "0::/" + filepath.Base(dir) + "\n"
	if string(out) != want {
		t.Fatalf("/proc/self/cgroup in the new cgroup = %q, want %q", out, want)
	}
}

func TestVMProbeRunsAndReportsOK(t *testing.T) {
	inVM(t)
	probe := mustEnvFile(t, "KRSI_PROBE")
	// No profile is bound: W^X-relevant operations must be allowed.
	for _, args := range [][]string{{"mprotect-rw-rx"}, {"mmap-rwx"}, {"open", "/init", "r"}} {
		out, err := exec.Command(probe, args...).Output()
		if err != nil || string(out) != "ok\n" {
			t.Errorf("krsi-probe %v = %q, %v; want ok", args, out, err)
		}
	}
}

func TestVMRunsDynamicBinaryDirectlyAndThroughLoader(t *testing.T) {
	inVM(t)
	dyn := mustEnvFile(t, "KRSI_DYN_TRUE")
	ldso := mustEnvFile(t, "KRSI_LDSO")
	if err := exec.Command(dyn).Run(); err != nil {
		t.Errorf("run %s: %v", dyn, err)
	}
	if err := exec.Command(ldso, dyn).Run(); err != nil {
		t.Errorf("run %s %s: %v", ldso, dyn, err)
	}
	// The probe's view of what ld.so does to it: an executable file mapping.
	probe := mustEnvFile(t, "KRSI_PROBE")
	if out, err := exec.Command(probe, "mmap-file-exec", dyn).Output(); err != nil || !bytes.Equal(out, []byte("ok\n")) {
		t.Errorf("krsi-probe mmap-file-exec %s = %q, %v", dyn, out, err)
	}
}

func TestVMKrsiBinaryIsThereOnceBuilt(t *testing.T) {
	inVM(t)
	bin := os.Getenv("KRSI_BIN")
	if bin == "" {
		t.Fatal("KRSI_BIN is not set")
	}
	st, err := os.Stat(bin)
	if errors.Is(err, fs.ErrNotExist) {
		// run.sh builds it only once ./cmd/krsi has Go files, and warns when not.
		t.Logf("%s is not in the image (./cmd/krsi not written yet?)", bin)
		return
	}
	if err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("%s is not an executable: %v %v", bin, st, err)
	}
}

// mustEnvFile returns the path in environment variable name, failing unless it
// names an existing file.
func mustEnvFile(t *testing.T, name string) string {
	t.Helper()
	path := os.Getenv(name)
	if path == "" {
		t.Fatalf("%s is not set", name)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s=%s: %v", name, path, err)
	}
	return path
}
