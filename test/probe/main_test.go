package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseChecksSubcommandAndOperands(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string // "" = parses
	}{
		{nil, "no subcommand"},
		{[]string{"nope"}, `unknown subcommand "nope"`},
		{[]string{"mmap-rwx"}, ""},
		{[]string{"mmap-rwx", "extra"}, "mmap-rwx"},
		{[]string{"mmap-file-exec"}, "mmap-file-exec PATH"},
		{[]string{"mmap-file-exec", "/bin/sh"}, ""},
		{[]string{"open", "/etc/passwd"}, "open PATH"},
		{[]string{"open", "/etc/passwd", "r"}, ""},
		{[]string{"exec"}, "exec PATH"},
		{[]string{"exec", "/bin/true"}, ""},
		{[]string{"exec", "/bin/echo", "a", "b", "c"}, ""},
		{[]string{"memfd-exec", "/bin/true", "x"}, ""},
		{[]string{"execveat"}, "execveat PATH"},
		{[]string{"loop", "mprotect"}, "loop"},
		{[]string{"loop", "mprotect", "10"}, ""},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			_, _, err := parse(tc.args)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("parse(%q) = %v, want no error", tc.args, err)
				}
				return
			}
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parse(%q) = %v, want usage error containing %q", tc.args, err, tc.wantErr)
			}
		})
	}
}

func TestOpenFlagsMapsEveryModeLetter(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want int
	}{
		{"r", unix.O_RDONLY},
		{"w", unix.O_WRONLY},
		{"rw", unix.O_RDWR},
		{"a", unix.O_WRONLY | unix.O_APPEND},
		{"c", unix.O_WRONLY | unix.O_CREAT},
		{"t", unix.O_WRONLY | unix.O_TRUNC},
	} {
		got, err := openFlags(tc.mode)
		if err != nil || got != tc.want {
			t.Errorf("openFlags(%q) = %#x, %v; want %#x", tc.mode, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "x", "R", "wr", "rwx"} {
		if _, err := openFlags(bad); err == nil {
			t.Errorf("openFlags(%q) succeeded, want a usage error", bad)
		}
	}
}

func TestReportClassifiesErrnos(t *testing.T) {
	for _, tc := range []struct {
		name     string
		out      string
		err      error
		wantLine string
		wantCode int
	}{
		{"success", "", nil, "ok", exitOK},
		{"success with output", "ns/op 12.5", nil, "ns/op 12.5", exitOK},
		{"EPERM is a denial", "", opErr(unix.EPERM, "mprotect %s", protString(rx)),
			"denied: mprotect PROT_READ|PROT_EXEC : operation not permitted", exitDenied},
		{"EACCES is a denial", "", opErr(unix.EACCES, "open /etc/shadow r"),
			"denied: open /etc/shadow r : permission denied", exitDenied},
		{"wrapped EPERM is a denial", "", fmt.Errorf("outer: %w", opErr(unix.EPERM, "execve /bin/sh")),
			"denied: execve /bin/sh : operation not permitted", exitDenied},
		{"EPERM inside a PathError", "", opErr(&fs.PathError{Op: "open", Path: "/x", Err: unix.EPERM}, "read /x"),
			"denied: read /x : operation not permitted", exitDenied},
		{"ENOENT is an error", "", opErr(unix.ENOENT, "open /nope r"),
			"error: open /nope r: no such file or directory", exitError},
		{"EINVAL is an error", "", opErr(unix.EINVAL, "mmap anon PROT_READ"),
			"error: mmap anon PROT_READ: invalid argument", exitError},
		{"usage error", "", &usageError{"no subcommand"}, "error: usage: no subcommand", exitError},
		{"EPERM without an operation is an error", "", unix.EPERM, "error: operation not permitted", exitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, code := report(tc.out, tc.err)
			if line != tc.wantLine || code != tc.wantCode {
				t.Fatalf("report() = %q, %d; want %q, %d", line, code, tc.wantLine, tc.wantCode)
			}
		})
	}
}

func TestProtString(t *testing.T) {
	for prot, want := range map[int]string{
		0:   "PROT_NONE",
		rw:  "PROT_READ|PROT_WRITE",
		rx:  "PROT_READ|PROT_EXEC",
		rwx: "PROT_READ|PROT_WRITE|PROT_EXEC",
	} {
		if got := protString(prot); got != want {
			t.Errorf("protString(%#x) = %q, want %q", prot, got, want)
		}
	}
}

