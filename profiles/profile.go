package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

const (
	// APIVersion and Kind identify a profile document.
	APIVersion = "krsi.dev/v1"
	Kind       = "Profile"

	// MaxFileSize bounds a profile file, checked before parsing: profiles
	// come from node directories and pod-facing tooling, and the daemon
	// that parses them must not be made to hold arbitrary input.
	MaxFileSize = 4 << 20
	// MaxRules bounds exec.allow + exec.deny + files.rules of one profile,
	// which bounds the map entries one container can cost.
	MaxRules = 65536
	// MaxImages bounds the images selector.
	MaxImages = 256

	maxNameLen = 63
)

// Profile is a parsed, validated profile. Its rules are kept private: the
// only thing to do with them is Compile.
type Profile struct {
	File        string   // where it was read from, as given to Parse
	Name        string   // [a-z0-9][a-z0-9._-]*, at most 63 bytes
	Description string   // free text
	Mode        Mode     // ModeEnforce unless the file says audit
	Images      []string // image selector for the NRI plugin; may be empty

	builtin         bool // compiled as "builtin/NAME"
	denyWX          bool
	execDefaultDeny bool
	denyFileless    bool
	fileDefaultDeny bool
	rules           []rule // exec.allow, exec.deny, then files.rules, in file order
}

// LoadFile reads and parses the profile at path.
func LoadFile(path string) (*Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load profile: %w", err)
	}
	defer f.Close()
	// Stat gives the precise size of a regular file without reading it;
	// the limited read covers pipes and other files without a size.
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxFileSize {
		return nil, ErrorList{tooBig(path, strconv.FormatInt(fi.Size(), 10)+" bytes")}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load profile: %w", err)
	}
	return Parse(path, data)
}

func tooBig(file, size string) *Error {
	return &Error{File: file, Msg: fmt.Sprintf("file is %s, larger than the %d MiB a profile may be", size, MaxFileSize>>20)}
}

// Parse parses and validates one profile document. name is the file name
// used in errors. The error, if any, is an ErrorList with every problem
// found.
func Parse(name string, data []byte) (*Profile, error) {
	if len(data) > MaxFileSize {
		return nil, ErrorList{tooBig(name, "more than "+strconv.Itoa(MaxFileSize)+" bytes")}
	}
	d := &decoder{file: name}
	root := d.document(data)
	if root == nil {
		return nil, d.result()
	}
	p := d.profile(root)
	if err := d.result(); err != nil {
		return nil, err
	}
	p.File = name
	return p, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document decodes data into the root node of its only document.
func (d *decoder) document(data []byte) (root *yaml.Node) {
	// The YAML library is a parser of untrusted input inside the daemon:
	// a panic in it must become a rejected profile, not a dead plugin.
	defer func() {
		if r := recover(); r != nil {
			d.errorf(nil, "", "invalid YAML: parser failed: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(nil, "", "empty document: want a profile (apiVersion: %s, kind: %s)", APIVersion, Kind)
		} else {
			d.yamlError(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.yamlError(err)
		return nil
	default:
		d.errorf(&next, "", "a second YAML document starts here: a profile file holds exactly one")
		return nil
	}
	if len(doc.Content) == 0 {
		d.errorf(&doc, "", "empty document: want a profile (apiVersion: %s, kind: %s)", APIVersion, Kind)
		return nil
	}
	if isNull(doc.Content[0]) {
		d.errorf(doc.Content[0], "", "empty document: want a profile (apiVersion: %s, kind: %s)", APIVersion, Kind)
		return nil
	}
	return doc.Content[0]
}

// yamlError turns the library's "yaml: line N: msg" into an Error.
func (d *decoder) yamlError(err error) {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.errorf(&yaml.Node{Line: line}, "", "invalid YAML: %s", m[2])
		return
	}
	d.errorf(nil, "", "invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
}
