package enforcement

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"testing"
)

func TestObjectIDIsTheHashOfTheCommittedObject(t *testing.T) {
	data, err := os.ReadFile("bpf_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])[:12]
	if got := ObjectID(); got != want {
		t.Errorf("ObjectID() = %q, want %q (sha256 of bpf_bpfel.o)", got, want)
	}
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(ObjectID()) {
		t.Errorf("ObjectID() = %q, want 12 lower-case hex digits", ObjectID())
	}
}
