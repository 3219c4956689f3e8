package enforcement

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// ObjectID names the BPF object built into this krsi (bpf_bpfel.o, embedded
// by bpf2go): the first 12 hex digits of its SHA-256. Two binaries with the
// same id load the same programs and maps whatever their versions say, so it
// tells whether an upgrade changes what the kernel runs.
func ObjectID() string { return objectID() }

var objectID = sync.OnceValue(func() string {
	sum := sha256.Sum256(_BpfBytes)
	return hex.EncodeToString(sum[:])[:12]
})
