package enforcement

import (
	"strings"

	"github.com/krsi-dev/krsi/profiles"
)

// depthMasks computes a profile's krsi_profile.subtree_depths and
// children_depths (bpf/lib/pathmatch.h): bit d is set when some subtree
// (children) key has d slashes. The kernel's path walk looks up a prefix only
// at the depths these masks name, so a profile without directory rules pays
// one lookup per path instead of one per '/'.
func depthMasks(entries []profiles.Entry) (subtree, children uint64) {
	for _, en := range entries {
		switch en.Kind {
		case profiles.MatchSubtree:
			subtree |= depthBit(strings.Count(en.Path, "/"))
		case profiles.MatchChildren:
			children |= depthBit(strings.Count(en.Path, "/"))
		}
	}
	return subtree, children
}

// depthBit mirrors krsi_depth_bit: depth d % 64 (a wrap, not a clamp: see
// bpf/lib/pathmatch.h for why the kernel side cannot clamp).
func depthBit(d int) uint64 {
	return 1 << (d & 63)
}
