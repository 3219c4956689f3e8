package enforcement

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"runtime"
	"testing"
)

func TestObjectIDIsTheHashOfTheCommittedObject(t *testing.T) {
	// The VM suite runs this binary without the source tree: there the
	// format is checked, and the hash by the unit run on the host.
	obj := map[string]string{"amd64": "bpf_x86_bpfel.o", "arm64": "bpf_arm64_bpfel.o"}[runtime.GOARCH]
	if obj == "" {
		t.Fatalf("no BPF object for GOARCH %s (enforcement/gen.go builds amd64 and arm64)", runtime.GOARCH)
	}
	data, err := os.ReadFile(obj)
	switch {
	case err == nil:
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])[:12]
		if got := ObjectID(); got != want {
			t.Errorf("ObjectID() = %q, want %q (sha256 of %s)", got, want, obj)
		}
	case !(os.IsNotExist(err) && os.Getenv("KRSI_VM") == "1"):
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(ObjectID()) {
		t.Errorf("ObjectID() = %q, want 12 lower-case hex digits", ObjectID())
	}
}
