package enforcement

// Go reads the kernel's types and constants from the code bpf2go generates
// from bpf/include/krsi.h (gen.go). What cannot come from there is copied by
// hand: names for the C's enum values, and constants of packages that import
// no BPF code (profiles, enforced). These tests compare each copy with the committed
// BPF objects' BTF, read on the host: no kernel needed.

import (
	"encoding/binary"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

// committedObjects loads the BPF object this build embeds and, where the
// package's source is at hand, every committed one (both architectures, and
// the upgrade tests' second object); the VM suite has the test binary only.
func committedObjects(t *testing.T) map[string]*ebpf.CollectionSpec {
	t.Helper()
	out := map[string]*ebpf.CollectionSpec{"embedded object": hostObject(t)}
	files, err := filepath.Glob("bpf*_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		spec, err := ebpf.LoadCollectionSpec(f)
		if err != nil {
			t.Fatalf("load %s: %v", f, err)
		}
		out[f] = spec
	}
	return out
}

// hostObject is the object this build embeds.
func hostObject(t *testing.T) *ebpf.CollectionSpec {
	t.Helper()
	spec, err := loadBpf()
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// btfEnum returns the enumerators of a C enum, by name.
func btfEnum(t *testing.T, spec *ebpf.CollectionSpec, name string) map[string]uint64 {
	t.Helper()
	var e *btf.Enum
	if err := spec.Types.TypeByName(name, &e); err != nil {
		t.Fatalf("enum %s: %v", name, err)
	}
	out := map[string]uint64{}
	for _, v := range e.Values {
		out[v.Name] = v.Value
	}
	return out
}

// btfStruct returns a C struct's members, by name.
func btfStruct(t *testing.T, spec *ebpf.CollectionSpec, name string) map[string]btf.Member {
	t.Helper()
	var s *btf.Struct
	if err := spec.Types.TypeByName(name, &s); err != nil {
		t.Fatalf("struct %s: %v", name, err)
	}
	out := map[string]btf.Member{}
	for _, m := range s.Members {
		out[m.Name] = m
	}
	return out
}

// arrayLen is the length of an array member of a C struct.
func arrayLen(t *testing.T, spec *ebpf.CollectionSpec, st, member string) int {
	t.Helper()
	m, ok := btfStruct(t, spec, st)[member]
	if !ok {
		t.Fatalf("struct %s has no member %s", st, member)
	}
	a, ok := m.Type.(*btf.Array)
	if !ok {
		t.Fatalf("%s.%s is a %s, not an array", st, member, m.Type)
	}
	return int(a.Nelems)
}

// sameEnum fails unless the copy names exactly the C enum's values.
func sameEnum(t *testing.T, what string, c, copied map[string]uint64) {
	t.Helper()
	for name, v := range c {
		if got, ok := copied[name]; !ok {
			t.Errorf("%s: %s = %d is in the C, not in the Go copy", what, name, v)
		} else if got != v {
			t.Errorf("%s: %s is %d in the C, %d in the Go copy", what, name, v, got)
		}
	}
	for name := range copied {
		if _, ok := c[name]; !ok {
			t.Errorf("%s: the Go copy has %s, the C does not", what, name)
		}
	}
}

// Every hook, reason and action the C can report has a name in events, and
// no two share one: a value added to the C without a name would reach the
// log as "".
func TestABIEventNamesCoverTheCEnums(t *testing.T) {
	for file, spec := range committedObjects(t) {
		for _, tab := range []struct {
			enum  string
			names func(uint64) (string, bool)
		}{
			{"krsi_hook", func(v uint64) (string, bool) { n, ok := hooks[bpfKrsiHook(v)]; return n, ok }},
			{"krsi_reason", func(v uint64) (string, bool) { n, ok := reasons[bpfKrsiReason(v)]; return n, ok }},
			{"krsi_action", func(v uint64) (string, bool) { n, ok := actions[bpfKrsiAction(v)]; return n, ok }},
		} {
			seen := map[string]string{}
			for c, v := range btfEnum(t, spec, tab.enum) {
				n, ok := tab.names(v)
				if !ok || n == "" {
					t.Errorf("%s: %s = %d has no name in events.go", file, c, v)
					continue
				}
				if other, dup := seen[n]; dup {
					t.Errorf("%s: %s and %s are both named %q", file, other, c, n)
				}
				seen[n] = c
			}
			if len(seen) == 0 {
				t.Errorf("%s: enum %s is empty", file, tab.enum)
			}
		}
	}
}

// The profiles package imports no BPF code: its access bits, match kinds
// and path limit are copies of krsi.h's.
func TestABIProfilesConstantsAreTheCs(t *testing.T) {
	for file, spec := range committedObjects(t) {
		sameEnum(t, file+": enum krsi_access / profiles.Access", btfEnum(t, spec, "krsi_access"), map[string]uint64{
			"KRSI_ACCESS_READ":     uint64(profiles.AccessRead),
			"KRSI_ACCESS_WRITE":    uint64(profiles.AccessWrite),
			"KRSI_ACCESS_APPEND":   uint64(profiles.AccessAppend),
			"KRSI_ACCESS_CREATE":   uint64(profiles.AccessCreate),
			"KRSI_ACCESS_TRUNCATE": uint64(profiles.AccessTruncate),
			"KRSI_ACCESS_EXEC":     uint64(profiles.AccessExec),
		})
		sameEnum(t, file+": enum krsi_match / profiles.MatchKind", btfEnum(t, spec, "krsi_match"), map[string]uint64{
			"KRSI_MATCH_EXACT":     uint64(profiles.MatchExact),
			"KRSI_MATCH_CHILDREN":  uint64(profiles.MatchChildren),
			"KRSI_MATCH_SUBTREE":   uint64(profiles.MatchSubtree),
			"KRSI_MATCH_ANCESTOR":  uint64(profiles.MatchAncestor),
			"KRSI_MATCH_MULTICALL": uint64(profiles.MatchMulticall),
			"KRSI_MATCH_APPLET":    uint64(profiles.MatchApplet),
		})
		if n := arrayLen(t, spec, "krsi_rule", "origin"); n != profiles.NumAccess {
			t.Errorf("%s: krsi_rule.origin has %d slots (KRSI_NUM_ACCESS), profiles.NumAccess is %d", file, n, profiles.NumAccess)
		}
		if n := btfEnum(t, spec, "krsi_exec_limit")["KRSI_APPLET_MAX"]; n-1 != profiles.MaxAppletName {
			t.Errorf("%s: KRSI_APPLET_MAX is %d (NUL included), profiles.MaxAppletName is %d", file, n, profiles.MaxAppletName)
		}
		if n := arrayLen(t, spec, "krsi_scratch", "path"); n-1 != profiles.MaxPathLen {
			t.Errorf("%s: krsi_scratch.path holds %d bytes (KRSI_PATH_MAX), profiles.MaxPathLen is %d", file, n, profiles.MaxPathLen)
		}
	}
}

// The enforced package imports no BPF code: its parent kinds and limits are
// copies of the C's.
func TestABIEnforcedConstantsAreTheCs(t *testing.T) {
	for file, spec := range committedObjects(t) {
		sameEnum(t, file+": enum krsi_parent_kind / enforced.ParentKind", btfEnum(t, spec, "krsi_parent_kind"), map[string]uint64{
			"KRSI_PARENT_PODS":       uint64(enforced.ParentOfPods),
			"KRSI_PARENT_CONTAINERS": uint64(enforced.ParentOfContainers),
		})
		if n := arrayLen(t, spec, "krsi_cgroup_path", "path"); n-1 != enforced.MaxCgroupPathLen {
			t.Errorf("%s: krsi_cgroup_path.path holds %d bytes (KRSI_CGROUP_PATH_MAX), enforced.MaxCgroupPathLen is %d",
				file, n, enforced.MaxCgroupPathLen)
		}
		for _, m := range []string{bpfMapKrsiParentPaths, bpfMapKrsiParents} {
			if got := spec.Maps[m].MaxEntries; got != enforced.MaxCgroupParents {
				t.Errorf("%s: %s holds %d entries, enforced.MaxCgroupParents is %d", file, m, got, enforced.MaxCgroupParents)
			}
		}
	}
}

// hash.go computes the kernel's path hashes (bpf/lib/pathmatch.h) in Go; the
// object carries the constants (krsi_path_hash, beside them) for this comparison.
func TestABIPathHashConstantsAreTheCs(t *testing.T) {
	for file, spec := range committedObjects(t) {
		v, ok := spec.Variables["krsi_path_hash"]
		if !ok {
			t.Fatalf("%s: no variable krsi_path_hash", file)
		}
		var got [2]uint64
		if err := v.Get(&got); err != nil {
			t.Fatalf("%s: read krsi_path_hash: %v", file, err)
		}
		if got != [2]uint64{h1Prime, h2Mult} {
			t.Errorf("%s: KRSI_H1_PRIME, KRSI_H2_MULT are %#x, hash.go has %#x, %#x", file, got, uint64(h1Prime), uint64(h2Mult))
		}
	}
}

// rawEvent lays out a struct krsi_event record as the C declares it (BTF
// offsets and sizes, not bpfKrsiEvent's), followed by path.
func rawEvent(t *testing.T, spec *ebpf.CollectionSpec, fields map[string]uint64, comm, path string) []byte {
	t.Helper()
	var st *btf.Struct
	if err := spec.Types.TypeByName("krsi_event", &st); err != nil {
		t.Fatal(err)
	}
	members := btfStruct(t, spec, "krsi_event")
	raw := make([]byte, st.Size, int(st.Size)+len(path))
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m, ok := members[n]
		if !ok {
			t.Fatalf("struct krsi_event has no member %s", n)
		}
		size, err := btf.Sizeof(m.Type)
		if err != nil {
			t.Fatal(err)
		}
		off := m.Offset.Bytes()
		var b [8]byte
		binary.NativeEndian.PutUint64(b[:], fields[n])
		copy(raw[off:off+uint32(size)], b[:size])
	}
	copy(raw[members["comm"].Offset.Bytes():], comm)
	return append(raw, path...)
}

// An event decodes as the C lays it out, with the names of the C's values.
func TestDecodeEvent(t *testing.T) {
	spec := hostObject(t)
	hook, reason := btfEnum(t, spec, "krsi_hook"), btfEnum(t, spec, "krsi_reason")
	action, access := btfEnum(t, spec, "krsi_action"), btfEnum(t, spec, "krsi_access")
	fields := map[string]uint64{
		"cgroup_id": 42, "pid": 7, "tid": 8, "profile_id": 3,
		"rule":   btfEnum(t, spec, "krsi_rule_none")["KRSI_RULE_NONE"],
		"hook":   hook["KRSI_HOOK_BPRM_CHECK"],
		"reason": reason["KRSI_REASON_FILELESS"],
		"action": action["KRSI_ACTION_DENIED"],
		"access": access["KRSI_ACCESS_EXEC"],
		"prot":   5, "vm_start": 0x1000, "vm_end": 0x3000, "vm_flags": 0x75,
		"path_len": uint64(len("/memfd:x")),
	}
	raw := rawEvent(t, spec, fields, "sh", "/memfd:x\x00")
	got, err := decodeEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := enforced.Event{CgroupID: 42, PID: 7, TID: 8, Comm: "sh", ProfileID: 3, Rule: -1,
		Hook: "bprm_check_security", Reason: "fileless", Action: "denied", Access: profiles.AccessExec,
		Prot: 5, VMStart: 0x1000, VMEnd: 0x3000, VMFlags: 0x75, Path: "/memfd:x"}
	got.Time = want.Time
	if got != want {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}

	fields["rule"], fields["reason"], fields["action"] = 12, reason["KRSI_REASON_RULE"], action["KRSI_ACTION_AUDITED"]
	fields["hook"] = hook["KRSI_HOOK_INODE_ATTR"]
	if got, err := decodeEvent(rawEvent(t, spec, fields, "sh", "/memfd:x")); err != nil ||
		got.Rule != 12 || got.Reason != "rule" || got.Action != "audited" || got.Hook != "inode_attr" {
		t.Fatalf("a rule's audited event: %+v, %v", got, err)
	}

	if _, err := decodeEvent(raw[:10]); err == nil {
		t.Fatal("a short record decoded without error")
	}
	fields["path_len"] = 4096 // longer than the record: cut, never a panic
	if got, err := decodeEvent(rawEvent(t, spec, fields, "sh", "")); err != nil || got.Path != "" {
		t.Fatalf("overlong path_len: %+v, %v", got, err)
	}
}
