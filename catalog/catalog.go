// Package catalog is the set of profiles a node knows, the menu the first
// step of krsi's pipeline chooses from:
//
//	annotation → profile → map entry → LSM decision → event
//	^^^^^^^^^^^^^^^^^^^^
//	selector picks, from this catalog
//
// A catalog holds the built-in profiles ("builtin/NAME") and the profiles
// in the node's profile directories (by default /etc/krsi/profiles.d),
// referred to as "localhost/NAME" after the name: field of the file, not
// the file name. It answers two questions for package selector: the
// compiled profile a reference names (Lookup), and the node profile whose
// images: selector picks a container image (MatchImage). It rescans its
// directories on request (Reload) or on file system events (Watch), and a
// file that breaks keeps its last good version in force.
//
// The format of the files is docs/profiles.md; how the NRI plugin selects
// among them is docs/selection.md.
package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v3"

	"github.com/krsi-dev/krsi/profiles"
)

// DefaultDir is where node profiles live unless the node config says
// otherwise.
const DefaultDir = "/etc/krsi/profiles.d"

const (
	// BuiltinPrefix and LocalPrefix start the two kinds of profile
	// reference.
	BuiltinPrefix = "builtin/"
	LocalPrefix   = "localhost/"

	// DefaultDebounce is how long Watch waits for a burst of file system
	// events to end before it rescans.
	DefaultDebounce = 200 * time.Millisecond

	// maxListed bounds the profile names an unknown-profile error lists.
	maxListed = 24
)

// Catalog is the node's profiles. It is safe for concurrent use: Lookup
// and MatchImage read an immutable snapshot that Reload replaces whole, so
// a reader sees every profile either before or after a reload, never half
// of one. The *profiles.Compiled values it hands out are shared and must
// not be modified; a profile whose content did not change across a reload
// keeps its pointer.
type Catalog struct {
	dirs     []string
	log      logrus.FieldLogger
	debounce time.Duration

	reloadMu sync.Mutex // serializes scans
	state    atomic.Pointer[state]

	warnMu sync.Mutex
	warned map[string]bool // image selector ties already logged
}

// state is one scan's result. It is never modified once published.
type state struct {
	nodes    map[string]*node  // by ref: builtins and node profiles
	byFile   map[string]*node  // node profiles by the file that defines them
	refs     []string          // every ref, builtins first, each kind sorted
	images   []imageRule       // every node profile's selectors, by ref, then file order
	problems []fileProblem     // sorted by file
	broken   map[string]string // name → file, for files with errors whose name: is known
}

type node struct {
	ref      string
	file     string // "" for builtins
	compiled *profiles.Compiled
	images   []imageRule
}

type fileProblem struct {
	file string
	err  error
}

// Option changes how a catalog works.
type Option func(*Catalog)

// WithDebounce sets how long Watch waits after a file system event before
// it rescans (DefaultDebounce otherwise). Tests use a few milliseconds.
func WithDebounce(d time.Duration) Option {
	return func(c *Catalog) { c.debounce = d }
}

// Open loads the built-in profiles and the *.yaml and *.yml files in dirs,
// in that order of directories and, within one, of file names. A missing
// directory is logged and holds no profiles (Watch picks it up if it
// appears later). A file that cannot be used — bad YAML, a profile error,
// an invalid images: entry, a name another file took first — is logged
// with the error naming its file, line and field, is listed by Problems,
// and is skipped. Open fails only when a directory exists but cannot be
// read.
func Open(dirs []string, log logrus.FieldLogger, opts ...Option) (*Catalog, error) {
	if log == nil {
		l := logrus.New()
		l.Out = ioDiscard{}
		log = l
	}
	c := &Catalog{log: log, debounce: DefaultDebounce, warned: map[string]bool{}}
	for _, o := range opts {
		o(c)
	}
	for _, d := range dirs {
		d = filepath.Clean(d)
		if !slices.Contains(c.dirs, d) {
			c.dirs = append(c.dirs, d)
		}
	}
	base := &state{nodes: map[string]*node{}, byFile: map[string]*node{}, broken: map[string]string{}}
	for _, name := range profiles.BuiltinNames() {
		p, err := profiles.Builtin(name)
		if err != nil {
			return nil, fmt.Errorf("open profile catalog: %w", err)
		}
		cp, err := p.Compile()
		if err != nil {
			return nil, fmt.Errorf("open profile catalog: builtin profile %s: %w", name, err)
		}
		ref := BuiltinPrefix + name
		base.nodes[ref] = &node{ref: ref, compiled: cp}
		base.refs = append(base.refs, ref)
	}
	c.state.Store(base)
	for _, d := range c.dirs {
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			c.log.WithField("dir", d).Info("profile directory does not exist: no node profiles from it until it is created")
		}
	}
	if _, err := c.Reload(); err != nil {
		return nil, fmt.Errorf("open profile catalog: %w", err)
	}
	return c, nil
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

