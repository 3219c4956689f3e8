package enforcement

// The path hashes of bpf/lib/pathmatch.h, byte for byte. Rules are stored
// by hash so that matching costs one lookup per '/' of the path, whatever the
// number of rules; both lanes start from per-node random seeds (krsi_conf).
const (
	h1Prime = 0x100000001b3
	h2Mult  = 0x9e3779b97f4a7c15
)

func pathHash(seed1, seed2 uint64, path string) (h1, h2 uint64) {
	h1, h2 = seed1, seed2
	for i := 0; i < len(path); i++ {
		c := uint64(path[i])
		h1 = (h1 ^ c) * h1Prime
		h2 = (h2 ^ c) * h2Mult
		h2 ^= h2 >> 32
	}
	return h1, h2
}