// The operations below run on the host as they are: with no krsi profile bound,
// nothing denies them.

func TestRunOpenModesOnRealFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"r", "w", "rw", "a"} {
		if line, code := run([]string{"open", file, mode}); line != "ok" || code != exitOK {
			t.Errorf("open %s: %q, %d", mode, line, code)
		}
	}
	if data, _ := os.ReadFile(file); string(data) != "hello" {
		t.Fatalf("modes r/w/rw/a changed the file to %q", data)
	}
	if line, code := run([]string{"open", file, "t"}); line != "ok" || code != exitOK {
		t.Fatalf("open t: %q, %d", line, code)
	}
	if data, _ := os.ReadFile(file); len(data) != 0 {
		t.Fatalf("mode t left %q", data)
	}

	created := filepath.Join(dir, "new")
	if line, code := run([]string{"open", created, "c"}); line != "ok" || code != exitOK {
		t.Fatalf("open c: %q, %d", line, code)
	}
	if st, err := os.Stat(created); err != nil || st.Mode().Perm()&^0o022 != 0o644&^0o022 {
		t.Fatalf("mode c: stat = %v, %v", st, err)
	}

	missing := filepath.Join(dir, "missing")
	line, code := run([]string{"open", missing, "r"})
	if code != exitError || line != "error: open "+missing+" r: no such file or directory" {
		t.Fatalf("open of a missing file: %q, %d", line, code)
	}
	if line, code := run([]string{"open", file, "x"}); code != exitError || !strings.HasPrefix(line, "error: usage:") {
		t.Fatalf("bad mode: %q, %d", line, code)
	}
}

func TestRunMemoryOpsWithoutProfile(t *testing.T) {
	for _, args := range [][]string{
		{"mprotect-rw-rx"},
		{"mmap-rwx"},
		{"mmap-anon-rx"},
		{"mprotect-rwx"},
		{"mmap-file-exec", os.Args[0]},
	} {
		if line, code := run(args); line != "ok" || code != exitOK {
			t.Errorf("%v: %q, %d", args, line, code)
		}
	}
}

func TestRunLoopPrintsNsPerOp(t *testing.T) {
	for _, args := range [][]string{
		{"loop", "open", "3", os.Args[0]},
		{"loop", "mprotect", "4"},
	} {
		line, code := run(args)
		var ns float64
		if code != exitOK || !strings.HasPrefix(line, "ns/op ") {
			t.Fatalf("%v: %q, %d", args, line, code)
		}
		if _, err := fmt.Sscanf(line, "ns/op %g", &ns); err != nil || ns <= 0 {
			t.Fatalf("%v: %q does not parse as ns/op <float>: %v", args, line, err)
		}
	}
	for _, args := range [][]string{
		{"loop", "open", "0", "/etc/passwd"},
		{"loop", "open", "x", "/etc/passwd"},
		{"loop", "open", "3"},
		{"loop", "mprotect", "3", "extra"},
		{"loop", "fly", "3"},
	} {
		if line, code := run(args); code != exitError || !strings.HasPrefix(line, "error: usage:") {
			t.Errorf("%v: %q, %d; want a usage error", args, line, code)
		}
	}
}

func TestRunLoopExecCountsChildFailures(t *testing.T) {
	if _, err := os.Stat("/bin/false"); err != nil {
		t.Skip("no /bin/false")
	}
	if line, code := run([]string{"loop", "exec", "2", "/bin/true"}); code != exitOK || !strings.HasPrefix(line, "ns/op ") {
		t.Fatalf("loop exec /bin/true: %q, %d", line, code)
	}
	line, code := run([]string{"loop", "exec", "2", "/bin/false"})
	if code != exitError || !strings.Contains(line, "exited with status 1") {
		t.Fatalf("loop exec /bin/false: %q, %d", line, code)
	}
	line, code = run([]string{"loop", "exec", "1", "/nonexistent"})
	if code != exitError || !strings.Contains(line, "execve /nonexistent: no such file") {
		t.Fatalf("loop exec of a missing file: %q, %d", line, code)
	}
}
