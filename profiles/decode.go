package profiles

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxErrors bounds the errors kept for one file: a 4 MiB file of bad rules
// would otherwise produce a report nobody reads and the daemon must hold.
const maxErrors = 100

// decoder walks a yaml.Node tree by hand rather than decoding into structs:
// that is how every error gets a line, and how duplicate keys (which
// yaml.v3 only catches for maps and structs, not for nodes) are caught.
type decoder struct {
	file string
	errs ErrorList
	full bool // maxErrors reached; further errors are dropped
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	if d.full {
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	if len(d.errs) == maxErrors {
		d.full = true
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// result returns the errors in line order, or nil.
func (d *decoder) result() error {
	if len(d.errs) == 0 {
		return nil
	}
	sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
	if d.full {
		d.errs = append(d.errs, &Error{File: d.file, Msg: fmt.Sprintf("too many errors (showing the first %d)", maxErrors)})
	}
	return d.errs
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func index(field string, i int) string {
	return fmt.Sprintf("%s[%d]", field, i)
}

// isNull reports whether n is an explicit null (`key:`, `key: ~`). A null
// is taken as the empty value of the expected kind, as yaml.v3 does when
// decoding into Go values.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// checkAlias rejects aliases everywhere: a profile gains nothing from them,
// and following them is how small YAML files expand into huge ones.
func (d *decoder) checkAlias(n *yaml.Node, field string) bool {
	if n.Kind == yaml.AliasNode {
		d.errorf(n, field, "YAML aliases (*%s) are not supported in profiles", n.Value)
		return false
	}
	return true
}

// mapping returns the value node of each key of the mapping n, after
// checking that every key is one of known and appears once. A null counts
// as an empty mapping. It returns nil if n is not a mapping.
func (d *decoder) mapping(n *yaml.Node, field string, known ...string) map[string]*yaml.Node {
	if !d.checkAlias(n, field) {
		return nil
	}
	if isNull(n) {
		return map[string]*yaml.Node{}
	}
	if n.Kind != yaml.MappingNode {
		if field == "" {
			d.errorf(n, field, "want a profile, a mapping (apiVersion: %s, kind: %s, …), got %s", APIVersion, Kind, kindName(n))
		} else {
			d.errorf(n, field, "want a mapping, got %s", kindName(n))
		}
		return nil
	}
	fields := make(map[string]*yaml.Node, len(n.Content)/2)
	keyLine := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, field, "keys must be field names, got %s", kindName(k))
			continue
		}
		if first, dup := keyLine[k.Value]; dup {
			d.errorf(k, field, "duplicate field %q (first at line %d)", k.Value, first)
			continue
		}
		keyLine[k.Value] = k.Line
		if !slices.Contains(known, k.Value) {
			d.errorf(k, field, "unknown field %q (want one of %s)", k.Value, strings.Join(known, ", "))
			continue
		}
		fields[k.Value] = v
	}
	return fields
}

// list returns the items of the sequence n; a null counts as empty. ok is
// false if n is not a list.
func (d *decoder) list(n *yaml.Node, field string) (items []*yaml.Node, ok bool) {
	if !d.checkAlias(n, field) {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "want a list, got %s", kindName(n))
		return nil, false
	}
	return n.Content, true
}

// str returns the text of the scalar n; a null counts as "". Numbers and
// booleans are taken as written (`name: 42` is the name "42"); other tags
// (!!binary, custom ones) are refused rather than guessed at.
func (d *decoder) str(n *yaml.Node, field string) (string, bool) {
	if !d.checkAlias(n, field) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, field, "want a string, got %s", kindName(n))
		return "", false
	}
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return "", true
	case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
		return n.Value, true
	default:
		d.errorf(n, field, "unsupported YAML tag %s (want a plain string)", tag)
		return "", false
	}
}

// enum returns the scalar n if it is one of want; it reports the others.
func (d *decoder) enum(n *yaml.Node, field, what string, want ...string) (string, bool) {
	s, ok := d.str(n, field)
	if !ok {
		return "", false
	}
	if !slices.Contains(want, s) {
		d.errorf(n, field, "unknown %s %q (want %s)", what, s, orList(want))
		return "", false
	}
	return s, true
}

// orList renders ["a","b","c"] as "a, b or c".
func orList(w []string) string {
	if len(w) == 1 {
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " or " + w[len(w)-1]
}
