package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var testEpoch = time.Unix(1700000000, 0).UTC()

var testMeta = metadata{
	Title:    "krsi",
	Version:  "v1.2.3",
	Revision: "0123456789abcdef0123456789abcdef01234567",
	Source:   "https://github.com/krsi-dev/krsi",
	Created:  testEpoch,
}

// fakeELF returns a minimal 64-bit little-endian ELF executable for machine,
// with a PT_INTERP program header when dynamic, then payload: enough for
// debug/elf, and different payloads give different digests.
func fakeELF(tb testing.TB, machine elf.Machine, dynamic bool, payload string) []byte {
	tb.Helper()
	var b bytes.Buffer
	le := binary.LittleEndian
	phnum := uint16(0)
	if dynamic {
		phnum = 1
	}
	ident := [16]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)}
	b.Write(ident[:])
	hdr := []any{
		uint16(elf.ET_EXEC), uint16(machine), uint32(elf.EV_CURRENT),
		uint64(0),  // entry
		uint64(64), // program headers right after this header
		uint64(0),  // no section headers
		uint32(0),  // flags
		uint16(64), uint16(56), phnum, uint16(64), uint16(0), uint16(0),
	}
	for _, v := range hdr {
		if err := binary.Write(&b, le, v); err != nil {
			tb.Fatalf("write ELF header: %v", err)
		}
	}
	if dynamic {
		ph := []any{uint32(elf.PT_INTERP), uint32(elf.PF_R), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(1)}
		for _, v := range ph {
			if err := binary.Write(&b, le, v); err != nil {
				tb.Fatalf("write ELF program header: %v", err)
			}
		}
	}
	b.WriteString(payload)
	return b.Bytes()
}

func testBinaries(tb testing.TB) []platformBinary {
	tb.Helper()
	return []platformBinary{
		{platform: v1.Platform{OS: "linux", Architecture: "amd64"}, path: "amd64/krsi", content: fakeELF(tb, elf.EM_X86_64, false, "krsi for amd64")},
		{platform: v1.Platform{OS: "linux", Architecture: "arm64"}, path: "arm64/krsi", content: fakeELF(tb, elf.EM_AARCH64, false, "krsi for arm64")},
	}
}

func mustIndex(tb testing.TB, bins []platformBinary, meta metadata) v1.ImageIndex {
	tb.Helper()
	idx, err := buildIndex(bins, meta)
	if err != nil {
		tb.Fatalf("buildIndex: %v", err)
	}
	return idx
}

func mustDigest(tb testing.TB, idx v1.ImageIndex) v1.Hash {
	tb.Helper()
	d, err := idx.Digest()
	if err != nil {
		tb.Fatalf("index digest: %v", err)
	}
	return d
}

func TestIndexHasOneImagePerBinaryInOrder(t *testing.T) {
	idx := mustIndex(t, testBinaries(t), testMeta)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("index media type = %s, want %s", im.MediaType, types.OCIImageIndex)
	}
	var got []string
	for _, d := range im.Manifests {
		if d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: media type %s, want %s", d.Platform, d.MediaType, types.OCIManifestSchema1)
		}
		if d.ArtifactType != "" {
			t.Errorf("%s: artifactType %q, want none: krsi is an image, not an artifact", d.Platform, d.ArtifactType)
		}
		got = append(got, d.Platform.String())
	}
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(got, want) {
		t.Errorf("platforms = %v, want %v", got, want)
	}
	if !maps.Equal(im.Annotations, testMeta.labels()) {
		t.Errorf("index annotations = %v, want %v", im.Annotations, testMeta.labels())
	}
}

func TestImageRunsKrsiPluginAsRoot(t *testing.T) {
	bins := testBinaries(t)
	for _, b := range bins {
		t.Run(b.platform.String(), func(t *testing.T) {
			img, err := image(b, testMeta)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != b.platform.OS || cf.Architecture != b.platform.Architecture {
				t.Errorf("config platform = %s/%s, want %s", cf.OS, cf.Architecture, b.platform)
			}
			if !slices.Equal(cf.Config.Entrypoint, []string{"/usr/bin/krsi"}) || !slices.Equal(cf.Config.Cmd, []string{"plugin"}) {
				t.Errorf("entrypoint %q cmd %q, want [/usr/bin/krsi] [plugin]", cf.Config.Entrypoint, cf.Config.Cmd)
			}
			if cf.Config.User != "0:0" {
				t.Errorf("user = %q, want 0:0", cf.Config.User)
			}
			if !maps.Equal(cf.Config.Labels, testMeta.labels()) {
				t.Errorf("labels = %v, want %v", cf.Config.Labels, testMeta.labels())
			}
			if !cf.Created.Equal(testEpoch) {
				t.Errorf("created = %v, want the epoch %v", cf.Created, testEpoch)
			}
			for _, h := range cf.History {
				if !h.Created.Equal(testEpoch) {
					t.Errorf("history %q created %v, want the epoch %v", h.CreatedBy, h.Created, testEpoch)
				}
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
				t.Errorf("manifest %s config %s, want OCI media types", m.MediaType, m.Config.MediaType)
			}
			if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
				t.Errorf("layers = %+v, want one %s", m.Layers, types.OCILayer)
			}
		})
	}
}

