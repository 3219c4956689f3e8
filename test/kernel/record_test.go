package kernel_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/test/kerneltest"
)

// A sample workload: reads a config, writes its output, lists a directory,
// runs a helper program.
func sampleWorkload(dir string) []string {
	return []string{"/bin/sh", "-c", fmt.Sprintf(
		"cat %[1]s/app.conf >/dev/null && echo done >%[1]s/out/result && ls /bin >/dev/null && %[2]s",
		dir, os.Getenv("KRSI_DYN_TRUE"))}
}

func TestRecordedProfileEnforcesWithZeroDenials(t *testing.T) {
	kerneltest.Require(t)
	krsi := kerneltest.Env(t, "KRSI_BIN")
	kerneltest.Env(t, "KRSI_DYN_TRUE")
	// Outside /tmp, whose entries a recording allows as a whole tree.
	dir, err := os.MkdirTemp("/", "krsi-record-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "app.conf"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(dir, "recorded.yaml")

	r := kerneltest.Run(t, "", append([]string{krsi, "record", "--name", "sample", "-o", profile, "--"}, sampleWorkload(dir)...)...)
	if r.Exit != 0 || !strings.Contains(r.Stderr, "recorded") {
		t.Fatalf("krsi record: %s", r)
	}
	text, _ := os.ReadFile(profile)
	t.Logf("recorded profile:\n%s", text)

	// The same workload under the recorded profile, enforced: no denial.
	r = kerneltest.Run(t, "", append([]string{krsi, "run", "--profile", profile, "--"}, sampleWorkload(dir)...)...)
	if r.Exit != 0 || strings.Contains(r.Stderr, "action=denied") {
		t.Fatalf("the recorded workload under its own profile: %s", r)
	}

	// What the workload never did is denied.
	probe := kerneltest.Env(t, "KRSI_PROBE")
	r = kerneltest.Run(t, "", krsi, "run", "--profile", profile, "--", "/bin/sh", "-c", "cat "+filepath.Join(dir, "secret"))
	if r.Exit == 0 || !strings.Contains(r.Stderr, "path="+filepath.Join(dir, "secret")) {
		t.Fatalf("reading a file the workload never read: %s", r)
	}
	r = kerneltest.Run(t, "", krsi, "run", "--profile", profile, "--", "/bin/sh", "-c", probe+" open /dev/null r")
	if r.Exit == 0 || !strings.Contains(r.Stderr, "hook=bprm_check_security") {
		t.Fatalf("running a program the workload never ran: %s", r)
	}
	r = kerneltest.Run(t, "", krsi, "run", "--profile", profile, "--", "/bin/sh", "-c", "echo x >"+filepath.Join(dir, "app.conf"))
	if r.Exit == 0 || !strings.Contains(r.Stderr, "for write") {
		t.Fatalf("writing a file the workload only read: %s", r)
	}
}
