package kernel_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krsi-dev/krsi/test/kerneltest"
)

// waitFor waits for a file a confined command creates once it runs. Up to
// 90 s: under emulation `krsi run` loads and verifies its programs first
// (~20 s for a profile with every rule kind, more with another VM running).
func waitFor(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 1800; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not appear in 90s", path)
}

// goRuntimeReads are the files rules a Go program (the probe) needs under a
// default-deny files section: the runtime reads these at start-up.
const goRuntimeReads = `    - path: /proc/**
      allow: [read]
    - path: /sys/kernel/mm/**
      allow: [read]
`

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

func TestExecDenyList(t *testing.T) {
	kerneltest.Require(t)
	tru := kerneltest.Env(t, "KRSI_DYN_TRUE")
	probe := kerneltest.Env(t, "KRSI_PROBE")
	p := writeProfile(t, "exec:\n  deny: ["+tru+"]\n")
	link := symlink(t, tru, filepath.Join(t.TempDir(), "innocent"))

	tests := []struct {
		name  string
		probe []string
		want  verdict
		event []string
	}{
		{"listed binary", []string{"exec", tru}, denied,
			[]string{"hook=bprm_check_security", "path=" + tru, "reason=rule", `rule="exec.deny[0]: ` + tru}},
		{"via a symlink", []string{"exec", link}, denied, []string{"path=" + tru}},
		{"via execveat of an O_PATH fd", []string{"execveat", tru}, denied, []string{"path=" + tru}},
		{"unlisted binary", []string{"exec", probe, "open", "/dev/null", "r"}, allowed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, confinedRun(t, p, tt.probe...), tt.want, tt.event...)
		})
	}
}

func TestExecDeniedViaLdSo(t *testing.T) {
	kerneltest.Require(t)
	tru := kerneltest.Env(t, "KRSI_DYN_TRUE")
	ldso := kerneltest.Env(t, "KRSI_LDSO")

	// The dynamic loader itself is allowed; mapping the denied binary
	// executable is what mmap_file refuses.
	p := writeProfile(t, "exec:\n  deny: ["+tru+"]\n")
	r := confinedRun(t, p, "exec", ldso, tru)
	if r.Exit == 0 || !strings.Contains(r.Stderr, "hook=mmap_file") || !strings.Contains(r.Stderr, "path="+tru) {
		t.Fatalf("want ld.so %s refused by mmap_file; got %s", tru, r)
	}

	free := writeProfile(t, "exec:\n  deny: [/nonexistent]\n")
	if r := confinedRun(t, free, "exec", ldso, tru); r.Exit != 0 {
		t.Fatalf("ld.so %s under a profile that allows it: %s", tru, r)
	}
}

func TestExecAllowList(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	tru := kerneltest.Env(t, "KRSI_DYN_TRUE")
	// The probe must be allowed: krsi run's own exec of it is checked.
	p := writeProfile(t, fmt.Sprintf("exec:\n  allow: [%s]\n", probe))

	check(t, confinedRun(t, p, "exec", probe, "open", "/dev/null", "r"), allowed)
	check(t, confinedRun(t, p, "exec", tru), denied, "reason=default", "path="+tru)
	check(t, confinedRun(t, p, "exec", "/bin/sh", "-c", "true"), denied, "path=/bin/busybox")
}

func TestExecFirstInstructionIsConfined(t *testing.T) {
	kerneltest.Require(t)
	// krsi run's own exec of the command is the first thing the cgroup does:
	// a denied command never starts.
	p := writeProfile(t, "exec:\n  deny: ["+kerneltest.Env(t, "KRSI_PROBE")+"]\n")
	r := krsiRun(t, p, nil, "open", "/dev/null", "r")
	if r.Exit == 0 || strings.Contains(r.Stdout, "ok") || !strings.Contains(r.Stderr, "hook=bprm_check_security") {
		t.Fatalf("want the command's own exec denied; got %s", r)
	}
}

func TestExecFilelessDenied(t *testing.T) {
	kerneltest.Require(t)
	probe := kerneltest.Env(t, "KRSI_PROBE")
	strict := writeProfile(t, "exec:\n  fileless: deny\n")
	check(t, confinedRun(t, strict, "memfd-exec", probe, "open", "/dev/null", "r"), denied,
		"reason=fileless", "/memfd:krsi-probe (deleted)")

	lax := writeProfile(t, "exec:\n  deny: [/nonexistent]\n")
	check(t, confinedRun(t, lax, "memfd-exec", probe, "open", "/dev/null", "r"), allowed)
}

