#!/usr/bin/env bash
# Builds everything the real-runtime end-to-end suite needs, into the cache, and
# assembles the folder that test/vm/run.sh copies into the VM's root
# (KRSI_VM_EXTRA). Runs on the host; installs only what is missing.
#
#   test/e2e/build.sh [--arch amd64|arm64]   prints the folder it assembled on its last line
#
#   --arch A   the VM's architecture (default amd64). arm64: every program and
#              image is built for arm64 (GOARCH=arm64; runc 1.5.2 with Debian's
#              aarch64-linux-gnu cross compiler), busybox and Debian's runc come
#              from arm64's packages (test/vm/install.sh --arch arm64 unpacks
#              them), and the folders below get an "-arm64" suffix
#              (tools/containerd-v2.4.2-arm64/, root-arm64/).
#
# What it makes (under ${KRSI_CACHE:-<repo>/.cache}/e2e):
#   tools/containerd-v2.4.2/   containerd, ctr, containerd-shim-runc-v2   (go install, static)
#   tools/crictl-v1.37.0/      crictl                                      (go install, static)
#   tools/runc-v1.5.2/         runc, a current one next to Debian's         (go install, static, cgo)
#   root/                      the VM overlay, rebuilt on every run (root-arm64/ for arm64):
#     usr/local/bin/           the four programs above
#     usr/sbin/runc            Debian's runc 1.1.5 (apt), with the libraries it loads
#     usr/local/sbin/runc-1.5.2  runc 1.5.2 (containerd runtime handler "runc-1.5")
#     e2e/images/*.tar         hand-made OCI archives: localhost/krsi-test:1, localhost/pause:local
#     e2e/lib.sh               the shell functions e2e.sh and demo.sh share
#     e2e/scenarios.sh         the scenarios e2e.sh and crio.sh share
#     e2e/versions             the pinned versions above, for the scripts to print, and
#                              E2E_ARCH (the platform lib.sh imports the images for)
#
# The tools are built once per version (a fresh machine: ~3 min on 2 cores) and
# reused after; the images are remade each run because they hold this tree's
# krsi-probe. Versions are pinned here; change them here only.
#
# Environment: KRSI_CACHE (cache folder), GO (go command, default go).
set -euo pipefail

CONTAINERD_VERSION=v2.4.2
CRICTL_VERSION=v1.37.0
RUNC_VERSION=v1.5.2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KRSI_CACHE:-$repo/.cache}
e2e=$cache/e2e
tools=$e2e/tools
go=${GO:-go}
export PATH=$PATH:/usr/local/go/bin

log() { echo "e2e-build: $*"; }
die() { echo "e2e-build: ERROR: $*" >&2; exit 1; }
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1fs", e - s }'; }

# The architecture only from --arch, not from KRSI_VM_ARCH: test/k8s/run.sh
# calls this script without one and boots amd64.
arch=amd64
case ${1:-} in
--arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
--arch=*) arch=${1#*=}; shift ;;
esac
[[ $# -eq 0 ]] || die "unknown argument '$1' (usage: build.sh [--arch amd64|arm64])"
# sfx: the cache folders' suffix (amd64 keeps the plain names, so existing caches
# stay valid); sysroot: where Debian's runc and its libraries come from;
# busybox: the images' busybox; apt_need: host packages.
case $arch in
amd64)
	sfx= sysroot=/ triplet=x86_64-linux-gnu busybox=/bin/busybox
	apt_need=(runc busybox-static gcc libc6-dev) # gcc, libc6-dev: the static runc $RUNC_VERSION
	;;
arm64)
	# The VM's arm64 userland (test/vm/install.sh): busybox, Debian's runc and
	# the libraries it loads. busybox-static on the host: its applet list (the
	# arm64 one cannot run here; both are bookworm's busybox-static).
	sfx=-arm64 sysroot=$cache/vm/arm64/userland triplet=aarch64-linux-gnu busybox=$cache/vm/arm64/userland/bin/busybox
	apt_need=(busybox-static gcc-aarch64-linux-gnu libc6-dev-arm64-cross) # the static runc $RUNC_VERSION
	;;
*) die "--arch must be amd64 or arm64, not '$arch'" ;;
esac
out=$e2e/root$sfx

command -v "$go" >/dev/null || die "go is not on PATH (want Go >= 1.26 in /usr/local/go)"
# One build at a time per cache: `make test` runs the Kubernetes test (which
# starts from this overlay) beside the end-to-end suite. test/k8s/run.sh takes
# the same lock while it copies the overlay.
mkdir -p "$e2e"
exec 7>"$e2e/.lock"
if ! flock -n 7; then
	log "another build is using $e2e; waiting for it"
	flock 7
fi
mkdir -p "$tools"

