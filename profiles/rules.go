package profiles

import (
	"fmt"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// rule is one source rule, reduced to what Compile merges.
type rule struct {
	pat         pattern
	allow, deny Access
	text        string // the Compiled.Rules line
}

func (d *decoder) execRule(p *Profile, n *yaml.Node, field string, allow, deny Access) {
	s, ok := d.str(n, field)
	if !ok {
		return
	}
	pat, err := parsePattern(s)
	if err != nil {
		d.errorf(n, field, "%v", err)
		return
	}
	p.rules = append(p.rules, rule{pat: pat, allow: allow, deny: deny, text: field + ": " + quoteIfNeeded(s)})
}

func (d *decoder) fileRule(p *Profile, n *yaml.Node, field string) {
	m := d.mapping(n, field, "path", "allow", "deny")
	if m == nil {
		return
	}
	var r rule
	pathField := join(field, "path")
	pn, ok := d.required(n, m, "path", pathField, "")
	var s string
	if ok {
		s, ok = d.str(pn, pathField)
	}
	if ok {
		var err error
		if r.pat, err = parsePattern(s); err != nil {
			d.errorf(pn, pathField, "%v", err)
			ok = false
		}
	}
	r.text = field + ": " + quoteIfNeeded(s)
	for _, verb := range []string{"allow", "deny"} {
		vn := m[verb]
		if vn == nil {
			continue
		}
		a, words, aok := d.accessList(vn, join(field, verb))
		ok = ok && aok
		if verb == "allow" {
			r.allow = a
		} else {
			r.deny = a
		}
		if len(words) > 0 {
			r.text += " " + verb + " " + strings.Join(words, ",")
		}
	}
	if !ok {
		return
	}
	if r.allow == 0 && r.deny == 0 {
		d.errorf(n, field, "rule allows and denies nothing: give it allow or deny access words (%s)", accessWordList())
		return
	}
	p.rules = append(p.rules, r)
}

func (d *decoder) accessList(n *yaml.Node, field string) (Access, []string, bool) {
	items, ok := d.list(n, field)
	var a Access
	var words []string
	for i, item := range items {
		f := index(field, i)
		s, sok := d.str(item, f)
		if !sok {
			ok = false
			continue
		}
		bits, err := parseAccess(s)
		if err != nil {
			d.errorf(item, f, "%v", err)
			ok = false
			continue
		}
		a |= bits
		words = append(words, s)
	}
	return a, words, ok
}

// quoteIfNeeded keeps rule lines on one line and readable: paths with
// spaces or control characters are quoted.
func quoteIfNeeded(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) >= 0 {
		return fmt.Sprintf("%q", s)
	}
	return s
}