// Dirs returns the node profile directories, in precedence order.
func (c *Catalog) Dirs() []string { return slices.Clone(c.dirs) }

// Refs returns every profile reference the catalog knows: the builtins,
// then the node profiles, each sorted.
func (c *Catalog) Refs() []string { return slices.Clone(c.state.Load().refs) }

// Lookup returns the compiled profile ref names: "builtin/NAME" or
// "localhost/NAME". The error says what is wrong and which profiles the
// node has.
func (c *Catalog) Lookup(ref string) (*profiles.Compiled, error) {
	st := c.state.Load()
	if n := st.nodes[ref]; n != nil {
		return n.compiled, nil
	}
	quoted := ref
	if len(quoted) > MaxSelectorLen {
		quoted = quoted[:MaxSelectorLen] + "…"
	}
	if name, ok := strings.CutPrefix(ref, LocalPrefix); ok {
		if file, bad := st.broken[name]; bad {
			return nil, fmt.Errorf("profile %s is defined in %s, which has errors: %s", ref, file, firstLine(st.problem(file)))
		}
		return nil, fmt.Errorf("unknown profile %q: no file in %s defines name: %s; %s", quoted, strings.Join(c.dirs, ", "), name, st.known())
	}
	if strings.HasPrefix(ref, BuiltinPrefix) {
		return nil, fmt.Errorf("unknown profile %q; %s", quoted, st.known())
	}
	return nil, fmt.Errorf("profile reference %q is neither builtin/NAME nor localhost/NAME; %s", quoted, st.known())
}

// problem returns the error of a file listed in problems.
func (st *state) problem(file string) error {
	for _, p := range st.problems {
		if p.file == file {
			return p.err
		}
	}
	return errors.New("unknown error")
}

// firstLine is the first line of a possibly multi-line error.
func firstLine(err error) string {
	s := err.Error()
	if first, rest, ok := strings.Cut(s, "\n"); ok {
		return fmt.Sprintf("%s (and %d more)", first, strings.Count(rest, "\n")+1)
	}
	return s
}

// known lists the refs for an error message.
func (st *state) known() string {
	refs := st.refs
	more := ""
	if len(refs) > maxListed {
		more = fmt.Sprintf(" and %d more", len(refs)-maxListed)
		refs = refs[:maxListed]
	}
	return "this node has " + strings.Join(refs, ", ") + more
}

// Problems returns the errors of the node profile files that are not in
// force as written: broken files (with the file, line and field), and files
// that repeat a name another file took first. A broken file whose earlier
// version had loaded is listed too, while that earlier version stays in
// force.
func (c *Catalog) Problems() []error {
	st := c.state.Load()
	errs := make([]error, len(st.problems))
	for i, p := range st.problems {
		errs[i] = p.err
	}
	return errs
}

// Reload rescans the directories and replaces the catalog's contents in
// one step. It returns the refs whose compiled profile appeared,
// disappeared or changed, sorted; a file whose new version is broken keeps
// its previous version in force and is not reported as changed. If a
// directory exists but cannot be read Reload changes nothing and returns
// the error. Concurrent calls are serialized; each change is reported to
// the one call that made it.
func (c *Catalog) Reload() (changed []string, err error) {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	old := c.state.Load()
	files, err := c.listFiles()
	if err != nil {
		return nil, err
	}
	next := &state{
		nodes:  make(map[string]*node, len(old.nodes)),
		byFile: map[string]*node{},
		broken: map[string]string{},
	}
	for ref, n := range old.nodes {
		if n.file == "" {
			next.nodes[ref] = n
		}
	}
	claimed := map[string]string{} // ref → file
	for _, file := range files {
		n, err := loadFile(file)
		if err != nil {
			next.problems = append(next.problems, fileProblem{file, err})
			if name := profileName(file); name != "" {
				next.broken[name] = file
			}
			prev := old.byFile[file]
			if prev == nil {
				c.logProblem(old, file, err, "")
				continue
			}
			c.logProblem(old, file, err, fmt.Sprintf("the previous version of %s stays in force", prev.ref))
			n = prev
		}
		if first, dup := claimed[n.ref]; dup {
			err := &profiles.Error{File: file, Field: "name", Msg: fmt.Sprintf("profile %s is already defined by %s, which comes first; this file is ignored (give it another name)", n.ref, first)}
			if line := yamlLine(file, "name", -1); line > 0 {
				err.Line = line
			}
			next.problems = append(next.problems, fileProblem{file, err})
			c.logProblem(old, file, err, "")
			continue
		}
		claimed[n.ref] = file
		if prevN := old.nodes[n.ref]; prevN != nil && prevN != n && reflect.DeepEqual(prevN.compiled, n.compiled) {
			n.compiled = prevN.compiled // unchanged content keeps its identity
		}
		next.nodes[n.ref] = n
		next.byFile[file] = n
	}
	for _, n := range next.byFile {
		delete(next.broken, strings.TrimPrefix(n.ref, LocalPrefix))
	}
	next.finish()

	for ref, n := range next.nodes {
		if o := old.nodes[ref]; o == nil || o.compiled != n.compiled {
			changed = append(changed, ref)
		}
	}
	for ref := range old.nodes {
		if next.nodes[ref] == nil {
			changed = append(changed, ref)
		}
	}
	slices.Sort(changed)
	for _, ref := range changed {
		switch n := next.nodes[ref]; {
		case n == nil:
			c.log.WithField("profile", ref).Info("profile removed")
		case old.nodes[ref] == nil:
			c.log.WithFields(logrus.Fields{"profile": ref, "file": n.file}).Info("profile loaded")
		default:
			c.log.WithFields(logrus.Fields{"profile": ref, "file": n.file}).Info("profile changed")
		}
	}
	c.state.Store(next)
	c.warnMu.Lock()
	clear(c.warned)
	c.warnMu.Unlock()
	return changed, nil
}

