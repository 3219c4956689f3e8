package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/profiles"
)

var fallbackSince = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func sampleStatus() *enforcement.Status {
	return &enforcement.Status{
		PinDir:  "/sys/fs/bpf/krsi",
		Set:     &enforcement.SetRecord{Object: "0123456789ab", ABI: 3},
		Running: enforcement.SetRecord{Object: "0123456789ab", ABI: 3},
		Programs: []enforcement.ProgramStatus{
			{Name: "krsi_cgroup_mkdir", Pinned: true, Attached: true, LinkID: 12, ProgramID: 40},
			{Name: "krsi_cgroup_rmdir", Pinned: true, Attached: true, LinkID: 13, ProgramID: 41},
			{Name: "krsi_file_mprotect", Pinned: true, Attached: true, LinkID: 14, ProgramID: 42},
			{Name: "krsi_mmap_file", Pinned: true, Attached: true, LinkID: 15, ProgramID: 43},
			{Name: "krsi_bprm_check", Pinned: true, Attached: true, LinkID: 16, ProgramID: 44},
			{Name: "krsi_file_open"},
		},
		Bindings: []enforcement.BoundCgroup{
			{CgroupID: 4242, Path: "/kubepods/pod1/ctr", ProfileID: 1, ProfileName: "wx", Mode: profiles.ModeEnforce, Staged: true},
			{CgroupID: 4243, Path: "/kubepods/pod1/ctr/sub", ProfileID: 1, ProfileName: "wx", Mode: profiles.ModeEnforce, Inherited: true},
			{CgroupID: 5000, ProfileID: 3, Mode: profiles.ModeAudit},
			{CgroupID: 6000, Path: "/kubepods/besteffort/pod9/c1", ProfileID: 1, ProfileName: "wx", Mode: profiles.ModeEnforce,
				Fallback: true, FallbackSince: &fallbackSince},
		},
		Parents: []enforcement.MarkedParent{
			{Path: "/kubepods/besteffort", Kind: enforced.ParentOfPods, Profile: 1, Mode: profiles.ModeEnforce},
			{ID: 77, Kind: enforced.ParentOfPods, Profile: 1, Mode: profiles.ModeEnforce},
		},
		FallbackBound: 1,
		Staged: []enforcement.StagedCgroup{
			{Path: "/kubepods/pod2/ctr", ProfileID: 2, ProfileName: "shop-api", Mode: profiles.ModeAudit},
		},
		Profiles: []enforcement.ProfileInfo{
			{ID: 1, Name: "wx", Rules: 1, Loaded: true, Bound: 2},
			{ID: 2, Name: "shop-api", Rules: 12, Loaded: true, Staged: 1},
			{ID: 3, Bound: 1},
		},
		Maps: []enforced.MapUsage{
			{Name: "krsi_bindings", Entries: 3, MaxEntries: 65536},
			{Name: "krsi_staged", Entries: 1, MaxEntries: 16384},
			{Name: "krsi_profiles", Entries: 2, MaxEntries: 4096},
			{Name: "krsi_rules", Entries: 524288, MaxEntries: 1 << 20},
		},
		DroppedEvents: 3,
		CgroupWalk:    &enforcement.CgroupWalk{Mount: "/sys/fs/cgroup", Visited: 812, Limit: 100000, Unresolved: 1},
	}
}

