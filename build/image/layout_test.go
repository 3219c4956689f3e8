package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// readLayoutTar returns the tar's regular files by name, failing on entries a
// reproducible layout must not have (other owners, another mtime).
func readLayoutTar(tb testing.TB, b []byte) map[string][]byte {
	tb.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			tb.Fatalf("read tar: %v", err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || !hdr.ModTime.Equal(testEpoch) {
			tb.Errorf("%s: owner %d:%d mtime %v, want 0:0 and %v", hdr.Name, hdr.Uid, hdr.Gid, hdr.ModTime, testEpoch)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatalf("read %s: %v", hdr.Name, err)
		}
		if _, dup := files[hdr.Name]; dup {
			tb.Errorf("%s twice in the tar", hdr.Name)
		}
		files[hdr.Name] = content
	}
}

// walkLayout checks d's blob the way an importer reads it (present, its
// sha256 and size those of the descriptor), then every blob d refers to, and
// records each blob it reached in seen.
func walkLayout(tb testing.TB, files map[string][]byte, d v1.Descriptor, seen map[string]bool) {
	tb.Helper()
	name := "blobs/sha256/" + d.Digest.Hex
	b, ok := files[name]
	if !ok {
		tb.Errorf("%s (%s) missing", name, d.MediaType)
		return
	}
	seen[name] = true
	if sum := sha256.Sum256(b); d.Digest.Algorithm != "sha256" || hex.EncodeToString(sum[:]) != d.Digest.Hex {
		tb.Errorf("%s: content hashes to sha256:%x", name, sum)
	}
	if int64(len(b)) != d.Size {
		tb.Errorf("%s: %d bytes, descriptor says %d", name, len(b), d.Size)
	}
	switch d.MediaType {
	case types.OCIImageIndex:
		var im v1.IndexManifest
		if err := json.Unmarshal(b, &im); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		for _, m := range im.Manifests {
			walkLayout(tb, files, m, seen)
		}
	case types.OCIManifestSchema1:
		var m v1.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		walkLayout(tb, files, m.Config, seen)
		for _, l := range m.Layers {
			walkLayout(tb, files, l, seen)
		}
	}
}

func TestLayoutTarIsACompleteOCILayout(t *testing.T) {
	idx := mustIndex(t, testBinaries(t), testMeta)
	var buf bytes.Buffer
	if err := writeLayout(&buf, idx, "ghcr.io/krsi-dev/krsi:v1.2.3", testEpoch); err != nil {
		t.Fatal(err)
	}
	files := readLayoutTar(t, buf.Bytes())

	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q", got)
	}
	var top v1.IndexManifest
	if err := json.Unmarshal(files["index.json"], &top); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if top.SchemaVersion != 2 || len(top.Manifests) != 1 {
		t.Fatalf("index.json: schema %d with %d entries, want 2 with one", top.SchemaVersion, len(top.Manifests))
	}
	entry := top.Manifests[0]
	if entry.MediaType != types.OCIImageIndex || entry.Digest != mustDigest(t, idx) {
		t.Errorf("index.json entry %s %s, want the image index %s", entry.MediaType, entry.Digest, mustDigest(t, idx))
	}
	wantAnn := map[string]string{
		"io.containerd.image.name":          "ghcr.io/krsi-dev/krsi:v1.2.3",
		"org.opencontainers.image.ref.name": "v1.2.3",
	}
	if !maps.Equal(entry.Annotations, wantAnn) {
		t.Errorf("index.json entry annotations = %v, want %v", entry.Annotations, wantAnn)
	}

	seen := map[string]bool{}
	walkLayout(t, files, entry, seen)
	// index, 2 manifests, 2 configs, 2 layers
	if len(seen) != 7 {
		t.Errorf("reached %d blobs from index.json, want 7", len(seen))
	}
	for name := range files {
		if strings.HasPrefix(name, "blobs/") && !seen[name] {
			t.Errorf("%s is in the tar but nothing refers to it", name)
		}
	}
	names := slices.Sorted(maps.Keys(files))
	if want := append([]string{"index.json", "oci-layout"}, slices.Sorted(maps.Keys(seen))...); !slices.Equal(slices.Sorted(slices.Values(want)), names) {
		t.Errorf("files = %v, want %v", names, want)
	}
}
