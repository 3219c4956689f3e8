package enforcement

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pinnedLinks makes a pin directory whose links/ holds a file for every
// program this kernel has, as a daemon's pinned set does.
func pinnedLinks(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "links"), 0o700); err != nil {
		tb.Fatal(err)
	}
	for _, p := range programs {
		if p.available() {
			if err := os.WriteFile(filepath.Join(dir, "links", p.name), nil, 0o600); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return dir
}

func TestAttachedNamesTheLinksNoLongerPinned(t *testing.T) {
	tests := []struct {
		name    string
		remove  []string // link pins removed
		wantErr []string // substrings; none: attached
	}{
		{name: "every link pinned"},
		{name: "one link gone", remove: []string{"krsi_file_open"},
			wantErr: []string{"1 program links", "krsi_file_open", "a restart of krsi attaches them again"}},
		{name: "two links gone", remove: []string{"krsi_cgroup_mkdir", "krsi_bprm_check"},
			wantErr: []string{"2 program links", "krsi_cgroup_mkdir, krsi_bprm_check"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := pinnedLinks(t)
			for _, name := range tt.remove {
				if err := os.Remove(filepath.Join(dir, "links", name)); err != nil {
					t.Fatal(err)
				}
			}
			e := &Enforcer{pinDir: dir, hooks: pfAll}
			err := e.Attached()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Attached() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Attached() = nil, want an error naming %v", tt.remove)
			}
			for _, want := range append(tt.wantErr, filepath.Join(dir, "links")) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Attached() = %q, want it to say %q", err, want)
				}
			}
		})
	}
}

func TestAttachedWithoutPinsNeedsTheProcesssLinks(t *testing.T) {
	e := &Enforcer{hooks: pfAll}
	if err := e.Attached(); err == nil || !strings.Contains(err.Error(), "not attached") {
		t.Errorf("Attached() of a closed unpinned enforcer = %v, want not attached", err)
	}
}
