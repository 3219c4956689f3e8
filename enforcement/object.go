package enforcement

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// ObjectID names the BPF object built into this krsi (embedded by bpf2go:
// bpf_x86_bpfel.o in an amd64 build, bpf_arm64_bpfel.o in an arm64 one): the
// first 12 hex digits of its SHA-256. Two binaries with the same id load the
// same programs and maps whatever their versions say, so it tells whether an
// upgrade changes what the kernel runs. The objects differ by architecture
// (enforcement/gen.go), so amd64 and arm64 builds of one commit have
// different ids; each is compared only with builds for its own nodes.
func ObjectID() string { return objectID() }

var objectID = sync.OnceValue(func() string {
	sum := sha256.Sum256(_BpfBytes)
	return hex.EncodeToString(sum[:])[:12]
})
