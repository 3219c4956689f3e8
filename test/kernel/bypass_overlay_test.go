package kernel_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/krsi-dev/krsi/test/kerneltest"
)

// A container's root is an overlay mount. Rules name paths as the container
// sees them, through the overlay; W^X follows a written file into the layer
// underneath, whose file is what mprotect sees (the overlay hands the
// mapping to the layer's file).
func TestBypassOverlay(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	lower := t.TempDir()
	code, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"bin/ok": code, "bin/denied": code, "etc/conf": []byte("setting=original\n"), "lib/code.so": make([]byte, 4096),
	} {
		f := filepath.Join(lower, name)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := kerneltest.Overlay(t, lower)
	in := func(p string) string { return filepath.Join(root, p) }
	self := []string{"open", "/dev/null", "r"} // what the exec'd probe copies do

	execs := writeProfile(t, "exec:\n  deny: ["+in("bin/denied")+"]\n")
	files := writeProfile(t, "files:\n  rules:\n    - path: "+in("etc")+"/**\n      deny: [write]\n")
	tests := []struct {
		name    string
		profile string
		args    []string
		want    verdict
		event   []string
	}{
		{"exec denied by its path in the overlay", execs, append([]string{"exec", in("bin/denied")}, self...),
			denied, []string{"hook=bprm_check_security", "path=" + in("bin/denied")}},
		{"exec of another file of the layer", execs, append([]string{"exec", in("bin/ok")}, self...), allowed, nil},
		{"write under a read-only folder", files, []string{"open", in("etc/conf"), "w"},
			denied, []string{"hook=file_open", "path=" + in("etc/conf")}},
		{"unlink under it (a whiteout in the upper layer)", files, []string{"unlink", in("etc/conf")},
			denied, []string{"hook=path_unlink", "path=" + in("etc/conf")}},
		{"read under it", files, []string{"open", in("etc/conf"), "r"}, allowed, nil},
		{"written, then mapped executable", "builtin/wx", []string{"write-map-rx", in("lib/new.so")},
			denied, []string{"hook=mmap_file", "reason=wx-written"}},
		{"written, mapped read-only, then mprotect executable", "builtin/wx",
			[]string{"write-mprotect-rx", in("lib/new2.so")}, denied, []string{"hook=file_mprotect", "reason=wx-written"}},
		{"a layer's file mapped executable, then opened for writing", "builtin/wx",
			[]string{"map-rx-then-write", in("lib/code.so")}, denied, []string{"hook=file_open", "reason=wx-exec-mapped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, confinedRun(t, tt.profile, tt.args...), tt.want, tt.event...)
		})
	}
	// Without krsi the same operations work: the denials above are krsi's.
	for _, args := range [][]string{
		append([]string{"exec", in("bin/denied")}, self...),
		{"write-mprotect-rx", in("lib/control.so")},
		{"map-rx-then-write", in("lib/code.so")},
		{"unlink", in("etc/conf")},
	} {
		check(t, kerneltest.Run(t, "", append([]string{probe}, args...)...), allowed)
	}
}
