#!/usr/bin/env bash
# Builds the one-node Kubernetes that test/k8s/run.sh boots in the BPF-LSM VM,
# into the cache: kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet and kubectl from the Kubernetes module (Go module proxy), etcd, and
# the CNI plugins bridge, host-local and loopback. Installs only what is
# missing; each tool is built once per pinned version.
#
#   test/k8s/build.sh        prints the tools folder on its last line
#
# A fresh machine takes ~15 min on 2 cores (kube-apiserver alone ~9 min);
# after that it is a no-op. Versions are pinned here; change them here only.
#
# Environment: KRSI_CACHE (cache folder, default <repo>/.cache), GO.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
CNI_VERSION=v1.10.0

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KRSI_CACHE:-$repo/.cache}
tools=$cache/k8s/tools
go=${GO:-go}
export PATH=$PATH:/usr/local/go/bin

log() { echo "k8s-build: $*"; }
die() { echo "k8s-build: ERROR: $*" >&2; exit 1; }
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0fs", e - s }'; }
command -v "$go" >/dev/null || die "go is not on PATH (want Go >= 1.26 in /usr/local/go)"
mkdir -p "$tools"

# done DIR PROGRAMS...: true when every program is in DIR (a build renames its
# .tmp folder into place last, so a broken build never looks cached).
built() {
	local dir=$1 p
	shift
	for p in "$@"; do [[ -x $dir/$p ]] || return 1; done
}

# --- Kubernetes ---------------------------------------------------------------------------
# `go install k8s.io/kubernetes/cmd/...@v` is refused (replace directives), and the
# module has no staging/ tree: point the k8s.io/* replaces at their published
# v0.x modules instead and build from a copy of the module.
kdir=$tools/kubernetes-$K8S_VERSION
k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
if built "$kdir" "${k8s_bins[@]}"; then
	log "cached: ${k8s_bins[*]} in $kdir"
else
	start=$(date +%s.%N)
	log "building Kubernetes $K8S_VERSION (once; a cold machine: ~15 min on 2 cores, kube-apiserver the most)"
	src=$(cd / && GOFLAGS= "$go" mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
		sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
	[[ -d $src ]] || die "go mod download k8s.io/kubernetes@$K8S_VERSION gave no folder"
	work=$cache/k8s/src-$K8S_VERSION
	rm -rf "$work" "$kdir.tmp"
	cp -r "$src" "$work"
	chmod -R u+w "$work"
	minor=${K8S_VERSION#v1.}
	sed -i -E "s#^(\s*)(k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+\$#\1\2 => \2 v0.$minor#" "$work/go.mod"
	rm -f "$work/go.work" "$work/go.work.sum"
	# The -X flags of hack/lib/version.sh: `kubectl version` tells the truth.
	ld="-s -w"
	IFS=. read -r maj min _ <<<"${K8S_VERSION#v}"
	for kv in "gitVersion=$K8S_VERSION" "gitMajor=$maj" "gitMinor=$min" gitTreeState=clean; do
		ld="$ld -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
	done
	for c in "${k8s_bins[@]}"; do
		log "go build $c ($(since "$start") so far)"
		(cd "$work" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 nice -n 10 \
			"$go" build -trimpath -ldflags="$ld" -o "$kdir.tmp/$c" "./cmd/$c")
	done
	rm -rf "$kdir" "$work"
	mv "$kdir.tmp" "$kdir"
	log "built Kubernetes in $(since "$start")"
fi

# --- etcd -----------------------------------------------------------------------------------
# Also refused by go install (replaces): built from a wrapper module that requires it.
edir=$tools/etcd-$ETCD_VERSION
if built "$edir" etcd; then
	log "cached: etcd in $edir"
else
	start=$(date +%s.%N)
	log "building etcd $ETCD_VERSION (once; ~1 min)"
	w=$cache/k8s/etcdbuild
	rm -rf "$w" "$edir.tmp"
	mkdir -p "$w"
	printf 'module etcdbuild\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$w/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$w/tools.go"
	(cd "$w" && GOWORK=off GOFLAGS=-mod=mod "$go" mod tidy &&
		GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 "$go" build -trimpath -ldflags="-s -w" \
			-o "$edir.tmp/etcd" go.etcd.io/etcd/server/v3)
	rm -rf "$w"
	mv "$edir.tmp" "$edir"
	log "built etcd in $(since "$start")"
fi

# --- CNI plugins ------------------------------------------------------------------------------
ndir=$tools/cni-$CNI_VERSION
if built "$ndir" bridge host-local loopback; then
	log "cached: CNI plugins in $ndir"
else
	start=$(date +%s.%N)
	log "building CNI plugins $CNI_VERSION (once; ~10 s)"
	rm -rf "$ndir.tmp"
	(cd / && GOFLAGS= CGO_ENABLED=0 GOBIN=$ndir.tmp "$go" install -trimpath -ldflags="-s -w" \
		"github.com/containernetworking/plugins/plugins/main/bridge@$CNI_VERSION" \
		"github.com/containernetworking/plugins/plugins/main/loopback@$CNI_VERSION" \
		"github.com/containernetworking/plugins/plugins/ipam/host-local@$CNI_VERSION")
	mv "$ndir.tmp" "$ndir"
	log "built CNI plugins in $(since "$start")"
fi

printf 'K8S_VERSION=%s\nETCD_VERSION=%s\nCNI_VERSION=%s\n' "$K8S_VERSION" "$ETCD_VERSION" "$CNI_VERSION" >"$tools/versions"
echo "$tools"
