package plugin

import "time"

// ImageOf is the plugin's choice of a container's image name, for the
// external tests (the fuzzer checks selection against exactly it).
var ImageOf = imageOf

// NameOf is the plugin's choice of a container's name.
var NameOf = nameOf

// SetStuckAfter shortens how long Alive lets the state stay locked.
func SetStuckAfter(p *Plugin, d time.Duration) { p.live.stuckAfter = d }

// LockState holds the plugin's lock as a stuck callback would.
func LockState(p *Plugin) (unlock func()) {
	p.mu.Lock()
	return p.mu.Unlock
}
