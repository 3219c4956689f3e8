package catalog

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/profiles"
)

const (
	// MaxSelectorLen bounds one entry of a profile's images: list.
	MaxSelectorLen = 256
	// MaxSelectorStars bounds the wildcards of one name pattern.
	MaxSelectorStars = 4
	// maxImageLen bounds the image string MatchImage considers. A real
	// reference is well under it (name 255, tag 128, digest 71 bytes).
	maxImageLen = 1024
	// maxWarned bounds the remembered "pattern tie" warnings.
	maxWarned = 1024
)

// imageRule is one entry of a node profile's images: list, compiled.
// Exactly one of digest, exact and a glob with stars > 0 is in use.
type imageRule struct {
	ref    string // "localhost/NAME" of the profile it selects
	text   string // the entry as written in the file
	digest string // "sha256:<hex>", for a digest entry
	exact  string // normalized "domain/path:tag", for a pattern without '*'
	glob   glob   // for a pattern with '*'
	stars  int
	weight int // non-wildcard characters: the pattern's specificity
}

// parseImageRule validates one images: entry. Its error is the message
// only; the caller adds the file, line and field.
func parseImageRule(s string) (imageRule, error) {
	r := imageRule{text: s}
	switch {
	case s == "":
		return r, fmt.Errorf("empty image selector")
	case len(s) > MaxSelectorLen:
		return r, fmt.Errorf("image selector is %d bytes long, at most %d", len(s), MaxSelectorLen)
	}
	for _, c := range []byte(s) {
		if !isRefChar(c) && c != '*' {
			return r, fmt.Errorf("image selector %q: character %q is not allowed: want an image reference (registry/name:tag), a digest (sha256:HEX or name@sha256:HEX), or a name pattern in which * is the only wildcard", s, c)
		}
	}
	r.stars = strings.Count(s, "*")
	if isDigestSelector(s) {
		if r.stars > 0 {
			return r, fmt.Errorf("image selector %q: a digest selector cannot hold a wildcard; write the whole digest, or a name pattern without @", s)
		}
		d, err := selectorDigest(s)
		if err != nil {
			return r, fmt.Errorf("image selector %q: %v", s, err)
		}
		r.digest = d
		r.weight = len(s)
		return r, nil
	}
	if r.stars > MaxSelectorStars {
		return r, fmt.Errorf("image selector %q has %d wildcards, at most %d", s, r.stars, MaxSelectorStars)
	}
	if r.stars == 0 {
		named, err := reference.ParseNormalizedNamed(s)
		if err != nil {
			return r, fmt.Errorf("image selector %q is not an image reference (%v); a name pattern needs a *, as in docker.io/library/nginx:*", s, err)
		}
		r.exact = reference.TagNameOnly(named).String()
		r.weight = len(r.exact)
		return r, nil
	}
	r.glob = compileGlob(s)
	r.weight = len(s) - r.stars
	return r, nil
}

// isRefChar reports whether c may appear in an image reference.
func isRefChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == ':' || c == '/' || c == '@'
}

// isDigestSelector: "name@ALG:HEX", or a bare "ALG:HEX" for a known digest
// algorithm (sha256, sha384, sha512), as opposed to a name pattern.
func isDigestSelector(s string) bool {
	if strings.Contains(s, "@") {
		return true
	}
	alg, _, ok := strings.Cut(s, ":")
	return ok && (alg == "sha256" || alg == "sha384" || alg == "sha512")
}

// selectorDigest returns the digest of a digest selector, validated.
func selectorDigest(s string) (string, error) {
	name, d, named := strings.Cut(s, "@")
	if !named {
		d = s
	}
	if err := checkDigest(d); err != nil {
		return "", err
	}
	if named {
		if _, err := reference.ParseNormalizedNamed(name); err != nil {
			return "", fmt.Errorf("the name before @ is not an image name: %v", err)
		}
	}
	return d, nil
}

