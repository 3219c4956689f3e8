package profiles

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Multi-call binaries (busybox): exec.applets names a binary by its
// resolved path and the applets it may or may not run. The kernel decides on
// the applet the new program's argv names, as busybox reads it
// (bpf/lib/applet.h; docs/profiles.md, "Multi-call binaries").
const (
	// MaxAppletBinaries bounds exec.applets.
	MaxAppletBinaries = 64
	// MaxApplets bounds the applet names of one binary (allow + deny).
	MaxApplets = 1024
	// MaxAppletName is the longest applet name (busybox's are at most 15).
	MaxAppletName = 63
)

// appletPath is the Entry.Path of one applet of binary: the binary's path,
// a NUL byte, the applet's name; the kernel hashes the same bytes.
func appletPath(binary, applet string) string { return binary + "\x00" + applet }

// AppletOf splits an Entry.Path of kind MatchApplet into binary and applet.
func AppletOf(path string) (binary, applet string, ok bool) {
	return strings.Cut(path, "\x00")
}

// ValidApplet reports whether s may be named in exec.applets.
func ValidApplet(s string) bool { return checkApplet(s) == nil }

func checkApplet(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty applet name")
	case len(s) > MaxAppletName:
		return fmt.Errorf("applet name is %d bytes long, max %d", len(s), MaxAppletName)
	case strings.ContainsAny(s, "/\x00"):
		return fmt.Errorf("applet name %q: a name, not a path (no '/')", s)
	case strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return fmt.Errorf("applet name %q contains white space or control characters", s)
	}
	return nil
}

// applets decodes exec.applets:
//
//	applets:
//	  - binary: /bin/busybox
//	    deny: [sh, ash, wget]
//
// For each binary: one rule for the binary itself (what applets no name
// lists get: denied when there is an allow list), then one per name.
func (d *decoder) applets(p *Profile, n *yaml.Node) {
	items, ok := d.list(n, "exec.applets")
	if !ok {
		return
	}
	if len(items) > MaxAppletBinaries {
		d.errorf(items[MaxAppletBinaries], index("exec.applets", MaxAppletBinaries), "too many multi-call binaries: at most %d", MaxAppletBinaries)
		return
	}
	seen := map[string]bool{}
	for i, item := range items {
		field := index("exec.applets", i)
		before := len(d.errs)
		m := d.mapping(item, field, "binary", "allow", "deny")
		if m == nil || len(d.errs) > before {
			continue
		}
		bf := join(field, "binary")
		bn, ok := d.required(item, m, "binary", bf, " (the multi-call binary's path, e.g. /bin/busybox)")
		if !ok {
			continue
		}
		bin, ok := d.str(bn, bf)
		if !ok {
			continue
		}
		pat, err := parsePattern(bin)
		if err != nil {
			d.errorf(bn, bf, "%v", err)
			continue
		}
		if pat.Kind != MatchExact {
			d.errorf(bn, bf, "%q: name one binary by its path, not a pattern", bin)
			continue
		}
		if seen[bin] {
			d.errorf(bn, bf, "%s is named twice in exec.applets: give it one entry", bin)
			continue
		}
		seen[bin] = true
		var lists [2][]*yaml.Node
		total := 0
		for j, verb := range []string{"allow", "deny"} {
			if vn := m[verb]; vn != nil {
				lists[j], _ = d.list(vn, join(field, verb))
				total += len(lists[j])
			}
		}
		if total == 0 {
			d.errorf(item, field, "no applets: give allow or deny, a list of applet names")
			continue
		}
		if total > MaxApplets {
			d.errorf(item, field, "too many applets: at most %d per binary", MaxApplets)
			continue
		}
		defaultDeny := len(lists[0]) > 0
		r := rule{pat: pattern{Path: bin, Kind: MatchMulticall}, text: field + ": " + quoteIfNeeded(bin)}
		if defaultDeny {
			r.deny, r.text = AccessExec, r.text+" applets not allowed"
		} else {
			r.allow, r.text = AccessExec, r.text+" applets not denied"
		}
		p.rules = append(p.rules, r)
		for j, verb := range []string{"allow", "deny"} {
			for k, an := range lists[j] {
				af := index(join(field, verb), k)
				name, ok := d.str(an, af)
				if !ok {
					continue
				}
				if err := checkApplet(name); err != nil {
					d.errorf(an, af, "%v", err)
					continue
				}
				ar := rule{pat: pattern{Path: appletPath(bin, name), Kind: MatchApplet},
					text: af + ": " + quoteIfNeeded(bin) + " applet " + name}
				if verb == "allow" {
					ar.allow = AccessExec
				} else {
					ar.deny = AccessExec
				}
				p.rules = append(p.rules, ar)
			}
		}
	}
}
