package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestReadDefaultsToDevAndTheRunningToolchain(t *testing.T) {
	info := Read()
	if info.Version != "dev" {
		t.Errorf("Version = %q, want dev when the build stamps nothing", info.Version)
	}
	if info.Go != runtime.Version() {
		t.Errorf("Go = %q, want %q", info.Go, runtime.Version())
	}
	if info.Commit == "" {
		t.Error("Commit is empty, want a commit id or unknown")
	}
}

func TestReadKeepsTheStampedCommit(t *testing.T) {
	old := Commit
	t.Cleanup(func() { Commit = old })
	Commit = "0123456789abcdef0123456789abcdef01234567"
	if got := Read().Commit; got != Commit {
		t.Errorf("Commit = %q, want the stamped %q", got, Commit)
	}
}

func TestVCSCommitFromTheToolchainStamp(t *testing.T) {
	tests := []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{"no VCS stamp", nil, "unknown"},
		{"clean tree", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}, "abc123"},
		{"changed tree", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}, "abc123-dirty"},
		{"modified without revision", []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}}, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := vcsCommit(tt.settings); got != tt.want {
				t.Errorf("vcsCommit = %q, want %q", got, tt.want)
			}
		})
	}
}
