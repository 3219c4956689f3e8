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
// (bpf/lib/applet.h). Each route runs through busybox's env applet,
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

// The routes that need a chosen argv[0] or a second thread: the probe's
// exec-argv0 and argv0-race.
func TestBypassExecAppletsArgv0(t *testing.T) {
	kerneltest.Require(t)
	denySh := writeProfile(t, "exec:\n  applets:\n    - binary: "+busybox+"\n      deny: [sh, ash, wget]\n")
	allowSh := writeProfile(t, "exec:\n  applets:\n    - binary: "+busybox+"\n      deny: [wget]\n")
	dir := t.TempDir()
	other := filepath.Join(dir, "harmless")
	if err := os.Symlink(busybox, other); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		profile string
		args    func(d string) []string
		event   []string
		control string
	}{
		{"a link of another name, argv[0] sh", denySh, func(string) []string {
			return []string{"exec-argv0", "path", other, "sh", "-c", "exit 0"}
		}, []string{"hook=bprm_check_security", "applet=sh", "invoked=" + other, "path=" + busybox}, allowSh},
		{"argv[0] a path ending in sh", denySh, func(string) []string {
			return []string{"exec-argv0", "path", busybox, "/no/such/dir/sh", "-c", "exit 0"}
		}, []string{"applet=sh"}, allowSh},
		{"a login shell's -sh", denySh, func(string) []string {
			return []string{"exec-argv0", "path", busybox, "-sh", "-c", "exit 0"}
		}, []string{"applet=sh"}, allowSh},
		{"via /proc/self/fd/N", denySh, func(string) []string {
			return []string{"exec-argv0", "procfd", busybox, "sh", "-c", "exit 0"}
		}, []string{"applet=sh", "path=" + busybox}, allowSh},
		{"via execveat(AT_EMPTY_PATH)", denySh, func(string) []string {
			return []string{"exec-argv0", "execveat", busybox, "sh", "-c", "exit 0"}
		}, []string{"applet=sh", "path=" + busybox}, allowSh},
		// A copy has another path, which no applet rule names: W^X stops a
		// binary the container wrote (builtin/no-shell has W^X); an allow list
		// stops it too (TestBypassExec).
		{"a copy named sh, under builtin/no-shell", "builtin/no-shell", func(d string) []string {
			return []string{"copy-exec", busybox, filepath.Join(d, "sh"), "-c", "exit 0"}
		}, []string{"hook=bprm_check_security", "reason=wx-written"}, allowSh},
		// Any applet rule keeps the binary at its path: the control has none.
		{"a hard link made inside", denySh, func(d string) []string {
			return []string{"link", busybox, "/bin/busybox-link"}
		}, []string{"hook=path_link", "path=" + busybox}, writeProfile(t, "exec:\n  deny: [/nonexistent]\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := confinedRun(t, tt.profile, tt.args(t.TempDir())...)
			if !strings.HasPrefix(r.Stdout, "denied:") {
				t.Fatalf("want the exec denied with EPERM; got %s", r)
			}
			for _, f := range append([]string{"action=denied"}, tt.event...) {
				if !strings.Contains(r.Stderr, f) {
					t.Fatalf("krsi's event lacks %q: %s", f, r.Stderr)
				}
			}
			if r := confinedRun(t, tt.control, tt.args(t.TempDir())...); r.Exit != 0 {
				t.Fatalf("control: the same exec with the applet allowed failed: %s", r)
			}
			os.Remove("/bin/busybox-link")
		})
	}
}

// A second thread flips argv[0] between "true" and "sh" while the exec is
// in flight: the check before the point of no return may read "true" while
// the kernel copies "sh". The copy is what busybox runs, and what the check
// after the point of no return reads: sh never runs (killed), and the
// control shows that the race does reach sh without the rule.
func TestBypassExecAppletsArgv0Race(t *testing.T) {
	kerneltest.Require(t)
	denySh := writeProfile(t, "exec:\n  applets:\n    - binary: "+busybox+"\n      deny: [sh]\n")
	allowSh := writeProfile(t, "exec:\n  applets:\n    - binary: "+busybox+"\n      deny: [wget]\n")
	const n = "200"

	r := confinedRun(t, denySh, "argv0-race", busybox, "true", "sh", n)
	if r.Exit != 0 || !strings.Contains(r.Stdout, "ran-bad=0 ") {
		t.Fatalf("sh ran under a rule that denies it: %s", r)
	}
	t.Logf("denied: %s", r.Stdout)
	if strings.Contains(r.Stdout, "killed=0 ") {
		t.Logf("no exec reached the check after the point of no return in %s tries", n)
	} else if !strings.Contains(r.Stderr, "action=killed") {
		t.Errorf("killed without an event: %s", r)
	}
	c := confinedRun(t, allowSh, "argv0-race", busybox, "true", "sh", n)
	if c.Exit != 0 || strings.Contains(c.Stdout, "ran-bad=0 ") {
		t.Fatalf("control: the race never ran sh with sh allowed: %s", c)
	}
	t.Logf("control: %s", c.Stdout)
}
