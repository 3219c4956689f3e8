// Package recorder turns what a workload did into the smallest profile that
// allows it. The workload runs under Observe, an audit profile that reports
// every exec, executable mapping, file open and W^X violation; the recorder
// collects those events and writes a krsi.dev/v1 profile. Step in the
// pipeline: kernel events → this → a profile file to review and enforce.
package recorder

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

// Observe is the profile a workload is recorded under: audit mode, every
// default set to deny and no rule, so every operation a profile can govern is
// reported (and allowed).
//
// The usual paths of multi-call binaries are observed by applet too: every
// applet they run is reported (event field applet), and the profile written
// lists them under exec.applets.
func Observe() *profiles.Compiled {
	c := &profiles.Compiled{
		Name:            "krsi/record",
		Mode:            profiles.ModeAudit,
		DenyWX:          true,
		ExecDefaultDeny: true,
		DenyFileless:    true,
		FileDefaultDeny: true,
	}
	for _, p := range MultiCallPaths {
		c.Entries = append(c.Entries, profiles.Entry{Path: p, Kind: profiles.MatchMulticall,
			Deny: profiles.AccessExec, Origin: [profiles.NumAccess]uint32{5: uint32(len(c.Rules))}})
		c.Rules = append(c.Rules, "krsi record: the applets of "+p)
	}
	sort.Slice(c.Entries, func(i, j int) bool { return c.Entries[i].Path < c.Entries[j].Path })
	return c
}

// MultiCallPaths are the multi-call binaries `krsi record` observes by
// applet: busybox's usual places (exec.applets follows busybox's way of
// picking an applet, docs/profiles.md).
var MultiCallPaths = []string{
	"/bin/busybox", "/usr/bin/busybox", "/sbin/busybox", "/usr/sbin/busybox", "/usr/local/bin/busybox",
}

// Recorder collects events. It is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	execs    map[string]*seen           // exec and PROT_EXEC mappings, by path
	applets  map[string]map[string]bool // multi-call binary → the applets it ran
	files    map[string]*seen           // opens, by path
	wx       map[string]bool            // W^X reasons seen
	fileless bool
	pathless map[string]bool // opens of objects with no path (pipe:[..])
	events   int
	limit    int // distinct paths kept at most (execs and files); 0: no limit
	dropped  int // events on paths beyond the limit
}

// seen is what was done to one path, and by whom.
type seen struct {
	access profiles.Access
	count  int
	comms  map[string]bool
}

// New returns an empty recorder.
func New() *Recorder {
	return &Recorder{execs: map[string]*seen{}, applets: map[string]map[string]bool{}, files: map[string]*seen{}, wx: map[string]bool{}, pathless: map[string]bool{}}
}

// Add records one event of the observed workload.
func (r *Recorder) Add(ev enforced.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events++
	switch {
	case strings.HasPrefix(ev.Reason, "wx-"):
		r.wx[ev.Reason] = true
	case ev.Reason == "fileless":
		r.fileless = true
	case ev.Path == "":
	case ev.Applet != "":
		if r.applets[ev.Path] == nil {
			r.applets[ev.Path] = map[string]bool{}
		}
		r.applets[ev.Path][ev.Applet] = true
		r.note(r.execs, ev.Path, profiles.AccessExec, ev.Comm)
	case !strings.HasPrefix(ev.Path, "/"):
		r.pathless[pathlessKind(ev.Path)] = true
	case ev.Hook == "bprm_check_security" || ev.Hook == "mmap_file":
		r.note(r.execs, ev.Path, profiles.AccessExec, ev.Comm)
	case ev.Hook == "file_open" || ev.Hook == "file_receive" || strings.HasPrefix(ev.Hook, "path_"):
		r.note(r.files, strings.TrimSuffix(ev.Path, " (deleted)"), ev.Access, ev.Comm)
	}
}

func pathlessKind(p string) string {
	if i := strings.IndexAny(p, ":["); i > 0 {
		return p[:i]
	}
	return p
}

func (r *Recorder) note(m map[string]*seen, p string, a profiles.Access, comm string) {
	s := m[p]
	if s == nil && r.limit > 0 && len(r.execs)+len(r.files) >= r.limit {
		r.dropped++
		return
	}
	if s == nil {
		s = &seen{comms: map[string]bool{}}
		m[p] = s
	}
	s.access |= a
	s.count++
	s.comms[comm] = true
}

// Limit makes the recorder keep at most n distinct paths (0: no limit,
// as for `krsi record`); events on further paths are only counted, by
// Dropped. It bounds a recording's memory when the node records pods.
func (r *Recorder) Limit(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.limit = n
}

// Dropped is how many events were not kept because of Limit: a profile
// written from such a recording would be incomplete.
func (r *Recorder) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Events is how many events were recorded.
func (r *Recorder) Events() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}

// volatile are trees whose entries change from run to run (pids, temporary
// names, terminals): a rule for what was seen there covers the whole tree.
var volatile = []string{"/proc/", "/tmp/", "/var/tmp/", "/run/", "/dev/shm/", "/dev/pts/", "/sys/"}

// collapseAt is how many siblings seen in one directory (with the same
// access) make a "dir/*" rule instead of one rule each.
const collapseAt = 4

// rule is one line of the profile to write.
type rule struct {
	pattern string
	access  profiles.Access
	why     string
}

