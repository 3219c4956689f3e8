package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Recording is the node config's recording: section: where the annotation
// record.krsi.dev/container.<name> is honoured, and how much recording the
// node takes. A recorded container runs under an audit profile that denies
// nothing, so recording is the administrator's decision, off by default.
// `krsi record` (the CLI, run by root) is not governed by it.
type Recording struct {
	// Namespaces whose pods may be recorded; "*" is every namespace.
	// Empty (the default): none, the record annotation fails the container.
	Namespaces []string `yaml:"namespaces" json:"namespaces,omitempty"`
	// MaxRecordings bounds the recorded profiles on the node: those in
	// progress plus the files already in recordDir. Collect and remove the
	// files to record more.
	MaxRecordings int `yaml:"maxRecordings" json:"maxRecordings"`
	// MaxPaths bounds the distinct paths one recording keeps in memory;
	// a run that touches more is not written (it would be incomplete).
	MaxPaths int `yaml:"maxPaths" json:"maxPaths"`
	// MaxBytes bounds the size of one recorded profile file; a larger one
	// is not written.
	MaxBytes int `yaml:"maxBytes" json:"maxBytes"`
}

// Defaults of the recording caps.
const (
	DefaultMaxRecordings = 16
	DefaultMaxPaths      = 10000
	DefaultMaxBytes      = 1 << 20
)

// Upper bounds an administrator can raise the caps to.
const (
	maxMaxRecordings = 10000
	maxMaxPaths      = 1 << 20
	maxMaxBytes      = 64 << 20
)

// DefaultRecording is recording off, with the default caps.
func DefaultRecording() Recording {
	return Recording{MaxRecordings: DefaultMaxRecordings, MaxPaths: DefaultMaxPaths, MaxBytes: DefaultMaxBytes}
}

// Check says what is wrong with the recording settings and how to fix it.
func (r Recording) Check() error {
	for i, ns := range r.Namespaces {
		if ns != "*" && !IsNamespace(ns) {
			return fmt.Errorf("recording.namespaces[%d]: %q is not a namespace name (a DNS label) or \"*\" (every namespace)", i, clip(ns))
		}
		if slices.Index(r.Namespaces, ns) != i {
			return fmt.Errorf("recording.namespaces[%d]: %s is listed twice", i, ns)
		}
	}
	for _, c := range []struct {
		key      string
		v, limit int
	}{{"maxRecordings", r.MaxRecordings, maxMaxRecordings}, {"maxPaths", r.MaxPaths, maxMaxPaths}, {"maxBytes", r.MaxBytes, maxMaxBytes}} {
		if c.v < 1 || c.v > c.limit {
			return fmt.Errorf("recording.%s: %d, want 1 to %d (to turn recording off, leave recording.namespaces empty)", c.key, c.v, c.limit)
		}
	}
	return nil
}

// Allows reports whether pods of namespace ns may be recorded.
func (r Recording) Allows(ns string) bool {
	return slices.Contains(r.Namespaces, "*") || slices.Contains(r.Namespaces, ns)
}

// Rule is the recording.namespaces rule as a message shows it.
func (r Recording) Rule() string {
	return "recording.namespaces: [" + strings.Join(r.Namespaces, ", ") + "]"
}
