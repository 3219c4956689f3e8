package profiles

import (
	"fmt"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// profile decodes the top-level mapping. Errors go to d; the result is
// meaningful only if there were none.
func (d *decoder) profile(root *yaml.Node) *Profile {
	// A wrong apiVersion or kind means some other schema: the errors the
	// rest would produce are noise, so check these first and stop there.
	if root.Kind == yaml.MappingNode && (!d.header(root, "apiVersion", APIVersion) || !d.header(root, "kind", Kind)) {
		return nil
	}
	top := d.mapping(root, "", "apiVersion", "kind", "name", "description", "mode", "images", "memory", "exec", "files")
	if top == nil {
		return nil
	}

	p := &Profile{Mode: ModeEnforce}
	if n, ok := d.required(root, top, "name", "name", ""); ok {
		if s, ok := d.str(n, "name"); ok {
			if err := checkName(s); err != nil {
				d.errorf(n, "name", "%v", err)
			}
			p.Name = s
		}
	}
	if n := top["description"]; n != nil {
		p.Description, _ = d.str(n, "description")
	}
	if n := top["mode"]; n != nil {
		if s, ok := d.enum(n, "mode", "mode", string(ModeEnforce), string(ModeAudit)); ok {
			p.Mode = Mode(s)
		}
	}
	if n := top["images"]; n != nil {
		p.Images = d.images(n)
	}
	if n := top["memory"]; n != nil {
		if m := d.mapping(n, "memory", "wx"); m != nil && m["wx"] != nil {
			s, _ := d.enum(m["wx"], "memory.wx", "value", "deny", "allow")
			p.denyWX = s == "deny"
		}
	}

	var execSec, filesSec map[string]*yaml.Node
	if n := top["exec"]; n != nil {
		execSec = d.mapping(n, "exec", "allow", "deny", "fileless", "applets")
	}
	if n := top["files"]; n != nil {
		filesSec = d.mapping(n, "files", "default", "rules")
	}
	lists, ok := d.ruleLists(execSec["allow"], execSec["deny"], filesSec["rules"])
	if !ok {
		return nil
	}
	d.exec(p, execSec, lists[0], lists[1])
	d.files(p, filesSec, lists[2])
	if n := execSec["applets"]; n != nil {
		d.applets(p, n)
	}
	return p
}

// ruleLists returns the items of exec.allow, exec.deny and files.rules
// (any may be nil). It counts them before any is read, so that an
// oversized profile is turned away before it costs anything.
func (d *decoder) ruleLists(nodes ...*yaml.Node) (lists [3][]*yaml.Node, ok bool) {
	fields := [3]string{"exec.allow", "exec.deny", "files.rules"}
	total := 0
	for i, n := range nodes {
		if n == nil {
			continue
		}
		lists[i], _ = d.list(n, fields[i])
		if total+len(lists[i]) > MaxRules {
			over := MaxRules - total
			d.errorf(lists[i][over], index(fields[i], over), "too many rules: a profile holds at most %d (exec.allow, exec.deny and files.rules together)", MaxRules)
			return lists, false
		}
		total += len(lists[i])
	}
	if n := nodes[0]; n != nil && len(lists[0]) == 0 && (isNull(n) || n.Kind == yaml.SequenceNode) {
		// An empty allow list would read as "nothing may run" but, having
		// no entries, would switch nothing on: refuse the ambiguity.
		d.errorf(n, "exec.allow", "empty list: an allow list denies every other exec only if it names something; list what may run, or remove it")
	}
	return lists, true
}

func (d *decoder) exec(p *Profile, sec map[string]*yaml.Node, allow, deny []*yaml.Node) {
	for i, n := range allow {
		d.execRule(p, n, index("exec.allow", i), AccessExec, 0)
	}
	for i, n := range deny {
		d.execRule(p, n, index("exec.deny", i), 0, AccessExec)
	}
	p.execDefaultDeny = len(allow) > 0
	// Fileless exec defaults to deny under an allow list: a memfd has no
	// path an allow list could name, so allowing it would undo the list.
	p.denyFileless = p.execDefaultDeny
	if n := sec["fileless"]; n != nil {
		if s, ok := d.enum(n, "exec.fileless", "value", "deny", "allow"); ok {
			p.denyFileless = s == "deny"
		}
	}
}

func (d *decoder) files(p *Profile, sec map[string]*yaml.Node, rules []*yaml.Node) {
	if n := sec["default"]; n != nil {
		s, _ := d.enum(n, "files.default", "value", "allow", "deny")
		p.fileDefaultDeny = s == "deny"
	}
	for i, n := range rules {
		d.fileRule(p, n, index("files.rules", i))
	}
}

// header checks apiVersion or kind in the top-level mapping root.
func (d *decoder) header(root *yaml.Node, field, want string) bool {
	var n *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == field {
			n = root.Content[i+1]
			break
		}
	}
	if n == nil {
		d.errorf(root, field, "required field is missing (want %s)", want)
		return false
	}
	s, ok := d.str(n, field)
	if !ok {
		return false
	}
	if s != want {
		d.errorf(n, field, "unsupported %s %q (want %s)", field, s, want)
		return false
	}
	return true
}

// required returns fields[key], or reports it missing at the line of the
// mapping that should hold it.
func (d *decoder) required(parent *yaml.Node, fields map[string]*yaml.Node, key, field, hint string) (*yaml.Node, bool) {
	n := fields[key]
	if n == nil {
		d.errorf(parent, field, "required field is missing%s", hint)
		return nil, false
	}
	return n, true
}

func checkName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("must not be empty")
	case len(s) > maxNameLen:
		return fmt.Errorf("%q is %d bytes long, max %d", s, len(s), maxNameLen)
	}
	for i, c := range []byte(s) {
		lower := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !lower && (i == 0 || c != '.' && c != '_' && c != '-') {
			return fmt.Errorf("invalid name %q: want lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", s)
		}
	}
	return nil
}

func (d *decoder) images(n *yaml.Node) []string {
	items, _ := d.list(n, "images")
	if len(items) > MaxImages {
		d.errorf(items[MaxImages], index("images", MaxImages), "too many images: at most %d", MaxImages)
		return nil
	}
	var images []string
	for i, item := range items {
		field := index("images", i)
		s, ok := d.str(item, field)
		switch {
		case !ok:
		case s == "":
			d.errorf(item, field, "empty image reference")
		case strings.IndexFunc(s, unicode.IsSpace) >= 0:
			d.errorf(item, field, "image reference %q contains white space", s)
		default:
			images = append(images, s)
		}
	}
	return images
}
