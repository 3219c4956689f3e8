#!/usr/bin/env bash
# Runs helm, building it first if this machine has not yet: the chart check
# (make check-chart) and anyone without helm use it.
#
#   test/helm/helm.sh template krsi deploy/helm/krsi -n krsi-system
#   test/helm/helm.sh --path       builds if needed, prints the binary's path
#
# helm is built with `go install` from the Go module proxy, once per version,
# into ${KRSI_CACHE:-<repo>/.cache}/tools/helm-<version>/helm (static). From
# cold Go caches that is ~550 MB of modules and ~8 CPU-minutes of compiling:
# about 5 minutes on an idle 2-core machine (17 minutes measured on a shared
# one with a load of 12); afterwards it costs nothing. The version is pinned
# here; change it here only.
#
# Environment: KRSI_CACHE (cache folder), GO (go command, default go).
set -euo pipefail

HELM_VERSION=v4.3.2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KRSI_CACHE:-$repo/.cache}
dir=$cache/tools/helm-$HELM_VERSION
helm=$dir/helm
go=${GO:-go}
export PATH=$PATH:/usr/local/go/bin

if [[ ! -x $helm ]]; then
	command -v "$go" >/dev/null || { echo "helm.sh: ERROR: go is not on PATH (want Go >= 1.26 in /usr/local/go)" >&2; exit 1; }
	echo "helm.sh: building helm $HELM_VERSION into $dir (once; ~5 min on 2 idle cores from cold Go caches)" >&2
	start=$(date +%s)
	# Built into a temporary folder and renamed: a broken build never looks cached.
	mkdir -p "$cache/tools"
	tmp=$(mktemp -d "$dir.tmp.XXXXXX")
	chmod 755 "$tmp"
	trap 'rm -rf "$tmp"' EXIT
	GOBIN=$tmp CGO_ENABLED=0 GOFLAGS=-trimpath "$go" install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" >&2
	mv -T "$tmp" "$dir" 2>/dev/null || true # another build may have finished first
	[[ -x $helm ]] || { echo "helm.sh: ERROR: $helm missing after the build" >&2; exit 1; }
	echo "helm.sh: built $helm in $(($(date +%s) - start)) s" >&2
fi

# Keep helm's own files (repositories, plugins, cache) out of $HOME.
export HELM_CACHE_HOME=${HELM_CACHE_HOME:-$cache/tools/helm-home/cache}
export HELM_CONFIG_HOME=${HELM_CONFIG_HOME:-$cache/tools/helm-home/config}
export HELM_DATA_HOME=${HELM_DATA_HOME:-$cache/tools/helm-home/data}

if [[ ${1:-} == --path ]]; then
	echo "$helm"
	exit 0
fi
exec "$helm" "$@"
