package enforcement

import (
	"strings"
	"testing"
)

// A cgroup path too long to stage is refused with its length, and the
// error does not carry the whole path back to the runtime and the log.
func TestHugeCgroupPathIsRefusedWithAShortError(t *testing.T) {
	path := "/k8s.io/" + strings.Repeat("c", 1<<20)
	_, err := cgroupPathKey(path)
	if err == nil {
		t.Fatal("a 1 MiB cgroup path was accepted")
	}
	if want := "1048584 bytes, longer than the 511 that can be staged"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	if len(err.Error()) > 512 {
		t.Errorf("the error is %d bytes long", len(err.Error()))
	}
}
