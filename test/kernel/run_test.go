// Package kernel_test drives the kernel side as a user does: `krsi run` with a
// profile, a real process (krsi-probe) in the transient cgroup, and the
// verdict the kernel gave it. These tests run in the VM suite (make test-vm).
package kernel_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/test/kerneltest"
	"golang.org/x/sys/unix"
)

// krsiRun runs `krsi run --profile profile [extra...] -- krsi-probe probeArgs...`.
func krsiRun(t *testing.T, profile string, extra []string, probeArgs ...string) kerneltest.Result {
	t.Helper()
	argv := append([]string{kerneltest.Env(t, "KRSI_BIN"), "run", "--profile", profile}, extra...)
	argv = append(argv, "--", kerneltest.Env(t, "KRSI_PROBE"))
	return kerneltest.Run(t, "", append(argv, probeArgs...)...)
}

// writeProfile writes a profile file with the given body under a standard header.
func writeProfile(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "p.yaml")
	text := "apiVersion: krsi.dev/v1\nkind: Profile\nname: test\n" + body
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

type verdict int

const (
	allowed verdict = iota
	denied
)

// check asserts the probe's verdict, and for a denial that krsi reported it
// with every field in wantEvent ("hook=file_open", "reason=rule", ...).
func check(t *testing.T, r kerneltest.Result, want verdict, wantEvent ...string) {
	t.Helper()
	switch want {
	case allowed:
		if !r.OK() {
			t.Fatalf("want the operation allowed; got %s", r)
		}
		if strings.Contains(r.Stderr, "action=denied") {
			t.Fatalf("allowed, but krsi reported a denial: %s", r.Stderr)
		}
	case denied:
		if !r.Denied() {
			t.Fatalf("want EPERM from the kernel; got %s", r)
		}
		if !strings.Contains(r.Stdout, "operation not permitted") {
			t.Fatalf("want EPERM, not another errno: %s", r)
		}
	}
	for _, f := range wantEvent {
		if !strings.Contains(r.Stderr, f) {
			t.Fatalf("krsi's event lacks %q: %s", f, r.Stderr)
		}
	}
}

func TestWXDeniesMakingMemoryExecutable(t *testing.T) {
	kerneltest.Require(t)
	tests := []struct {
		name   string
		probe  []string
		reason string
		hook   string
	}{
		{"mprotect RW to RX", []string{"mprotect-rw-rx"}, "reason=wx-anonymous", "hook=file_mprotect"},
		{"mprotect RW to RWX", []string{"mprotect-rwx"}, "reason=wx-writable", "hook=file_mprotect"},
		{"anonymous RWX mmap", []string{"mmap-rwx"}, "reason=wx-anonymous", "hook=mmap_file"},
		{"anonymous RX mmap", []string{"mmap-anon-rx"}, "reason=wx-anonymous", "hook=mmap_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := confinedRun(t, "builtin/wx", tt.probe...)
			check(t, r, denied, tt.reason, tt.hook, "action=denied", "profile=builtin/wx", "comm=krsi-probe")
		})
	}
}

func TestWXAllowedWithoutKrsiAndUnderJITProfile(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	check(t, kerneltest.Run(t, "", probe, "mprotect-rw-rx"), allowed)
	check(t, kerneltest.Run(t, "", probe, "mmap-rwx"), allowed)

	jit := writeProfile(t, "memory:\n  wx: allow\nexec:\n  deny: [/nonexistent]\n")
	check(t, krsiRun(t, jit, nil, "mprotect-rw-rx"), allowed)
	check(t, krsiRun(t, jit, nil, "mmap-rwx"), allowed)
}

func TestWXAllowsExecutableFileMappings(t *testing.T) {
	kerneltest.Require(t)
	// A read-only file mapped executable is how every program and library
	// is loaded: W^X must not touch it.
	check(t, krsiRun(t, "builtin/wx", nil, "mmap-file-exec", kerneltest.Env(t, "KRSI_PROBE")), allowed)
}

func TestAuditModeReportsAndAllows(t *testing.T) {
	kerneltest.Require(t)
	r := krsiRun(t, "builtin/wx", []string{"--mode", "audit"}, "mprotect-rw-rx")
	check(t, r, allowed)
	for _, f := range []string{"action=audited", "reason=wx-anonymous", "would deny"} {
		if !strings.Contains(r.Stderr, f) {
			t.Fatalf("audit event lacks %q: %s", f, r.Stderr)
		}
	}
}

func TestAuditModeFromTheProfile(t *testing.T) {
	kerneltest.Require(t)
	p := writeProfile(t, "mode: audit\nexec:\n  deny: [/usr/local/dyn/true]\n")
	r := krsiRun(t, p, nil, "exec", kerneltest.Env(t, "KRSI_DYN_TRUE"))
	if r.Exit != 0 || !strings.Contains(r.Stderr, "action=audited") {
		t.Fatalf("want the exec allowed and audited; got %s", r)
	}
}

