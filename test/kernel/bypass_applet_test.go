package kernel_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/test/kerneltest"
)

// Multi-call binaries (busybox): the applet the new program runs is what
// exec.applets decides, whatever name or route reached the binary
// (bpf/include/krsi_applet.h). Each route runs through busybox's env applet,
// which execs its arguments; env itself is allowed.

const busybox = "/bin/busybox"

func TestBypassExecApplets(t *testing.T) {
	kerneltest.Require(t)
	denySh := writeProfile(t, "exec:\n  applets:\n    - binary: "+busybox+"\n      deny: [sh, ash, wget]\n")
	allowSh := writeProfile(t, "exec:\n  applets:\n    - binary: "+busybox+"\n      deny: [wget]\n")
	onlyLs := writeProfile(t, "exec:\n  applets:\n    - binary: "+busybox+"\n      allow: [env, true]\n")

	dir := t.TempDir()
	if err := os.Symlink(busybox, filepath.Join(dir, "sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(busybox, filepath.Join(dir, "harmless")); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!"+busybox+" sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		profile string
		argv    []string
		killed  bool // decided after the point of no return
		event   []string
		control string
	}{
		{"a link named after the applet", denySh, []string{filepath.Join(dir, "sh"), "-c", "exit 0"}, false,
			[]string{"hook=bprm_check_security", "path=" + busybox, "applet=sh", "invoked=" + filepath.Join(dir, "sh"), "comm=sh"}, allowSh},
		{"busybox APPLET", denySh, []string{busybox, "sh", "-c", "exit 0"}, false,
			[]string{"hook=bprm_check_security", "applet=sh"}, allowSh},
		{"busybox busybox APPLET", denySh, []string{busybox, "busybox", "sh", "-c", "exit 0"}, false,
			[]string{"applet=sh"}, allowSh},
		{"busybox --help APPLET is judged as APPLET", onlyLs, []string{busybox, "--help", "sh"}, false,
			[]string{"applet=sh", "reason=default"}, ""},
		{"a #! script whose interpreter line names the applet", denySh, []string{script}, true,
			[]string{"hook=bprm_committing_creds", "action=killed", "applet=sh"}, allowSh},
		{"an allow list of applets", onlyLs, []string{busybox, "wget", "--help"}, false,
			[]string{"reason=default", "applet=wget"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			run := func(profile string) kerneltest.Result {
				argv := append([]string{kerneltest.Env(t, "KRSI_BIN"), "run", "--profile", profile, "--", busybox, "env"}, tt.argv...)
				return kerneltest.Run(t, "", argv...)
			}
			r := run(tt.profile)
			if r.Exit == 0 {
				t.Fatalf("want the applet denied; got %s", r)
			}
			action := "action=denied"
			if tt.killed {
				action = "action=killed"
			}
			for _, f := range append([]string{action}, tt.event...) {
				if !strings.Contains(r.Stderr, f) {
					t.Fatalf("krsi's event lacks %q: %s", f, r.Stderr)
				}
			}
			if tt.control == "" {
				return
			}
			if r := run(tt.control); r.Exit != 0 {
				t.Fatalf("control: the same exec with the applet allowed failed: %s", r)
			}
		})
	}
}

// Applets the profile does not deny keep working through busybox: the
// point of applet rules (builtin/no-shell on a busybox image).
func TestExecAppletsAllowedRun(t *testing.T) {
	kerneltest.Require(t)
	for _, argv := range [][]string{{busybox, "true"}, {busybox, "env", busybox, "ls", "/"}, {busybox, "env", busybox, "cat", "/proc/self/comm"}} {
		r := kerneltest.Run(t, "", append([]string{kerneltest.Env(t, "KRSI_BIN"), "run", "--profile", "builtin/no-shell", "--"}, argv...)...)
		if r.Exit != 0 {
			t.Errorf("%v under builtin/no-shell: %s", argv, r)
		}
	}
	r := kerneltest.Run(t, "", kerneltest.Env(t, "KRSI_BIN"), "run", "--profile", "builtin/no-shell", "--", busybox, "env", busybox, "sh", "-c", "exit 0")
	if r.Exit == 0 || !strings.Contains(r.Stderr, "applet=sh") {
		t.Errorf("busybox sh under builtin/no-shell: want denied, got %s", r)
	}
}