func TestFileRulesPerAccessMode(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	logf := filepath.Join(dir, "log")
	for _, f := range []string{data, logf} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := writeProfile(t, fmt.Sprintf(`files:
  rules:
    - path: %s
      allow: [read]
      deny: [write]
`, data))
	// Append-only: a log that can be added to, never rewritten.
	appendOnly := writeProfile(t, fmt.Sprintf(`files:
  default: deny
  rules:
    - path: %s
      allow: [read, append]
`+goRuntimeReads, logf))
	link := symlink(t, data, filepath.Join(dir, "link"))

	tests := []struct {
		profile, path, mode string
		want                verdict
	}{
		{p, data, "r", allowed},
		{p, data, "w", denied},
		{p, data, "rw", denied},
		{p, data, "a", denied},
		{p, data, "t", denied},
		{p, data, "c", denied},
		{p, link, "r", allowed},
		{p, link, "w", denied},
		{appendOnly, logf, "r", allowed},
		{appendOnly, logf, "a", allowed},
		{appendOnly, logf, "w", denied},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path)+"/"+tt.mode, func(t *testing.T) {
			var ev []string
			if tt.want == denied {
				resolved := tt.path
				if tt.path == link {
					resolved = data // the kernel reports the path it resolved
				}
				ev = []string{"hook=file_open", "path=" + resolved}
			}
			check(t, confinedRun(t, tt.profile, "open", tt.path, tt.mode), tt.want, ev...)
		})
	}
}

func TestFilePrefixRules(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	mk := func(rel string) string { return writeFileUnder(t, dir, rel) }
	p := writeProfile(t, fmt.Sprintf(`files:
  rules:
    - path: %[1]s/tree/**
      deny: [write]
    - path: %[1]s/tree/open/**
      allow: [write]
    - path: %[1]s/flat/*
      deny: [write]
`, dir))
	tests := []struct {
		file string
		want verdict
	}{
		{mk("tree/a"), denied},
		{mk("tree/x/y/z"), denied},
		{mk("tree/open/a"), allowed},   // a deeper subtree rule wins
		{mk("tree/open/x/y"), allowed}, // at any depth below it
		{mk("flat/a"), denied},         // children of flat
		{mk("flat/sub/a"), allowed},    // not grandchildren
		{mk("treehouse"), allowed},     // a prefix only at a '/' boundary
		{mk("other/a"), allowed},
	}
	for _, tt := range tests {
		rel, _ := filepath.Rel(dir, tt.file)
		t.Run(rel, func(t *testing.T) {
			check(t, confinedRun(t, p, "open", tt.file, "w"), tt.want)
		})
	}
}

func TestFileDefaultDeny(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := writeProfile(t, fmt.Sprintf("files:\n  default: deny\n  rules:\n    - path: %s\n      allow: [read]\n"+goRuntimeReads, a))
	check(t, confinedRun(t, p, "open", a, "r"), allowed)
	check(t, confinedRun(t, p, "open", b, "r"), denied, "reason=default", "path="+b)
	check(t, confinedRun(t, p, "open", a, "w"), denied, "reason=default")
}

func TestBuiltinReadonlyRoot(t *testing.T) {
	kerneltest.Require(t)
	// Outside the writable trees; made by the test, outside the cgroup.
	f := "/krsi-readonly-test"
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f) })
	check(t, confinedRun(t, "builtin/readonly-root", "open", f, "r"), allowed)
	check(t, confinedRun(t, "builtin/readonly-root", "open", f, "w"), denied)
	check(t, confinedRun(t, "builtin/readonly-root", "open", f, "a"), denied)
	check(t, confinedRun(t, "builtin/readonly-root", "open", "/etc/krsi-new", "c"), denied)
	check(t, confinedRun(t, "builtin/readonly-root", "open", filepath.Join(t.TempDir(), "f"), "c"), allowed)
	check(t, confinedRun(t, "builtin/readonly-root", "open", "/dev/null", "w"), allowed)
}

func TestBuiltinNoShell(t *testing.T) {
	kerneltest.Require(t)
	check(t, confinedRun(t, "builtin/no-shell", "exec", "/bin/sh", "-c", "true"), denied, "path=/bin/busybox",
		"applet=sh", "invoked=/bin/sh")
	if r := confinedRun(t, "builtin/no-shell", "exec", kerneltest.Env(t, "KRSI_DYN_TRUE")); r.Exit != 0 {
		t.Fatalf("a non-shell program under no-shell: %s", r)
	}
}