func TestStatusTextIsOneTablePerSection(t *testing.T) {
	var out bytes.Buffer
	if err := writeStatusText(&out, sampleStatus()); err != nil {
		t.Fatal(err)
	}
	want := `krsi: PARTLY ENFORCING, 5 of 6 programs attached (pins in /sys/fs/bpf/krsi)
pinned set: object 0123456789ab (map layout ABI 3); this krsi: object 0123456789ab (map layout ABI 3)

PROGRAM             STATE       LINK ID  PROGRAM ID
krsi_cgroup_mkdir   attached    12       40
krsi_cgroup_rmdir   attached    13       41
krsi_file_mprotect  attached    14       42
krsi_mmap_file      attached    15       43
krsi_bprm_check     attached    16       44
krsi_file_open      not pinned  -        -

BOUND CGROUPS: 4
CGROUP ID  PATH                          PROFILE                                   MODE     BOUND BY
4242       /kubepods/pod1/ctr            wx                                        enforce  staged path
4243       /kubepods/pod1/ctr/sub        wx                                        enforce  parent cgroup
5000       ?                             #3 (not loaded: its cgroups fail closed)  audit    direct
6000       /kubepods/besteffort/pod9/c1  wx                                        enforce  fallback since 2026-11-27T10:00:00Z
(paths: 3 of 4 found in 812 directories of /sys/fs/cgroup; "?": outside this cgroup mount or removed meanwhile)

STAGED CGROUPS: 1
PATH                PROFILE   MODE
/kubepods/pod2/ctr  shop-api  audit

FAIL CLOSED: on; 1 container cgroups run under the fallback now
MARKED PARENT         CHILDREN  FALLBACK PROFILE  MODE
/kubepods/besteffort  pods      wx                enforce
cgroup id 77          pods      wx                enforce

PROFILES: 3
ID  NAME                                      RULES  BOUND  STAGED
1   wx                                        1      2      0
2   shop-api                                  12     0      1
3   #3 (not loaded: its cgroups fail closed)  0      1      0

MAP            ENTRIES  MAX      USED
krsi_bindings  3        65536    <0.1%
krsi_staged    1        16384    <0.1%
krsi_profiles  2        4096     <0.1%
krsi_rules     524288   1048576  50.0%

COUNTERS (since the maps were created)
dropped events     3  ring buffer full: violations not reported (still enforced)
failed bindings    0  cgroups not bound at creation: krsi_bindings was full
fallback bindings  1  containers the kernel bound to the fallback profile (nothing staged)
nested refused     0  cgroups made inside a container past its quota: left unbound, closed to its processes
`
	if out.String() != want {
		t.Errorf("status text:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestStatusJSONNamesEveryField(t *testing.T) {
	var out bytes.Buffer
	if err := writeStatusJSON(&out, sampleStatus()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		PinDir   string `json:"pin_dir"`
		Bindings []map[string]any
		Maps     []map[string]any
		Dropped  uint64         `json:"dropped_events"`
		Walk     map[string]any `json:"cgroup_walk"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	b := got.Bindings[1]
	if got.PinDir != "/sys/fs/bpf/krsi" || got.Dropped != 3 || b["cgroup_id"] != 4243.0 ||
		b["path"] != "/kubepods/pod1/ctr/sub" || b["profile"] != "wx" || b["mode"] != "enforce" ||
		b["inherited"] != true || b["staged"] != false || got.Maps[3]["max_entries"] != 1048576.0 ||
		got.Walk["unresolved"] != 1.0 {
		t.Fatalf("status JSON:\n%s", out.String())
	}
}

func TestStatusTextSaysWhyPathsAreMissing(t *testing.T) {
	st := sampleStatus()
	st.CgroupWalk = &enforcement.CgroupWalk{Mount: "/sys/fs/cgroup", Visited: 10, Limit: 10, Unresolved: 1, Truncated: true}
	want := "(paths: 3 of 4 found in 10 directories of /sys/fs/cgroup; stopped at --cgroup-walk-limit 10)"
	if got := walkNote(st); got != want {
		t.Errorf("walk note = %q, want %q", got, want)
	}
	st.CgroupWalk = nil
	if got := walkNote(st); got != "(paths not looked up)" {
		t.Errorf("walk note without a walk = %q", got)
	}
}

func TestStatusWithNothingPinnedSaysKrsiIsNotLoaded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "krsi")
	cmd := statusCmd()
	cmd.SetArgs([]string{"--pin-dir", dir})
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(new(bytes.Buffer))
	err := cmd.Execute()
	want := "krsi is not loaded on this node (no pins in " + dir + ")"
	if err == nil || err.Error() != want {
		t.Fatalf("status of an empty pin dir: %v, want %q", err, want)
	}
}

func TestStatusRefusesAnUnknownFormat(t *testing.T) {
	cmd := statusCmd()
	cmd.SetArgs([]string{"--format", "yaml"})
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(new(bytes.Buffer))
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), `--format "yaml"`) {
		t.Fatalf("status --format yaml: %v", err)
	}
}

func TestStatusSaysWhoseSetIsPinned(t *testing.T) {
	running := enforcement.SetRecord{Object: "0123456789ab", ABI: 3}
	tests := []struct {
		name string
		set  *enforcement.SetRecord
		want string
	}{
		{"this build's", &enforcement.SetRecord{Object: "0123456789ab", ABI: 3}, "object 0123456789ab (map layout ABI 3)"},
		{"another object", &enforcement.SetRecord{Object: "ba9876543210", ABI: 3}, "object ba9876543210 (map layout ABI 3) (another build: its daemon's next start replaces it)"},
		{"another layout", &enforcement.SetRecord{Object: "0123456789ab", ABI: 4}, "object 0123456789ab (map layout ABI 4) (another build: its daemon's next start replaces it)"},
		{"before records", nil, "recorded no object (pinned by a krsi before sets were recorded; the next start replaces it)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := setState(&enforcement.Status{Set: tt.set, Running: running}); got != tt.want {
				t.Errorf("setState = %q, want %q", got, tt.want)
			}
		})
	}
}
