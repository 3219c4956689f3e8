package profiles

import (
	"fmt"
	"strings"
)

// accessWords are the words of files rules. "write" means every way of
// changing a file's contents, so that `deny: [write]` cannot be sidestepped
// with O_APPEND or O_TRUNC; "append" alone is the narrow grant for logs.
// "exec" is absent on purpose: exec has its own section.
var accessWords = []struct {
	word   string
	access Access
}{
	{"read", AccessRead},
	{"write", AccessWrite | AccessAppend | AccessCreate | AccessTruncate},
	{"append", AccessAppend},
	{"create", AccessCreate},
	{"truncate", AccessTruncate},
}

func accessWordList() string {
	w := make([]string, len(accessWords))
	for i, a := range accessWords {
		w[i] = a.word
	}
	return strings.Join(w, ", ")
}

func parseAccess(word string) (Access, error) {
	for _, a := range accessWords {
		if a.word == word {
			return a.access, nil
		}
	}
	if word == "exec" {
		return 0, fmt.Errorf("%q is not a file access: list executables under exec.allow or exec.deny", word)
	}
	return 0, fmt.Errorf("unknown access %q (want one of %s)", word, accessWordList())
}

var accessNames = [NumAccess]string{"read", "write", "append", "create", "truncate", "exec"}

// String lists the bits by name, e.g. "read,write,append"; "none" for 0.
func (a Access) String() string {
	if a == 0 {
		return "none"
	}
	var names []string
	for i, n := range accessNames {
		if a&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if rest := a &^ (1<<NumAccess - 1); rest != 0 {
		names = append(names, fmt.Sprintf("%#x", uint8(rest)))
	}
	return strings.Join(names, ",")
}

func (k MatchKind) String() string {
	switch k {
	case MatchExact:
		return "exact"
	case MatchChildren:
		return "children"
	case MatchSubtree:
		return "subtree"
	case MatchAncestor:
		return "ancestor"
	case MatchMulticall:
		return "multicall"
	case MatchApplet:
		return "applet"
	}
	return fmt.Sprintf("MatchKind(%d)", uint8(k))
}
