package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestRunWritesTheTarAndPrintsItsIndexDigest(t *testing.T) {
	dir := t.TempDir()
	bin := func(name string, machine elf.Machine) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, fakeELF(t, machine, false, name), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := filepath.Join(dir, "out", "krsi-image.tar")
	var stdout bytes.Buffer
	err := run([]string{
		"--name", "krsi:dev",
		"--binary", "linux/amd64=" + bin("amd64", elf.EM_X86_64),
		"--binary", "linux/arm64=" + bin("arm64", elf.EM_AARCH64),
		"--epoch", "1700000000",
		"--out", out,
	}, &stdout, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var top v1.IndexManifest
	if err := json.Unmarshal(readLayoutTar(t, b)["index.json"], &top); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	want := "image: docker.io/library/krsi:dev " + top.Manifests[0].Digest.String()
	if last := lines[len(lines)-1]; last != want {
		t.Errorf("last line %q, want %q", last, want)
	}
	if !strings.Contains(stdout.String(), "packing linux/arm64") {
		t.Errorf("no progress line for linux/arm64 in %q", stdout.String())
	}
	if leftovers, _ := filepath.Glob(out + ".*"); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no binary", []string{"--name", "krsi:dev"}, "no --binary"},
		{"no name", []string{"--binary", "linux/amd64=krsi"}, "no --name"},
		{"platform twice", []string{"--name", "krsi:dev", "--binary", "linux/amd64=a", "--binary", "linux/amd64=b"}, "given twice"},
		{"no path", []string{"--name", "krsi:dev", "--binary", "linux/amd64"}, "want OS/ARCH=PATH"},
		{"no arch", []string{"--name", "krsi:dev", "--binary", "linux=krsi"}, "want OS/ARCH"},
		{"missing binary", []string{"--name", "krsi:dev", "--binary", "linux/amd64=/nonexistent/krsi"}, "read linux/amd64 binary"},
		{"bad epoch", []string{"--name", "krsi:dev", "--binary", "linux/amd64=krsi", "--epoch", "yesterday"}, `epoch "yesterday"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestImageNameIsTheFullReferenceRuntimesStore(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "krsi:dev", want: "docker.io/library/krsi:dev"},
		{in: "ghcr.io/krsi-dev/krsi", want: "ghcr.io/krsi-dev/krsi:latest"},
		{in: "registry:5000/krsi:v1.2.3-4-gabcdef-dirty", want: "registry:5000/krsi:v1.2.3-4-gabcdef-dirty"},
		{in: "Krsi:dev", wantErr: "image name"},
		{in: "ghcr.io/krsi-dev/krsi@sha256:" + strings.Repeat("a", 64), wantErr: "a digest cannot name"},
		{in: "", wantErr: "no --name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := imageName(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("imageName(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("imageName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseEpochTakesWholeSeconds(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "", want: time.Unix(0, 0).UTC()},
		{in: "0", want: time.Unix(0, 0).UTC()},
		{in: "1700000000", want: time.Unix(1700000000, 0).UTC()},
		{in: "-1", wantErr: true},
		{in: "1.5", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseEpoch(tt.in)
			if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
				t.Errorf("parseEpoch(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
