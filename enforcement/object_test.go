package enforcement

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"testing"
)

func TestObjectIDIsTheHashOfTheCommittedObject(t *testing.T) {
	// The VM suite runs this binary without the source tree: there the
	// format is checked, and the hash by the unit run on the host.
	data, err := os.ReadFile("bpf_bpfel.o")
	switch {
	case err == nil:
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])[:12]
		if got := ObjectID(); got != want {
			t.Errorf("ObjectID() = %q, want %q (sha256 of bpf_bpfel.o)", got, want)
		}
	case !(os.IsNotExist(err) && os.Getenv("KRSI_VM") == "1"):
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(ObjectID()) {
		t.Errorf("ObjectID() = %q, want 12 lower-case hex digits", ObjectID())
	}
}
