package enforcement

import (
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/profiles"
)

func TestDepthMasksNameTheDepthsOfDirectoryRules(t *testing.T) {
	deep := strings.Repeat("/d", 70) + "/" // 71 slashes: bit 7
	tests := []struct {
		name              string
		entries           []profiles.Entry
		subtree, children uint64
	}{
		{"no rules", nil, 0, 0},
		{"exact paths only", []profiles.Entry{
			{Path: "/etc/passwd", Kind: profiles.MatchExact},
			{Path: "/a/b/c/d/e", Kind: profiles.MatchExact},
		}, 0, 0},
		{"root subtree", []profiles.Entry{{Path: "/", Kind: profiles.MatchSubtree}}, 1 << 1, 0},
		{"subtrees and children", []profiles.Entry{
			{Path: "/opt/app/", Kind: profiles.MatchSubtree},
			{Path: "/opt/app/open/", Kind: profiles.MatchSubtree},
			{Path: "/usr/bin/", Kind: profiles.MatchChildren},
			{Path: "/etc/passwd", Kind: profiles.MatchExact},
		}, 1<<3 | 1<<4, 1 << 3},
		{"depths wrap around at 64", []profiles.Entry{
			{Path: deep, Kind: profiles.MatchSubtree},
			{Path: strings.Repeat("/d", 62) + "/", Kind: profiles.MatchChildren},
		}, 1 << 7, 1 << 63},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := depthMasks(tt.entries)
			if s != tt.subtree || c != tt.children {
				t.Errorf("depthMasks = subtree %#x, children %#x; want %#x, %#x", s, c, tt.subtree, tt.children)
			}
		})
	}
}

// The walk matches a subtree key at the '/' that ends it: the depth the mask
// must have for a key is the depth the walk counts when it reaches that '/'.
func TestDepthMaskCoversEveryPrefixOfAMatchingPath(t *testing.T) {
	key := "/var/lib/app/"
	s, _ := depthMasks([]profiles.Entry{{Path: key, Kind: profiles.MatchSubtree}})
	path := "/var/lib/app/data/x.db"
	depth := 0
	for i := range len(path) {
		if path[i] != '/' {
			continue
		}
		depth++
		if path[:i+1] == key && s&depthBit(depth) == 0 {
			t.Fatalf("the walk reaches %q at depth %d, which the mask %#x leaves out", key, depth, s)
		}
	}
}
