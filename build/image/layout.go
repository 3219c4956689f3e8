package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations on index.json's one entry that name the image on import.
const (
	// containerdNameAnnotation is what `ctr images import` names the image
	// by, verbatim; podman load reads it first too.
	containerdNameAnnotation = "io.containerd.image.name"
	// refNameAnnotation is the OCI layout's own name of the entry. It holds
	// the tag only, as BuildKit writes it: ctr would drop a full reference
	// here (it does not start with its --base-name), and skopeo selects the
	// entry by it (oci-archive:krsi-image.tar:TAG).
	refNameAnnotation = "org.opencontainers.image.ref.name"
)

// blob is one file under blobs/sha256/.
type blob struct {
	digest v1.Hash
	size   int64
	open   func() (io.ReadCloser, error)
}

func bytesBlob(b []byte) blob {
	h, size, _ := v1.SHA256(bytes.NewReader(b)) // reading memory cannot fail
	return blob{digest: h, size: size, open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

// writeLayout writes idx as an OCI image layout in one tar: oci-layout,
// index.json with one entry (idx, named name) and every blob. The index stays
// a blob of its own, rather than being index.json itself, so that the name
// points at both platforms: named entries in index.json are separate images
// to ctr, and two of them with one name would leave only the last.
//
// Entries are written in a fixed order with fixed owners, modes and mtime,
// so that the tar is as reproducible as the index.
func writeLayout(w io.Writer, idx v1.ImageIndex, name string, mtime time.Time) error {
	blobs, err := indexBlobs(idx)
	if err != nil {
		return err
	}
	rawIdx, err := idx.RawManifest()
	if err != nil {
		return fmt.Errorf("index manifest: %w", err)
	}
	top := bytesBlob(rawIdx)
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return fmt.Errorf("image name %q: %w", name, err)
	}
	ann := map[string]string{containerdNameAnnotation: name}
	if tagged, ok := named.(reference.Tagged); ok {
		ann[refNameAnnotation] = tagged.Tag()
	}
	indexJSON, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType:   types.OCIImageIndex,
			Size:        top.size,
			Digest:      top.digest,
			Annotations: ann,
		}},
	})
	if err != nil {
		return fmt.Errorf("marshal index.json: %w", err)
	}

	tw := tar.NewWriter(w)
	header := func(name string, typ byte, mode, size int64) *tar.Header {
		return &tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: size, ModTime: mtime, Format: tar.FormatPAX}
	}
	writeFile := func(name string, content []byte) error {
		if err := tw.WriteHeader(header(name, tar.TypeReg, 0o644, int64(len(content)))); err != nil {
			return fmt.Errorf("tar entry %s: %w", name, err)
		}
		if _, err := tw.Write(content); err != nil {
			return fmt.Errorf("tar entry %s: %w", name, err)
		}
		return nil
	}
	if err := writeFile("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := writeFile("index.json", indexJSON); err != nil {
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(header(dir, tar.TypeDir, 0o755, 0)); err != nil {
			return fmt.Errorf("tar entry %s: %w", dir, err)
		}
	}
	blobs = append(blobs, top)
	slices.SortFunc(blobs, func(a, b blob) int { return cmpHash(a.digest, b.digest) })
	blobs = slices.CompactFunc(blobs, func(a, b blob) bool { return a.digest == b.digest })
	for _, b := range blobs {
		if err := writeBlob(tw, header("blobs/sha256/"+b.digest.Hex, tar.TypeReg, 0o644, b.size), b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close tar: %w", err)
	}
	return nil
}

func cmpHash(a, b v1.Hash) int {
	if a.Algorithm != b.Algorithm {
		if a.Algorithm < b.Algorithm {
			return -1
		}
		return 1
	}
	switch {
	case a.Hex < b.Hex:
		return -1
	case a.Hex > b.Hex:
		return 1
	}
	return 0
}

func writeBlob(tw *tar.Writer, hdr *tar.Header, b blob) error {
	rc, err := b.open()
	if err != nil {
		return fmt.Errorf("open blob %s: %w", b.digest, err)
	}
	defer rc.Close()
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("tar entry %s: %w", hdr.Name, err)
	}
	n, err := io.Copy(tw, rc)
	if err != nil {
		return fmt.Errorf("copy blob %s: %w", b.digest, err)
	}
	if n != b.size {
		return fmt.Errorf("blob %s: read %d bytes, its descriptor says %d", b.digest, n, b.size)
	}
	return nil
}

// indexBlobs lists every blob idx refers to (its images' manifests, configs
// and layers), not idx's own manifest.
func indexBlobs(idx v1.ImageIndex) ([]blob, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("index manifest: %w", err)
	}
	var blobs []blob
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("image %s (%s): %w", d.Digest, d.Platform, err)
		}
		raw, err := img.RawManifest()
		if err != nil {
			return nil, fmt.Errorf("manifest of %s: %w", d.Platform, err)
		}
		cfg, err := img.RawConfigFile()
		if err != nil {
			return nil, fmt.Errorf("config of %s: %w", d.Platform, err)
		}
		blobs = append(blobs, bytesBlob(raw), bytesBlob(cfg))
		layers, err := img.Layers()
		if err != nil {
			return nil, fmt.Errorf("layers of %s: %w", d.Platform, err)
		}
		for _, l := range layers {
			digest, err := l.Digest()
			if err != nil {
				return nil, fmt.Errorf("layer digest of %s: %w", d.Platform, err)
			}
			size, err := l.Size()
			if err != nil {
				return nil, fmt.Errorf("layer size of %s: %w", d.Platform, err)
			}
			blobs = append(blobs, blob{digest: digest, size: size, open: l.Compressed})
		}
	}
	return blobs, nil
}
