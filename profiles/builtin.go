package profiles

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// builtinFS holds the profiles krsi ships. Each file is named after the
// profile it holds (wx.yaml holds name: wx); a test checks that.
//
//go:embed builtin/*.yaml
var builtinFS embed.FS

const builtinPrefix = "builtin/"

// BuiltinNames lists the built-in profiles, sorted.
func BuiltinNames() []string {
	files, _ := fs.Glob(builtinFS, "builtin/*.yaml")
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(path.Base(f), ".yaml")
	}
	slices.Sort(names)
	return names
}

// Builtin returns a fresh copy of the built-in profile name ("wx", not
// "builtin/wx"). It compiles as "builtin/NAME".
func Builtin(name string) (*Profile, error) {
	names := BuiltinNames()
	if !slices.Contains(names, name) {
		return nil, fmt.Errorf("unknown builtin profile %q (known: %s)", name, strings.Join(names, ", "))
	}
	file := builtinPrefix + name + ".yaml"
	data, err := builtinFS.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("builtin profile %q: %w", name, err)
	}
	p, err := Parse(file, data)
	if err != nil {
		return nil, fmt.Errorf("builtin profile %q: %w", name, err)
	}
	p.builtin = true
	return p, nil
}

// Resolve finds the profile a user names on the command line:
// "builtin/NAME" is a built-in profile; anything else that contains a "/"
// or ends in .yaml or .yml is a file. A bare word is refused rather than
// guessed at, since it could mean either.
func Resolve(ref string) (*Profile, error) {
	if name, ok := strings.CutPrefix(ref, builtinPrefix); ok {
		p, err := Builtin(name)
		if err != nil && (strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml")) {
			return nil, fmt.Errorf("%w; for a file by that name write ./%s", err, ref)
		}
		return p, err
	}
	if strings.Contains(ref, "/") || strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml") {
		return LoadFile(ref)
	}
	hint := ""
	if slices.Contains(BuiltinNames(), ref) {
		hint = fmt.Sprintf("; did you mean %s%s?", builtinPrefix, ref)
	}
	return nil, fmt.Errorf("profile %q is neither builtin/NAME nor a file path (one containing / or ending in .yaml or .yml)%s", ref, hint)
}