func TestLayerHoldsTheBinaryAndTmpOwnedByRoot(t *testing.T) {
	b := testBinaries(t)[1]
	img, err := image(b, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	type entry struct {
		typ  byte
		mode int64
	}
	want := map[string]entry{
		"tmp/":         {tar.TypeDir, 0o1777},
		"usr/":         {tar.TypeDir, 0o755},
		"usr/bin/":     {tar.TypeDir, 0o755},
		"usr/bin/krsi": {tar.TypeReg, 0o755},
	}
	got := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = entry{hdr.Typeflag, hdr.Mode}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: owner %d:%d (%q:%q), want 0:0 and no names", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
		if !hdr.ModTime.Equal(testEpoch) {
			t.Errorf("%s: mtime %v, want the epoch %v", hdr.Name, hdr.ModTime, testEpoch)
		}
		if hdr.Name == "usr/bin/krsi" {
			content, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(content, b.content) {
				t.Errorf("usr/bin/krsi differs from the %s binary", b.platform)
			}
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("layer entries = %v, want %v", got, want)
	}
}

func TestSameInputsGiveTheSameDigestAndTar(t *testing.T) {
	write := func() (v1.Hash, []byte) {
		idx := mustIndex(t, testBinaries(t), testMeta)
		var buf bytes.Buffer
		if err := writeLayout(&buf, idx, "ghcr.io/krsi-dev/krsi:v1.2.3", testEpoch); err != nil {
			t.Fatal(err)
		}
		return mustDigest(t, idx), buf.Bytes()
	}
	d1, tar1 := write()
	d2, tar2 := write()
	if d1 != d2 {
		t.Errorf("index digests differ: %s then %s", d1, d2)
	}
	if !bytes.Equal(tar1, tar2) {
		t.Error("the two tars differ")
	}
}

// Each input the image is made of must reach the digest: otherwise two
// different images would share a name and a digest.
func TestEachInputChangesTheDigest(t *testing.T) {
	base := mustDigest(t, mustIndex(t, testBinaries(t), testMeta))
	tests := []struct {
		name   string
		change func(bins []platformBinary, meta *metadata)
	}{
		{"epoch", func(_ []platformBinary, m *metadata) { m.Created = m.Created.Add(time.Second) }},
		{"version", func(_ []platformBinary, m *metadata) { m.Version = "v1.2.4" }},
		{"revision", func(_ []platformBinary, m *metadata) { m.Revision = "" }},
		{"arm64 binary", func(bins []platformBinary, _ *metadata) {
			bins[1].content = append(bins[1].content, '!')
		}},
		{"order of platforms", func(bins []platformBinary, _ *metadata) { bins[0], bins[1] = bins[1], bins[0] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bins, meta := testBinaries(t), testMeta
			tt.change(bins, &meta)
			if d := mustDigest(t, mustIndex(t, bins, meta)); d == base {
				t.Errorf("digest unchanged (%s)", d)
			}
		})
	}
}

func TestCheckBinaryRefusesWhatCannotRunInTheImage(t *testing.T) {
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	tests := []struct {
		name     string
		platform v1.Platform
		content  []byte
		wantErr  string // "" for accepted
	}{
		{"static amd64", amd64, fakeELF(t, elf.EM_X86_64, false, ""), ""},
		{"static arm64", arm64, fakeELF(t, elf.EM_AARCH64, false, ""), ""},
		{"arm64 binary as amd64", amd64, fakeELF(t, elf.EM_AARCH64, false, ""), "is for EM_AARCH64, want EM_X86_64"},
		{"dynamically linked", amd64, fakeELF(t, elf.EM_X86_64, true, ""), "dynamically linked"},
		{"not ELF", amd64, []byte("#!/bin/sh\n"), "not an ELF executable"},
		{"not linux", v1.Platform{OS: "darwin", Architecture: "arm64"}, fakeELF(t, elf.EM_AARCH64, false, ""), "linux only"},
		{"unknown architecture", v1.Platform{OS: "linux", Architecture: "vax"}, fakeELF(t, elf.EM_X86_64, false, ""), "unknown architecture"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkBinary(platformBinary{platform: tt.platform, path: "krsi", content: tt.content})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("accepted, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
