package enforcement

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/test/kerneltest"
)

func TestCheckKernelSaysWhatIsMissingAndHowToFix(t *testing.T) {
	dir := t.TempDir()
	lsm := filepath.Join(dir, "lsm")
	btf := filepath.Join(dir, "vmlinux")
	tests := []struct {
		name    string
		lsm     string // "" = file absent
		btf     bool
		wantErr []string
	}{
		{"securityfs not mounted", "", true, []string{"cannot read the active LSM list", "mount -t securityfs"}},
		{"bpf not in the LSM list", "lockdown,capability,apparmor", true,
			[]string{"BPF LSM is not active", "lsm=lockdown,capability,apparmor,bpf"}},
		{"no BTF", "capability,bpf", false, []string{"kernel BTF is not available", "CONFIG_DEBUG_INFO_BTF"}},
		{"all there", "lockdown,capability,landlock,bpf", true, nil},
	}
	defer func(l, b string) { lsmListPath, btfPath = l, b }(lsmListPath, btfPath)
	lsmListPath, btfPath = lsm, btf
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(lsm)
			os.Remove(btf)
			if tt.lsm != "" {
				os.WriteFile(lsm, []byte(tt.lsm), 0o644)
			}
			if tt.btf {
				os.WriteFile(btf, nil, 0o644)
			}
			err := CheckKernel()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrKernel) {
				t.Fatalf("err = %v, want a kernel error", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// Open either enforces or says plainly why it cannot: on a kernel that lists
// bpf but refuses LSM programs (this project's build machines) it must name
// the refusal, not fail obscurely. In the VM suite it must succeed.
func TestOpenEnforcesOrExplainsWhyNot(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	e, err := Open(Options{})
	if err == nil {
		e.Close()
		return
	}
	if kerneltest.InVM() {
		t.Fatalf("Open in the VM: %v", err)
	}
	if !errors.Is(err, ErrKernel) {
		t.Fatalf("err = %v; want a KernelError that says what is missing", err)
	}
	if CheckKernel() == nil && (!errors.Is(err, ErrLSMRefused) || !strings.Contains(err.Error(), "EPERM")) {
		t.Fatalf("err = %v; want ErrLSMRefused naming EPERM", err)
	}
}

func TestPathHashSeparatesPathsAndSeeds(t *testing.T) {
	a1, a2 := pathHash(1, 2, "/usr/bin/")
	b1, b2 := pathHash(1, 2, "/usr/bin/x")
	c1, c2 := pathHash(3, 4, "/usr/bin/")
	if a1 == b1 || a2 == b2 || a1 == c1 || a2 == c2 {
		t.Fatalf("hashes collide: %x %x %x %x %x %x", a1, a2, b1, b2, c1, c2)
	}
	// Incremental, as the kernel computes it byte by byte along the path.
	p1, p2 := pathHash(1, 2, "/usr/")
	h1, h2 := p1, p2
	for _, c := range []byte("bin/") {
		h1 = (h1 ^ uint64(c)) * h1Prime
		h2 = (h2 ^ uint64(c)) * h2Mult
		h2 ^= h2 >> 32
	}
	if h1 != a1 || h2 != a2 {
		t.Fatal("hash of a path is not its prefix's hash continued")
	}
}

func TestStagePathLimits(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"/kubepods/pod1/ctr", true},
		{"kubepods/pod1", false},
		{"", false},
		{"/" + strings.Repeat("a", 510), true},
		{"/" + strings.Repeat("a", 511), false},
	}
	for _, tt := range tests {
		if _, err := cgroupPathKey(tt.path); (err == nil) != tt.ok {
			t.Errorf("cgroupPathKey(%.20q...) err = %v, want ok=%v", tt.path, err, tt.ok)
		}
	}
}
