package profiles

import "slices"

// Access is a set of operations on a file, as the kernel sees them at
// file_open (read, write, append, create, truncate) and bprm_check_security /
// mmap_file with PROT_EXEC (exec). The bit values are ABI: they are
// KRSI_ACCESS_* of bpf/include/krsi.h, stored in pinned maps; this package
// imports no BPF code, so they are copied, and enforcement's TestABI compares
// the copies with the BPF object.
type Access uint8

const (
	AccessRead Access = 1 << iota
	AccessWrite
	AccessAppend
	AccessCreate
	AccessTruncate
	AccessExec

	// NumAccess is the number of access bits; Entry.Origin has one slot per bit.
	NumAccess = 6
)

// MatchKind says how an Entry's Path is compared with the kernel-resolved
// path. The values are ABI: KRSI_MATCH_* of bpf/include/krsi.h, copied and
// compared like Access's.
type MatchKind uint8

const (
	// MatchExact: the whole path, e.g. "/etc/passwd".
	MatchExact MatchKind = iota + 1
	// MatchChildren: "/usr/bin/*", entries directly inside the directory.
	// Entry.Path is the directory with its trailing slash ("/usr/bin/").
	MatchChildren
	// MatchSubtree: "/opt/app/**", anything below the directory at any depth.
	// Entry.Path is the directory with its trailing slash ("/opt/app/").
	MatchSubtree
	// MatchAncestor is no rule: it marks a directory ("/opt/", with its
	// trailing slash) that is a prefix of some entry's Path, the entry's
	// own directory included (AncestorKeys). The kernel refuses to rename
	// such a directory: the rules beneath it would stop matching.
	MatchAncestor
	// MatchMulticall: a multi-call binary (busybox) whose applets the
	// profile decides. Entry.Path is the binary's path; the exec bit is
	// what an applet no MatchApplet entry names gets.
	MatchMulticall
	// MatchApplet: one applet of a multi-call binary. Entry.Path is the
	// binary's path, a NUL byte and the applet's name (AppletOf).
	MatchApplet
)

// Mode says what happens on a violation: deny it (EPERM) and report it, or
// only report it.
type Mode string

const (
	ModeEnforce Mode = "enforce"
	ModeAudit   Mode = "audit"
)

// Entry is one compiled match key with the decisions of every rule of the
// profile that names exactly this (Path, Kind). When several rules name the
// same key, deny wins over allow for the same access bit.
type Entry struct {
	Path  string
	Kind  MatchKind
	Allow Access
	Deny  Access
	// Origin[i] is the index in Compiled.Rules of the rule that decided
	// access bit 1<<i for this entry (meaningful only where Allow|Deny has
	// that bit). It is what a violation event reports as "rule".
	Origin [NumAccess]uint32
}

// Compiled is a profile reduced to what the kernel needs. The enforcement
// package turns it into map entries; nothing here knows the map layout.
type Compiled struct {
	Name string // "builtin/wx", "localhost/nginx", or a file name for krsi run
	Mode Mode   // the profile's default mode

	// DenyWX forbids making writable or anonymous memory executable.
	DenyWX bool
	// ExecDefaultDeny: an exec (or PROT_EXEC file mapping) that no entry
	// allows is denied. Set when the profile has an exec allow list.
	ExecDefaultDeny bool
	// DenyFileless denies exec of files with no link in any directory
	// (memfd, O_TMPFILE, deleted binaries).
	DenyFileless bool
	// FileDefaultDeny: a file open that no entry allows is denied.
	FileDefaultDeny bool

	Entries []Entry
	// Rules holds one human-readable line per source rule, e.g.
	// `exec.deny[0]: /bin/sh`; events name rules by index into it.
	Rules []string
}

// UsesExec reports whether the exec and mmap_file(PROT_EXEC) hooks have work
// to do for this profile; when false the kernel skips path resolution there.
func (c *Compiled) UsesExec() bool {
	if c.ExecDefaultDeny || c.DenyFileless {
		return true
	}
	for _, e := range c.Entries {
		if (e.Allow|e.Deny)&AccessExec != 0 {
			return true
		}
	}
	return false
}

// UsesApplets reports whether the profile decides the applets of a
// multi-call binary: the kernel then reads the argv of its execs.
func (c *Compiled) UsesApplets() bool {
	for _, e := range c.Entries {
		if e.Kind == MatchMulticall {
			return true
		}
	}
	return false
}

// UsesFiles reports whether the file_open hook has work to do for this profile.
func (c *Compiled) UsesFiles() bool {
	if c.FileDefaultDeny {
		return true
	}
	for _, e := range c.Entries {
		if (e.Allow|e.Deny)&^AccessExec != 0 {
			return true
		}
	}
	return false
}

// AncestorKeys returns, sorted and once each, every prefix ending in '/' of
// every entry's Path: "/", "/etc/" for "/etc/shadow"; "/", "/opt/",
// "/opt/app/" for "/opt/app/**". The kernel looks the path of a renamed
// directory plus "/" up among them (MatchAncestor): a hit means some rule
// lies beneath it, and renaming it would move what the rule names.
func (c *Compiled) AncestorKeys() []string {
	seen := map[string]bool{}
	var keys []string
	for _, e := range c.Entries {
		for i := 0; i < len(e.Path); i++ {
			if e.Path[i] != '/' {
				continue
			}
			if k := e.Path[:i+1]; !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}
