// Command image packs krsi's static binaries into a multi-platform OCI image
// and writes it as one OCI layout tar that `ctr images import` and
// `podman load` both accept. It needs no Docker daemon and no registry: the
// binaries are inputs (the Makefile's `image` target cross-compiles them), so
// the same commit gives the same index digest.
//
//	go run ./build/image --name ghcr.io/krsi-dev/krsi:v0.1.0 \
//	    --binary linux/amd64=bin/linux-amd64/krsi \
//	    --binary linux/arm64=bin/linux-arm64/krsi \
//	    --version v0.1.0 --revision $(git rev-parse HEAD) \
//	    --epoch $(git log -1 --format=%ct) --out bin/krsi-image.tar
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// binaryFlags collects repeated --binary OS/ARCH[/VARIANT]=PATH flags, in the
// order given (the index lists its images in that order).
type binaryFlags []platformBinary

func (b *binaryFlags) String() string {
	parts := make([]string, len(*b))
	for i, bin := range *b {
		parts[i] = bin.platform.String() + "=" + bin.path
	}
	return strings.Join(parts, ",")
}

func (b *binaryFlags) Set(s string) error {
	plat, path, ok := strings.Cut(s, "=")
	if !ok || path == "" {
		return fmt.Errorf("want OS/ARCH=PATH, got %q", s)
	}
	p, err := v1.ParsePlatform(plat)
	if err != nil {
		return fmt.Errorf("platform of %q: %w", s, err)
	}
	if p.OS == "" || p.Architecture == "" {
		return fmt.Errorf("platform of %q: want OS/ARCH, e.g. linux/amd64", s)
	}
	for _, have := range *b {
		if have.platform.Equals(*p) {
			return fmt.Errorf("platform %s given twice", p)
		}
	}
	*b = append(*b, platformBinary{platform: *p, path: path})
	return nil
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		binaries binaryFlags
		name     = fs.String("name", "", "image reference to import as, e.g. ghcr.io/krsi-dev/krsi:v0.1.0 (a missing tag means latest)")
		out      = fs.String("out", "bin/krsi-image.tar", "the OCI layout tar to write")
		version  = fs.String("version", "dev", "org.opencontainers.image.version")
		revision = fs.String("revision", "", "org.opencontainers.image.revision: the commit")
		source   = fs.String("source", "https://github.com/krsi-dev/krsi", "org.opencontainers.image.source")
		epoch    = fs.String("epoch", os.Getenv("SOURCE_DATE_EPOCH"), "every timestamp in the image, in Unix seconds (default $SOURCE_DATE_EPOCH, else 0)")
	)
	fs.Var(&binaries, "binary", "OS/ARCH=PATH of a static krsi binary; repeat for each platform")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(binaries) == 0 {
		return errors.New("no --binary given")
	}
	ref, err := imageName(*name)
	if err != nil {
		return err
	}
	t, err := parseEpoch(*epoch)
	if err != nil {
		return err
	}

	for i := range binaries {
		fmt.Fprintf(stdout, "image: packing %s from %s...\n", binaries[i].platform, binaries[i].path)
		binaries[i].content, err = os.ReadFile(binaries[i].path)
		if err != nil {
			return fmt.Errorf("read %s binary: %w", binaries[i].platform, err)
		}
	}
	idx, err := buildIndex(binaries, metadata{
		Title:    "krsi",
		Version:  *version,
		Revision: *revision,
		Source:   *source,
		Created:  t,
	})
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "image: writing %s...\n", *out)
	if err := writeLayoutFile(*out, idx, ref, t); err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("digest of the index: %w", err)
	}
	fmt.Fprintf(stdout, "image: %s %s\n", ref, digest)
	return nil
}

// imageName normalizes name to the full reference a runtime stores:
// containerd's CRI looks images up by that form (`krsi:dev` is stored as
// docker.io/library/krsi:dev), so an import under the short form would not
// be found by a pod asking for `krsi:dev`.
func imageName(name string) (string, error) {
	if name == "" {
		return "", errors.New("no --name given")
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", fmt.Errorf("image name %q: %w", name, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return "", fmt.Errorf("image name %q: a digest cannot name an image being built", name)
	}
	return reference.TagNameOnly(named).String(), nil
}

// parseEpoch reads SOURCE_DATE_EPOCH's format: whole seconds since 1970.
func parseEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("epoch %q: want whole seconds since 1970", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// writeLayoutFile writes through a temporary file in the same directory, so
// that an interrupted build never leaves a truncated tar under the final name.
func writeLayoutFile(path string, idx v1.ImageIndex, name string, mtime time.Time) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := writeLayout(f, idx, name, mtime); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", f.Name(), path, err)
	}
	return nil
}