// finish fills the derived fields of a state whose nodes are set.
func (st *state) finish() {
	var builtin, local []string
	for ref, n := range st.nodes {
		if n.file == "" {
			builtin = append(builtin, ref)
		} else {
			local = append(local, ref)
		}
	}
	slices.Sort(builtin)
	slices.Sort(local)
	st.refs = append(builtin, local...)
	for _, ref := range local {
		st.images = append(st.images, st.nodes[ref].images...)
	}
	slices.SortStableFunc(st.problems, func(a, b fileProblem) int { return strings.Compare(a.file, b.file) })
}

// logProblem logs a file's error unless the previous scan already reported
// the same error for it.
func (c *Catalog) logProblem(old *state, file string, err error, consequence string) {
	for _, p := range old.problems {
		if p.file == file && p.err.Error() == err.Error() {
			return
		}
	}
	l := c.log.WithField("file", file).WithError(err)
	if consequence != "" {
		l.Errorf("profile file has errors; %s", consequence)
	} else {
		l.Error("profile file has errors; it is ignored")
	}
}

// listFiles lists the profile files of every directory, in precedence
// order. Hidden files (editor backups, Kubernetes ConfigMap internals) and
// directories are skipped.
func (c *Catalog) listFiles() ([]string, error) {
	var files []string
	for _, dir := range c.dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read profile directory: %w", err)
		}
		for _, e := range entries { // sorted by name
			name := e.Name()
			if strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
				continue
			}
			path := filepath.Join(dir, name)
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				continue
			}
			files = append(files, path)
		}
	}
	return files, nil
}

// CheckFile checks a node profile file as the catalog would load it: the
// profile (profiles.LoadFile, Compile) and its images: selectors. The
// error names the file, line and field.
func CheckFile(file string) error {
	_, err := loadFile(file)
	return err
}

// loadFile parses, compiles and checks one node profile file.
func loadFile(file string) (*node, error) {
	p, err := profiles.LoadFile(file)
	if err != nil {
		return nil, err
	}
	cp, err := p.Compile()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	ref := LocalPrefix + p.Name
	cp.Name = ref
	n := &node{ref: ref, file: file, compiled: cp}
	var errs profiles.ErrorList
	for i, s := range p.Images {
		r, err := parseImageRule(s)
		if err != nil {
			errs = append(errs, &profiles.Error{File: file, Line: yamlLine(file, "images", i), Field: fmt.Sprintf("images[%d]", i), Msg: err.Error()})
			continue
		}
		r.ref = ref
		n.images = append(n.images, r)
	}
	if errs != nil {
		return nil, errs
	}
	return n, nil
}

// yamlLine finds the line of a top-level field of a profile file (item i
// of it if i >= 0), for errors found after profiles.LoadFile; 0 if it
// cannot.
func yamlLine(file, field string, i int) int {
	root := readYAML(file)
	if root == nil || root.Kind != yaml.MappingNode {
		return 0
	}
	for k := 0; k+1 < len(root.Content); k += 2 {
		if root.Content[k].Value != field {
			continue
		}
		v := root.Content[k+1]
		if i < 0 {
			return v.Line
		}
		if v.Kind == yaml.SequenceNode && i < len(v.Content) {
			return v.Content[i].Line
		}
		return v.Line
	}
	return 0
}

// profileName is the name: of a file that failed to load, if it has one,
// so that Lookup can point at the broken file.
func profileName(file string) string {
	root := readYAML(file)
	if root == nil || root.Kind != yaml.MappingNode {
		return ""
	}
	for k := 0; k+1 < len(root.Content); k += 2 {
		if root.Content[k].Value == "name" && root.Content[k+1].Kind == yaml.ScalarNode {
			return root.Content[k+1].Value
		}
	}
	return ""
}

func readYAML(file string) (root *yaml.Node) {
	defer func() {
		if recover() != nil {
			root = nil
		}
	}()
	fi, err := os.Stat(file)
	if err != nil || fi.Size() > profiles.MaxFileSize {
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil || len(data) > profiles.MaxFileSize {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}
