// Package buildinfo holds what the build stamped into krsi: its version and
// the commit it was built from. The Makefile sets both with
//
//	-ldflags '-X github.com/krsi-dev/krsi/buildinfo.Version=… -X github.com/krsi-dev/krsi/buildinfo.Commit=…'
//
// so `krsi version`, the daemon's start-up log and bug reports name the build
// that runs. It is not a step of the pipeline.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version is krsi's version (git describe), "dev" when the build did not say.
var Version = "dev"

// Commit is the full commit id krsi was built from, "unknown" when neither
// the build nor the Go toolchain's VCS stamp says.
var Commit = "unknown"

// Info is what a build of krsi is.
type Info struct {
	Version string
	Commit  string
	// Go is the toolchain that built it (runtime.Version).
	Go string
}

// Read returns this binary's build information. A plain `go build` in a git
// checkout stamps the commit itself (vcs.revision): it is used when the
// Makefile did not set Commit, so such a binary still names its source.
func Read() Info {
	info := Info{Version: Version, Commit: Commit, Go: runtime.Version()}
	if info.Commit == "unknown" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			info.Commit = vcsCommit(bi.Settings)
		}
	}
	return info
}

// vcsCommit is the commit in the toolchain's VCS settings, marked -dirty as
// git describe marks it when the tree had changes; "unknown" if there is none.
func vcsCommit(settings []debug.BuildSetting) string {
	var rev string
	var modified bool
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	switch {
	case rev == "":
		return "unknown"
	case modified:
		return rev + "-dirty"
	}
	return rev
}
