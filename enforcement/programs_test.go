package enforcement

import (
	"sort"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/profiles"
)

// The attach table names every program of the BPF object, once: a program
// added to bpf/ but not to the table would be loaded and never attached.
func TestProgramTableMatchesTheObject(t *testing.T) {
	spec, err := loadBpf()
	if err != nil {
		t.Fatal(err)
	}
	var inObject, inTable []string
	for name := range spec.Programs {
		inObject = append(inObject, name)
	}
	for _, p := range programs {
		inTable = append(inTable, p.name)
	}
	sort.Strings(inObject)
	sort.Strings(inTable)
	if strings.Join(inObject, " ") != strings.Join(inTable, " ") {
		t.Fatalf("programs in the object:\n%v\nin the attach table:\n%v", inObject, inTable)
	}
}

// Options.For loads the programs a profile's rules need, and a set loaded
// for one profile refuses another that needs more (never a profile half
// enforced).
func TestProgramsForAProfile(t *testing.T) {
	builtin := func(name string) *profiles.Compiled {
		t.Helper()
		p, err := profiles.Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.Compile()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	count := func(hooks uint32) (n int, names []string) {
		for _, p := range programs {
			if p.wanted(hooks) {
				n++
				names = append(names, p.name)
			}
		}
		return n, names
	}
	// Every program this kernel can attach (one of the two inode_setattr
	// programs, say): see kernelHooks.
	all := 0
	for _, p := range programs {
		if p.available() {
			all++
		}
	}
	tests := []struct {
		profiles []string
		want     int
		has      []string
		hasNot   []string
	}{
		{nil, all, []string{"krsi_path_unlink", "krsi_wx_ptrace_access"}, nil},
		// Every profile: the programs that keep a process in its container's
		// cgroups (file_open, file_receive: cgroup.procs; task_alloc: clone3).
		// W^X: one program per hook it shares with the path rules
		// (bprm_check: ELF programs a W^X process wrote), the rest of its own.
		{[]string{"wx"}, 13, []string{"krsi_cgroup_mkdir", "krsi_file_mprotect", "krsi_mmap_file",
			"krsi_bprm_check", "krsi_exec_stage_reset", "krsi_file_open", "krsi_file_receive",
			"krsi_task_alloc", "krsi_wx_ptrace_access"},
			[]string{"krsi_path_unlink", "krsi_path_rename", "krsi_file_permission"}},
		// Exec rules: bprm_check, the exec mapping, the interpreter's open, and
		// the renames that would give a denied binary a new name; the W^X set
		// too (no-shell denies W^X).
		// And, for its busybox applet rules, the check after exec's point of no return.
		{[]string{"no-shell"}, 17, []string{"krsi_bprm_check", "krsi_bprm_committing", "krsi_file_open", "krsi_path_rename",
			"krsi_path_chroot", "krsi_task_alloc"},
			[]string{"krsi_path_unlink"}},
		// Files: every path hook, and bprm_check, which arms path rules at the entrypoint.
		{[]string{"readonly-root"}, all - 1, []string{"krsi_file_open", "krsi_path_unlink", "krsi_bprm_check"},
			[]string{"krsi_bprm_committing"}},
		{[]string{"wx", "nginx"}, all - 1, nil, nil},
		{[]string{"nginx", "no-shell"}, all, nil, nil},
	}
	for _, tt := range tests {
		var cs []*profiles.Compiled
		for _, n := range tt.profiles {
			cs = append(cs, builtin(n))
		}
		n, names := count(hooksFor(cs))
		if n != tt.want {
			t.Errorf("%v: %d programs %v, want %d", tt.profiles, n, names, tt.want)
		}
		got := " " + strings.Join(names, " ") + " "
		for _, h := range tt.has {
			if !strings.Contains(got, " "+h+" ") {
				t.Errorf("%v: no %s in %v", tt.profiles, h, names)
			}
		}
		for _, h := range tt.hasNot {
			if strings.Contains(got, " "+h+" ") {
				t.Errorf("%v: %s loaded, which none of its rules need", tt.profiles, h)
			}
		}
	}

	// builtin/readonly-root denies writes only: a read-only open skips the path.
	if ro := profileFlags(builtin("readonly-root")) >> pfFileNoDenyShift; ro&uint32(profiles.AccessRead) == 0 ||
		ro&uint32(profiles.AccessWrite) != 0 {
		t.Errorf("builtin/readonly-root: no-deny bits %#x, want read and not write", ro)
	}

	e := &Enforcer{hooks: hooksFor([]*profiles.Compiled{builtin("wx")})}
	_, err := e.SetProfile(builtin("readonly-root"))
	if err == nil || !strings.Contains(err.Error(), "profile builtin/readonly-root: its files rules have no programs in this set (Options.For loaded only memory)") {
		t.Fatalf("SetProfile of a profile needing more programs: %v", err)
	}
}

// The files access bits a profile can never deny are the ones the kernel
// skips resolving a path for (KRSI_PF_FILE_NODENY_SHIFT): none with a
// default deny, and none that any entry denies.
func TestFileNoDenyBitsAreTheBitsNoRuleCanDeny(t *testing.T) {
	const files = uint32(profiles.AccessRead | profiles.AccessWrite | profiles.AccessAppend |
		profiles.AccessCreate | profiles.AccessTruncate)
	for _, tt := range []struct {
		name string
		c    profiles.Compiled
		want uint32
	}{
		{"no rules", profiles.Compiled{DenyWX: true}, files},
		{"default deny", profiles.Compiled{FileDefaultDeny: true}, 0},
		{"write denied", profiles.Compiled{Entries: []profiles.Entry{{Path: "/", Deny: profiles.AccessWrite},
			{Path: "/tmp/", Allow: profiles.AccessWrite}}}, files &^ uint32(profiles.AccessWrite)},
		{"allow only", profiles.Compiled{Entries: []profiles.Entry{{Path: "/etc/", Allow: profiles.AccessRead}}}, files},
		{"exec deny", profiles.Compiled{Entries: []profiles.Entry{{Path: "/bin/sh", Deny: profiles.AccessExec}}}, files},
	} {
		if got := profileFlags(&tt.c) >> pfFileNoDenyShift; got != tt.want {
			t.Errorf("%s: no-deny bits %#x, want %#x", tt.name, got, tt.want)
		}
	}
}