func checkDigest(d string) error {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok {
		return fmt.Errorf("digest %q: only sha256 digests are supported (sha256: and 64 lower-case hex digits)", d)
	}
	if len(hex) != 64 || !isLowerHex(hex) {
		return fmt.Errorf("digest %q: want sha256: and 64 lower-case hex digits", d)
	}
	return nil
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// imageKey is an image string as the runtime sent it, in the forms the
// selectors are matched against.
type imageKey struct {
	digest     string   // "sha256:<hex>" if the image string carries one
	normalized string   // "docker.io/library/nginx:1.27", or name@digest when untagged; "" if it does not parse
	names      []string // what name patterns are matched against: normalized, familiar, raw
}

func newImageKey(image string) imageKey {
	var k imageKey
	if hex, ok := strings.CutPrefix(image, "sha256:"); ok && len(hex) == 64 && isLowerHex(hex) {
		k.digest = image // an image id
	} else if len(image) == 64 && isLowerHex(image) {
		k.digest = "sha256:" + image // an image id without its algorithm
	} else if named, err := reference.ParseNormalizedNamed(image); err == nil {
		var norm reference.Named = named
		if d, ok := named.(reference.Digested); ok {
			k.digest = d.Digest().String()
		}
		if t, ok := named.(reference.Tagged); ok {
			// name:tag@digest: the patterns see name:tag.
			if nt, err := reference.WithTag(reference.TrimNamed(named), t.Tag()); err == nil {
				norm = nt
			}
		} else if reference.IsNameOnly(named) {
			norm = reference.TagNameOnly(named)
		}
		k.normalized = norm.String()
		k.names = append(k.names, k.normalized)
		if f := reference.FamiliarString(norm); f != k.normalized {
			k.names = append(k.names, f)
		}
	} else if i := strings.LastIndexByte(image, '@'); i >= 0 && checkDigest(image[i+1:]) == nil {
		// A name the parser refuses, with a digest after it: the digest
		// still identifies the image.
		k.digest = image[i+1:]
	}
	if !contains(k.names, image) {
		k.names = append(k.names, image)
	}
	return k
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// matches reports whether rule r selects the image.
func (r *imageRule) matches(k *imageKey) bool {
	switch {
	case r.digest != "":
		return r.digest == k.digest
	case r.exact != "":
		return r.exact == k.normalized
	}
	for _, n := range k.names {
		if r.glob.match(n) {
			return true
		}
	}
	return false
}

// beats reports whether r is more specific than s: a digest beats any
// name pattern, then more non-wildcard characters, then fewer wildcards.
// Equal rules are ordered by the caller (profile name order).
func (r *imageRule) beats(s *imageRule) bool {
	if (r.digest != "") != (s.digest != "") {
		return r.digest != ""
	}
	if r.weight != s.weight {
		return r.weight > s.weight
	}
	return r.stars < s.stars
}

// MatchImage finds the node profile whose images: selector picks image, the
// image string the runtime gave for a container: a reference such as
// "docker.io/library/nginx:1.27", "nginx", "registry:5000/team/app@sha256:…",
// or an image id "sha256:…". It returns the profile's ref
// ("localhost/NAME"), the compiled profile, and the selector entry as
// written in the file.
//
// A digest selector that equals the image's digest wins over every name
// pattern. Among name patterns the most specific wins: the most
// non-wildcard characters, then the fewest wildcards, then the first
// profile in name order (a tie between two profiles is logged once). See
// docs/selection.md.
func (c *Catalog) MatchImage(image string) (ref string, p *profiles.Compiled, pattern string, ok bool) {
	if image == "" || len(image) > maxImageLen {
		return "", nil, "", false
	}
	st := c.state.Load()
	if len(st.images) == 0 {
		return "", nil, "", false
	}
	k := newImageKey(image)
	var best *imageRule
	var ties []*imageRule
	for i := range st.images { // sorted by ref, so the first of equals wins
		r := &st.images[i]
		if !r.matches(&k) {
			continue
		}
		switch {
		case best == nil || r.beats(best):
			best, ties = r, ties[:0]
		case !best.beats(r) && r.ref != best.ref:
			ties = append(ties, r)
		}
	}
	if best == nil {
		return "", nil, "", false
	}
	for _, t := range ties {
		c.warnTie(image, best, t)
	}
	return best.ref, st.nodes[best.ref].compiled, best.text, true
}

// warnTie logs, once per pair of selectors, that two profiles select the
// same image equally well.
func (c *Catalog) warnTie(image string, won, lost *imageRule) {
	key := won.ref + "\x00" + won.text + "\x00" + lost.ref + "\x00" + lost.text
	c.warnMu.Lock()
	seen := c.warned[key]
	if !seen && len(c.warned) < maxWarned {
		c.warned[key] = true
	}
	c.warnMu.Unlock()
	if seen {
		return
	}
	c.log.WithFields(logrus.Fields{"image": image}).Warnf(
		"image selectors %q of %s and %q of %s match equally well; %s wins by name order (make one selector more specific)",
		won.text, won.ref, lost.text, lost.ref, won.ref)
}