# --- 1. apt: runc ----------------------------------------------------------------------
installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
need=("${apt_need[@]}")
missing=()
for p in "${need[@]}"; do installed "$p" || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
	[[ $(id -u) -eq 0 ]] || die "installing needs root (apt-get): ${missing[*]}"
	log "apt-get install ${missing[*]}"
	bash "$repo/test/apt.sh" install "${missing[@]}"
elif [[ $arch == amd64 ]]; then
	log "apt packages present: ${need[*]} ($(runc --version | head -n1))"
else
	log "apt packages present: ${need[*]}"
fi
if [[ $arch == arm64 ]]; then
	# The same downloads test/vm/run.sh --arch arm64 makes (it runs after this);
	# a no-op when they are there.
	flock "$cache/vm/.install.lock" bash "$repo/test/vm/install.sh" --arch arm64 6.12
fi

# --- 2. go install, once per pinned version ---------------------------------------------
# gobuild DIR PROGRAMS... -- PACKAGES...: static binaries into DIR, skipped when all
# PROGRAMS are there. Built into DIR.tmp and renamed, so a broken build never
# looks cached.
gobuild() {
	local dir=$1 progs=() pkgs=() p have=1 start
	shift
	while [[ $1 != -- ]]; do progs+=("$1"); shift; done
	shift
	pkgs=("$@")
	for p in "${progs[@]}"; do [[ -x $dir/$p ]] || have=0; done
	if [[ $have -eq 1 ]]; then
		log "cached: ${progs[*]} in $dir"
		return
	fi
	log "go install ${pkgs[*]} for $arch (once per version; from a cold Go cache: containerd ~2 min, crictl ~1 min, runc ~30 s on 2 cores)"
	start=$(date +%s.%N)
	rm -rf "$dir.tmp"
	# go install refuses GOBIN for another GOARCH: a cross build goes to
	# $GOPATH/bin/linux_<arch> of a GOPATH of its own (the module cache stays the
	# usual one) and is moved into place. cgo cross-compiles with Debian's
	# cross compiler.
	local gobin=$dir.tmp cross=()
	if [[ $arch != amd64 ]]; then
		gobin=
		cross=(GOARCH="$arch" GOPATH="$dir.tmp/gopath" GOMODCACHE="$("$go" env GOMODCACHE)" CC=aarch64-linux-gnu-gcc)
	fi
	# Outside the repository: go install pkg@version must not see krsi's go.mod.
	(cd / && CGO_ENABLED=${CGO_ENABLED:-0} GOBIN=$gobin GOFLAGS='' env "${cross[@]}" "$go" install -trimpath \
		-tags "${GOBUILD_TAGS:-}" -ldflags="-s -w${GOBUILD_EXTLDFLAGS:+ -extldflags $GOBUILD_EXTLDFLAGS}" "${pkgs[@]}")
	if [[ $arch != amd64 ]]; then
		mv "$dir.tmp/gopath/bin/linux_$arch"/* "$dir.tmp/"
		rm -rf "$dir.tmp/gopath"
	fi
	for p in "${progs[@]}"; do [[ -x $dir.tmp/$p ]] || die "go install made no $p"; done
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
	log "built ${progs[*]} in $(since "$start")"
}
cdir=$tools/containerd-$CONTAINERD_VERSION$sfx
gobuild "$cdir" containerd ctr containerd-shim-runc-v2 -- \
	"github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
	"github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION" \
	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
kdir=$tools/crictl-$CRICTL_VERSION$sfx
gobuild "$kdir" crictl -- "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
# A current runc as a second runtime handler: static (cgo for its C part, linked
# against glibc's libc.a), without the seccomp build tag (no libseccomp needed;
# the pods here ask for no seccomp profile).
rdir=$tools/runc-$RUNC_VERSION$sfx
CGO_ENABLED=1 GOBUILD_TAGS=netgo,osusergo GOBUILD_EXTLDFLAGS=-static \
	gobuild "$rdir" runc -- "github.com/opencontainers/runc@$RUNC_VERSION"

# --- 3. the overlay folder ---------------------------------------------------------------
log "assembling $out"
rm -rf "$out"
mkdir -p "$out"/{usr/local/bin,usr/local/sbin,usr/sbin,e2e/images}
cp "$cdir"/{containerd,ctr,containerd-shim-runc-v2} "$kdir/crictl" "$out/usr/local/bin/"
cp "$rdir/runc" "$out/usr/local/sbin/runc-${RUNC_VERSION#v}"
cp "$here/lib.sh" "$here/scenarios.sh" "$out/e2e/"
printf 'E2E_CONTAINERD_VERSION=%s\nE2E_CRICTL_VERSION=%s\nE2E_RUNC_VERSION=%s\nE2E_ARCH=%s\n' \
	"$CONTAINERD_VERSION" "$CRICTL_VERSION" "$RUNC_VERSION" "$arch" >"$out/e2e/versions"

# runc is dynamic (libseccomp, libc): copy it with the libraries it loads, at
# the same paths.
[[ -x ${sysroot%/}/usr/sbin/runc ]] || die "no ${sysroot%/}/usr/sbin/runc (amd64: apt-get install runc; arm64: test/vm/install.sh --arch arm64 unpacks it, delete $sysroot to fetch it again)"
cp -L "${sysroot%/}/usr/sbin/runc" "$out/usr/sbin/runc"
bash "$repo/test/vm/elfdeps.sh" "$sysroot" "$triplet" /usr/sbin/runc "$out" >/dev/null

# --- 4. OCI images, by hand ----------------------------------------------------------------
# A one-layer OCI archive: the layer is an uncompressed tar of a rootfs, the config
# names its sha256 as diff_id, the index names the image for containerd.
start=$(date +%s.%N)
img=$e2e/img$sfx
rm -rf "$img"
mkdir -p "$img"
(cd "$repo" && CGO_ENABLED=0 GOARCH=$arch "$go" build -trimpath -o "$img/krsi-probe" ./test/probe)

blob() { # blob DIR FILE: moves FILE into DIR/blobs/sha256 under its digest; prints "sha256:HEX SIZE"
	local d s
	d=$(sha256sum "$2" | cut -d' ' -f1)
	s=$(stat -c %s "$2")
	mkdir -p "$1/blobs/sha256"
	mv "$2" "$1/blobs/sha256/$d"
	echo "sha256:$d $s"
}

# oci_archive NAME REF ROOTFS ENTRYPOINT_JSON CMD_JSON OUT.tar
oci_archive() {
	local name=$1 ref=$2 rootfs=$3 entrypoint=$4 cmd=$5 tarball=$6
	local lay=$img/$name-layout ldig lsize cdig csize mdig msize
	rm -rf "$lay"
	mkdir -p "$lay"
	# Reproducible: sorted, fixed times and owners.
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$lay/layer.tar" .
	read -r ldig lsize < <(blob "$lay" "$lay/layer.tar")
	cat >"$lay/config.json" <<-EOF
	{"architecture":"$arch","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":$entrypoint,"Cmd":$cmd,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["$ldig"]},"history":[{"created_by":"krsi test/e2e/build.sh"}]}
	EOF
	read -r cdig csize < <(blob "$lay" "$lay/config.json")
	cat >"$lay/manifest.json" <<-EOF
	{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$cdig","size":$csize},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$ldig","size":$lsize}]}
	EOF
	read -r mdig msize < <(blob "$lay" "$lay/manifest.json")
	cat >"$lay/index.json" <<-EOF
	{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$mdig","size":$msize,"platform":{"architecture":"$arch","os":"linux"},"annotations":{"io.containerd.image.name":"$ref","org.opencontainers.image.ref.name":"${ref##*:}"}}]}
	EOF
	echo '{"imageLayoutVersion":"1.0.0"}' >"$lay/oci-layout"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$lay" -cf "$tarball" oci-layout index.json blobs
	log "image $ref: $(du -h "$tarball" | cut -f1), manifest $mdig"
}

# busybox_root DIR: busybox-static with a link per applet, /etc/passwd and /tmp.
# The applet list is the host's busybox's (the same bookworm package as arm64's,
# which cannot run here).
busybox_root() {
	local r=$1 a
	mkdir -p "$r"/{bin,etc,tmp,proc,sys,dev,root,var/tmp}
	chmod 1777 "$r/tmp" "$r/var/tmp"
	cp "$busybox" "$r/bin/busybox"
	for a in $(/bin/busybox --list); do
		[[ $a == busybox || -e $r/bin/$a ]] || ln -s busybox "$r/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
}

# localhost/krsi-test:1 — busybox, krsi-probe, and what the scenarios need:
#   /app/sleep     a copy of busybox (not a link: the kernel resolves links, and the
#                  exec allow-list scenario needs a program that is not /bin/busybox)
#   /etc/app.conf  the file of the file-rules scenario
r=$img/krsi-test-root
busybox_root "$r"
install -m 0755 "$img/krsi-probe" "$r/bin/krsi-probe"
mkdir -p "$r/app"
cp "$busybox" "$r/app/sleep"
echo "setting=original" >"$r/etc/app.conf"
oci_archive krsi-test localhost/krsi-test:1 "$r" '["/bin/sleep"]' '["3600"]' "$out/e2e/images/krsi-test.tar"

# localhost/pause:local — the pod sandbox: busybox sleep, nothing else.
r=$img/pause-root
mkdir -p "$r"/{bin,etc,proc,sys,dev}
cp "$busybox" "$r/bin/busybox"
ln -s busybox "$r/bin/sleep"
oci_archive pause localhost/pause:local "$r" '["/bin/sleep"]' '["2147483647"]' "$out/e2e/images/pause.tar"
rm -rf "$img"
log "images made in $(since "$start")"

log "overlay: $out ($(du -sh "$out" | cut -f1))"
echo "$out"