// Profile writes the recorded profile as YAML.
func (r *Recorder) Profile(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "# Recorded by `krsi record` from %d events: it allows exactly what the\n", r.events)
	b.WriteString("# workload was seen to do. Review it, then enforce it.\n")
	fmt.Fprintf(&b, "apiVersion: krsi.dev/v1\nkind: Profile\nname: %s\nmode: enforce\n", name)

	b.WriteString("memory:\n")
	if len(r.wx) > 0 {
		fmt.Fprintf(&b, "  wx: allow   # seen: %s (a JIT or similar)\n", strings.Join(sortedKeys(r.wx), ", "))
	} else {
		b.WriteString("  wx: deny\n")
	}

	b.WriteString("exec:\n")
	execRules := collapse(r.execs)
	if len(execRules) == 0 {
		b.WriteString("  deny: [\"/**\"]   # nothing was executed\n")
	} else {
		b.WriteString("  allow:\n")
		for _, x := range execRules {
			fmt.Fprintf(&b, "    - %s   # %s\n", x.pattern, x.why)
		}
	}
	if bins := sortedKeys(boolKeys(r.applets)); len(bins) > 0 {
		b.WriteString("  applets:   # the applets each multi-call binary was seen to run\n")
		for _, bin := range bins {
			var names []string
			for _, a := range sortedKeys(r.applets[bin]) {
				if profiles.ValidApplet(a) {
					names = append(names, strconv.Quote(a)) // "[" is an applet
				}
			}
			if len(names) == 0 || !expressible(bin) {
				continue
			}
			fmt.Fprintf(&b, "    - binary: %s\n      allow: [%s]\n", strconv.Quote(bin), strings.Join(names, ", "))
		}
	}
	if r.fileless {
		b.WriteString("  fileless: allow   # seen: exec of a file with no link (memfd)\n")
	} else {
		b.WriteString("  fileless: deny\n")
	}

	b.WriteString("files:\n")
	if len(r.pathless) > 0 {
		// Such opens match no path rule: only the default can allow them.
		fmt.Fprintf(&b, "  default: allow   # seen: opens of %s, which have no path\n",
			strings.Join(sortedKeys(r.pathless), ", "))
	} else {
		b.WriteString("  default: deny\n")
	}
	fileRules := collapse(r.files)
	if len(fileRules) > 0 {
		b.WriteString("  rules:\n")
		for _, x := range fileRules {
			fmt.Fprintf(&b, "    - path: %s\n      allow: [%s]   # %s\n", x.pattern, words(x.access), x.why)
		}
	}
	return b.String()
}

// collapse turns the paths seen into rules: volatile trees become one subtree
// rule; directories with many siblings seen alike become "dir/*".
func collapse(m map[string]*seen) []rule {
	merged := map[string]*seen{} // pattern → what it covers
	add := func(pattern string, s *seen) {
		t := merged[pattern]
		if t == nil {
			t = &seen{comms: map[string]bool{}}
			merged[pattern] = t
		}
		t.access |= s.access
		t.count += s.count
		for c := range s.comms {
			t.comms[c] = true
		}
	}
	byDir := map[string][]string{}
	for p, s := range m {
		if v := volatileRoot(p); v != "" {
			add(v+"**", s)
			continue
		}
		if !expressible(p) {
			// A name a pattern cannot spell: allow its directory's entries.
			add(strings.TrimSuffix(path.Dir(p), "/")+"/*", s)
			continue
		}
		dir := path.Dir(p)
		byDir[dir] = append(byDir[dir], p)
	}
	for dir, ps := range byDir {
		groups := map[profiles.Access][]string{}
		for _, p := range ps {
			groups[m[p].access] = append(groups[m[p].access], p)
		}
		for _, g := range groups {
			if len(g) >= collapseAt {
				for _, p := range g {
					add(strings.TrimSuffix(dir, "/")+"/*", m[p])
				}
				continue
			}
			for _, p := range g {
				add(p, m[p])
			}
		}
	}
	out := make([]rule, 0, len(merged))
	for p, s := range merged {
		comms := sortedKeys(s.comms)
		for i, c := range comms {
			comms[i] = strings.Map(printable, c)
		}
		out = append(out, rule{pattern: strconv.Quote(p), access: s.access,
			why: fmt.Sprintf("seen %d× by %s", s.count, strings.Join(comms, ", "))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pattern < out[j].pattern })
	return out
}

// expressible reports whether a profile can name p exactly: patterns reserve
// * ? [ and take no . or .. segments.
func expressible(p string) bool {
	return !strings.ContainsAny(p, "*?[\x00") && path.Clean(p) == p
}

func printable(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return '?'
	}
	return r
}

func volatileRoot(p string) string {
	for _, v := range volatile {
		if strings.HasPrefix(p, v) {
			return v
		}
	}
	return ""
}

// words spells access bits as profile access words.
func words(a profiles.Access) string {
	var w []string
	for _, x := range []struct {
		bit  profiles.Access
		word string
	}{
		{profiles.AccessRead, "read"}, {profiles.AccessWrite, "write"}, {profiles.AccessAppend, "append"},
		{profiles.AccessCreate, "create"}, {profiles.AccessTruncate, "truncate"},
	} {
		if a&x.bit != 0 {
			w = append(w, x.word)
		}
	}
	return strings.Join(w, ", ")
}

func boolKeys(m map[string]map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
