package enforcement

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
)

// DefaultMarkerPath records that krsi pinned a set since boot. It lives on
// /run, which, like bpffs, is empty after a reboot: pins missing while the
// marker is there were removed by hand (or by something other than
// `krsi unload`), not lost to a reboot.
const DefaultMarkerPath = "/run/krsi/pinned"

// pinState is what Open found in the pin directory.
type pinState struct {
	maps, links        []string // pinned
	missingMaps        []string // expected, not pinned
	missingLinks       []string
	markerSaysPinned   bool
	userSpaceOnlyMaps  []string // maps no program uses: cannot be taken back from the kernel
	programMapsMissing []string // missing maps some program uses
}

// userSpaceMaps are read and written by krsi only, never by a program.
var userSpaceMaps = []string{bpfMapKrsiNames}

func inspectPins(dir, marker string, spec *ebpf.CollectionSpec) pinState {
	var st pinState
	for name, m := range spec.Maps {
		if m.Pinning != ebpf.PinByName {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			st.maps = append(st.maps, name)
		} else {
			st.missingMaps = append(st.missingMaps, name)
			if slices.Contains(userSpaceMaps, name) {
				st.userSpaceOnlyMaps = append(st.userSpaceOnlyMaps, name)
			} else {
				st.programMapsMissing = append(st.programMapsMissing, name)
			}
		}
	}
	st.links, st.missingLinks = linkPins(dir, func(program) bool { return true })
	slices.Sort(st.maps)
	slices.Sort(st.missingMaps)
	slices.Sort(st.userSpaceOnlyMaps)
	slices.Sort(st.programMapsMissing)
	if marker != "" {
		data, err := os.ReadFile(marker)
		st.markerSaysPinned = err == nil && strings.TrimSpace(string(data)) == dir
	}
	return st
}

// linkPins splits the programs this kernel has, those keep selects, into
// those whose link is pinned under dir/links and those whose link is not.
func linkPins(dir string, keep func(program) bool) (pinned, missing []string) {
	for _, p := range programs {
		if !p.available() || !keep(p) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, "links", p.name)); err == nil {
			pinned = append(pinned, p.name)
		} else {
			missing = append(missing, p.name)
		}
	}
	return pinned, missing
}

// repinMaps pins again, from the programs of the still pinned links, the
// maps whose pins are gone. Those programs still enforce with them: a fresh
// empty map in their place would leave krsi writing bindings that no
// program reads.
func repinMaps(dir string, st pinState) ([]string, error) {
	want := map[string]bool{}
	for _, name := range st.programMapsMissing {
		want[name] = true
	}
	var done []string
	var pinErr error
	err := programMaps(dir, func(name string, m *ebpf.Map) bool {
		if !want[name] || pinErr != nil {
			return false
		}
		if pinErr = m.Pin(filepath.Join(dir, name)); pinErr != nil {
			pinErr = fmt.Errorf("pin map %s again: %w", name, pinErr)
			return false
		}
		delete(want, name)
		done = append(done, name)
		m.Close()
		return true
	})
	if err := errors.Join(err, pinErr); err != nil {
		return done, err
	}
	if len(want) > 0 {
		var left []string
		for name := range want {
			left = append(left, name)
		}
		slices.Sort(left)
		return done, fmt.Errorf("maps %s are no longer pinned in %s and no pinned program holds them", strings.Join(left, ", "), dir)
	}
	slices.Sort(done)
	return done, nil
}

// recoverPins repairs what can be repaired before the set is loaded or
// reused, and says what was found. foreign: the set is another krsi's, about
// to be replaced, whose links need not be this krsi's. Nothing is reported for a first start
// (nothing pinned, no marker).
func recoverPins(dir, marker string, spec *ebpf.CollectionSpec, foreign bool) ([]string, error) {
	st := inspectPins(dir, marker, spec)
	var report []string
	if len(st.maps) == 0 && len(st.links) == 0 {
		if st.markerSaysPinned {
			report = append(report, fmt.Sprintf("every pin in %s is gone though krsi pinned a set there since boot (%s): "+
				"they were removed by hand; every container krsi confined ran unconfined from the moment the last "+
				"process holding them let go until now; a new set is loaded and Synchronize binds the running containers again",
				dir, marker))
		}
		return report, nil
	}
	if len(st.links) > 0 && len(st.programMapsMissing) > 0 {
		done, err := repinMaps(dir, st)
		if len(done) > 0 {
			report = append(report, fmt.Sprintf("maps %s were no longer pinned in %s (removed by hand?) while the pinned "+
				"programs still used them: pinned again from those programs, nothing was lost", strings.Join(done, ", "), dir))
		}
		if err != nil {
			return report, err
		}
	} else if len(st.programMapsMissing) > 0 {
		report = append(report, fmt.Sprintf("maps %s were no longer pinned in %s and no program holds them: they start empty",
			strings.Join(st.programMapsMissing, ", "), dir))
	}
	if len(st.userSpaceOnlyMaps) > 0 {
		report = append(report, fmt.Sprintf("maps %s were no longer pinned in %s (removed by hand?): they start empty; "+
			"profiles are written again under new ids and the old ones dropped once unused",
			strings.Join(st.userSpaceOnlyMaps, ", "), dir))
	}
	if len(st.missingLinks) > 0 && !foreign {
		what := "the hooks " + strings.Join(st.missingLinks, ", ") + " were"
		if len(st.links) == 0 {
			what = "every hook was"
		}
		report = append(report, fmt.Sprintf("links %s were no longer pinned in %s (removed by hand?): %s not enforced "+
			"from the moment the last process holding them let go until now; attached again",
			strings.Join(st.missingLinks, ", "), dir, what))
	}
	return report, nil
}

// writeMarker records that dir holds krsi's pins (see DefaultMarkerPath).
func writeMarker(marker, dir string) error {
	if marker == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(marker), 0o700); err != nil {
		return fmt.Errorf("record the pins in %s: %w", marker, err)
	}
	if err := os.WriteFile(marker, []byte(dir+"\n"), 0o600); err != nil {
		return fmt.Errorf("record the pins in %s: %w", marker, err)
	}
	return nil
}

// removeMarker forgets the pins of dir (after `krsi unload`).
func removeMarker(marker, dir string) {
	if data, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(data)) == dir {
		_ = os.Remove(marker)
	}
}
