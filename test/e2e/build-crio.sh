#!/usr/bin/env bash
# Builds what the CRI-O end-to-end suite (test/e2e/crio.sh) needs, into the
# cache, and assembles the folder test/vm/run.sh copies into the VM's root
# (KRSI_VM_EXTRA) for it. Runs on the host after test/e2e/build.sh, whose
# overlay it starts from (runc, runc 1.5.2, crictl, lib.sh, scenarios.sh, the images).
#
#   test/e2e/build-crio.sh CONTAINERD_OVERLAY     prints the folder it assembled on its last line
#
# What it makes (under ${KRSI_CACHE:-<repo>/.cache}/e2e):
#   tools/crio-v1.34.0/   crio, copyimg (CRI-O's test/copyimg: OCI archive ->
#                         containers-storage), pinns          (go build, static; gcc -static)
#   root-crio/            the VM overlay, rebuilt on every run: build.sh's overlay
#                         without containerd, plus
#     usr/local/bin/      crio, copyimg, pinns
#     usr/bin/conmon      Debian's conmon 2.1.6 (apt), with the libraries ldd names
#     e2e/crio-versions   the pinned version, for crio.sh to print
#
# CRI-O cannot be built with `go install …@v1.34.0` here (the module proxy
# answers 403 for the module's version list, which go install asks for): the
# module is downloaded with `go mod download` (one pinned version, no list),
# copied out of the module cache and built in place with -mod=mod. Built once
# per version (a fresh machine: ~2.5 min on 2 cores, see the log line "built");
# progress goes to stderr.
#
# Environment: KRSI_CACHE (cache folder), GO (go command, default go).
set -euo pipefail

CRIO_VERSION=v1.34.0
# No btrfs, devicemapper, gpgme or ostree: nothing here uses them and they need C libraries.
CRIO_TAGS='containers_image_openpgp containers_image_ostree_stub exclude_graphdriver_btrfs exclude_graphdriver_devicemapper'

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KRSI_CACHE:-$repo/.cache}
e2e=$cache/e2e
tools=$e2e/tools
out=$e2e/root-crio
go=${GO:-go}
export PATH=$PATH:/usr/local/go/bin

# Progress on stderr: stdout's last line is the overlay folder for run.sh.
log() { echo "e2e-build-crio: $*" >&2; }
die() { echo "e2e-build-crio: ERROR: $*" >&2; exit 1; }
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1fs", e - s }'; }

base=${1:?usage: build-crio.sh CONTAINERD_OVERLAY (the folder test/e2e/build.sh printed)}
[[ -d $base/e2e/images ]] || die "$base is not build.sh's overlay (no e2e/images)"
command -v "$go" >/dev/null || die "go is not on PATH (want Go >= 1.26 in /usr/local/go)"
mkdir -p "$tools"

# --- 1. apt: conmon, gcc (pinns) ----------------------------------------------------------
installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
need=(conmon gcc libc6-dev)
missing=()
for p in "${need[@]}"; do installed "$p" || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
	[[ $(id -u) -eq 0 ]] || die "installing needs root (apt-get): ${missing[*]}"
	log "apt-get install ${missing[*]}"
	bash "$repo/test/apt.sh" install "${missing[@]}" >&2
else
	log "apt packages present: ${need[*]} (conmon $(conmon --version | sed -n 's/^conmon version //p'))"
fi

# --- 2. CRI-O, copyimg, pinns: once per pinned version -----------------------------------------
cdir=$tools/crio-$CRIO_VERSION
if [[ -x $cdir/crio && -x $cdir/copyimg && -x $cdir/pinns ]]; then
	log "cached: crio copyimg pinns in $cdir"
else
	log "building CRI-O $CRIO_VERSION, copyimg, pinns (once per version; a cold Go cache: ~2.5 min on 2 cores)"
	start=$(date +%s.%N)
	# Outside the repository: the download must not see krsi's go.mod.
	dir=$(cd / && GOFLAGS='' "$go" mod download -json "github.com/cri-o/cri-o@$CRIO_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[[ -n $dir && -f $dir/go.mod ]] || die "go mod download github.com/cri-o/cri-o@$CRIO_VERSION gave no source folder"
	src=$cdir.src
	rm -rf "$src" "$cdir.tmp"
	mkdir -p "$cdir.tmp"
	cp -r "$dir" "$src"
	chmod -R u+w "$src" # the module cache is read-only
	log "downloaded the module in $(since "$start"); compiling crio (the long part) and copyimg"
	(cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod "$go" build -trimpath -tags "$CRIO_TAGS" \
		-ldflags="-s -w" \
		-o "$cdir.tmp/" ./cmd/crio ./test/copyimg) >&2
	(cd "$src/pinns" && gcc -std=c99 -Os -Wall -static -o "$cdir.tmp/pinns" src/*.c) >&2
	for p in crio copyimg pinns; do [[ -x $cdir.tmp/$p ]] || die "the build made no $p"; done
	rm -rf "$cdir" "$src"
	mv "$cdir.tmp" "$cdir"
	log "built crio copyimg pinns in $(since "$start")"
fi

# --- 3. the overlay folder ----------------------------------------------------------------
log "assembling $out"
rm -rf "$out"
# Hard links: build.sh rebuilds its overlay each run, so nothing here is edited in place.
cp -al "$base" "$out"
rm -f "$out"/usr/local/bin/{containerd,ctr,containerd-shim-runc-v2}
cp "$cdir"/{crio,copyimg,pinns} "$out/usr/local/bin/"
printf 'E2E_CRIO_VERSION=%s\nE2E_CONMON_VERSION=%s\n' "$CRIO_VERSION" \
	"$(conmon --version | sed -n 's/^conmon version //p')" >"$out/e2e/crio-versions"

# conmon is dynamic (glib, libc): copy it with the libraries it loads, at the
# same paths (those already in the overlay are hard links to build.sh's: kept).
conmon=$(command -v conmon) || die "conmon is not on PATH after installing it"
mkdir -p "$out/usr/bin"
cp -L "$conmon" "$out/usr/bin/conmon"
bash "$repo/test/vm/elfdeps.sh" / x86_64-linux-gnu "$conmon" "$out" >/dev/null

log "overlay: $out ($(du -sh "$out" | cut -f1))"
echo "$out"
