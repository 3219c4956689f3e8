package enforcement

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without pins, the marker alone tells a removal by hand from a first start
// (the kernel side of the repairs runs in the VM suite).
func TestEmptyPinDirIsReportedOnlyWhenTheMarkerSaysKrsiPinnedThere(t *testing.T) {
	spec, err := loadBpf()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pins")
	marker := filepath.Join(t.TempDir(), "run", "pinned")
	if report, err := recoverPins(dir, marker, spec, false); err != nil || len(report) != 0 {
		t.Fatalf("first start: %v, %v; want nothing to report", report, err)
	}
	if err := writeMarker(marker, dir); err != nil {
		t.Fatal(err)
	}
	report, err := recoverPins(dir, marker, spec, false)
	if err != nil || len(report) != 1 || !strings.Contains(report[0], "every pin in "+dir+" is gone") {
		t.Fatalf("pins gone since the marker: %v, %v", report, err)
	}
	if report, _ := recoverPins(dir+"-other", marker, spec, false); len(report) != 0 {
		t.Errorf("the marker names another pin dir, yet: %v", report)
	}
	removeMarker(marker, dir)
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("the marker is still there after unload: %v", err)
	}
}