func TestRunJSONEvents(t *testing.T) {
	kerneltest.Require(t)
	r := krsiRun(t, "builtin/wx", []string{"--log-format", "json"}, "mmap-rwx")
	check(t, r, denied, `"hook":"mmap_file"`, `"action":"denied"`, `"profile":"builtin/wx"`)
}

func TestRunExitsWithTheCommandsStatus(t *testing.T) {
	kerneltest.Require(t)
	r := krsiRun(t, "builtin/wx", nil, "exec", kerneltest.Env(t, "KRSI_DYN_TRUE"))
	if r.Exit != 0 {
		t.Fatalf("true under krsi: %s", r)
	}
	r = krsiRun(t, "builtin/wx", nil, "no-such-subcommand")
	if r.Exit != 2 {
		t.Fatalf("want the probe's usage status 2; got %s", r)
	}
	r = kerneltest.Run(t, "", kerneltest.Env(t, "KRSI_BIN"), "run", "--profile", "builtin/nope", "--", "true")
	if r.Exit != 125 || !strings.Contains(r.Stderr, `unknown builtin profile "nope"`) {
		t.Fatalf("want krsi's own error (125) listing the built-ins; got %s", r)
	}
}

// krsi run attaches the programs its profile's rules need, --all-programs
// every one, as the node's daemon does. Counted from the command, as the bpf
// links krsi run (its parent) holds open.
func TestRunAttachesWhatTheProfileNeeds(t *testing.T) {
	kerneltest.Require(t)
	count := "ls -l /proc/$PPID/fd | grep -c bpf_link"
	// Every profile: cgroup mkdir/rmdir, file_open and file_receive (cgroup.procs
	// moves) and task_alloc (CLONE_INTO_CGROUP). All: 34 programs less the hook
	// variants a kernel has not (6.1: inode_setattr's idmap form and the two ACL
	// hooks of 6.2; 6.12: inode_setattr's old form).
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	all := "33"
	if strings.HasPrefix(unix.ByteSliceToString(uts.Release[:]), "6.1.") {
		all = "31"
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		// the five above, file_mprotect, mmap_file, bprm_check (W^X of ELF
		// programs), exec_stage_reset, four krsi_wx_* (ptrace twice, shm, userfaultfd)
		{[]string{"--profile", "builtin/wx"}, "13"},
		// the five, bprm_check, the exec mapping, exec_stage_reset, link, rename, chroot
		{[]string{"--profile", writeProfile(t, "exec:\n  deny: [/usr/bin/nope]\n")}, "11"},
		{[]string{"--profile", "builtin/wx", "--all-programs"}, all},
	} {
		argv := append([]string{kerneltest.Env(t, "KRSI_BIN"), "run"}, tt.args...)
		r := kerneltest.Run(t, "", append(argv, "--", "/bin/sh", "-c", count)...)
		if got := strings.TrimSpace(r.Stdout); r.Exit != 0 || got != tt.want {
			t.Errorf("krsi run %v: %s bpf links (%s); want %s", tt.args, got, r, tt.want)
		}
	}
}

func TestRunLeavesNoCgroupBehind(t *testing.T) {
	kerneltest.Require(t)
	krsiRun(t, "builtin/wx", nil, "mprotect-rw-rx")
	entries, _ := filepath.Glob("/sys/fs/cgroup/krsi/run-*")
	if len(entries) != 0 {
		t.Fatalf("transient cgroups left behind: %v", entries)
	}
}

func TestHostUntouchedWhileAProfileIsEnforced(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(data, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := writeProfile(t, fmt.Sprintf(`memory:
  wx: deny
exec:
  deny: [/usr/local/dyn/true]
files:
  rules:
    - path: %s
      deny: [write]
`, data))
	// A confined process that lives while the host acts.
	// It lives until the host is done (the file done), however slow the VM.
	started, done := filepath.Join(dir, "started"), filepath.Join(dir, "done")
	cmd := fmt.Sprintf("touch %s; while [ ! -e %s ]; do sleep 0.1; done", started, done)
	t.Cleanup(func() { _ = os.WriteFile(done, nil, 0o644) }) // a failed test stops it too
	bg := make(chan kerneltest.Result, 1)
	go func() {
		bg <- kerneltest.Run(t, "", kerneltest.Env(t, "KRSI_BIN"), "run", "--profile", p, "--", "/bin/sh", "-c", cmd)
	}()
	waitFor(t, started)

	probe := kerneltest.Env(t, "KRSI_PROBE")
	check(t, kerneltest.Run(t, "", probe, "mprotect-rw-rx"), allowed)
	check(t, kerneltest.Run(t, "", probe, "open", data, "w"), allowed)
	if r := kerneltest.Run(t, "", probe, "exec", kerneltest.Env(t, "KRSI_DYN_TRUE")); r.Exit != 0 {
		t.Fatalf("host exec of a binary the profile denies: %s", r)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := <-bg; r.Exit != 0 {
		t.Fatalf("confined sleeper: %s", r)
	}
}
