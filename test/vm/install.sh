#!/usr/bin/env bash
# Installs what the VM test suite needs, and only what is missing, so running it
# again is cheap (no network once everything is there). CI runs on a fresh Debian 12
# machine where nothing installed by hand survives: this script is the one place
# those installs are written down.
#
#   test/vm/install.sh [--arch amd64|arm64] [6.1] [6.12]
#                      (default: amd64, both kernels; arm64 has 6.12 only)
#
# amd64 (the VM is this machine's architecture):
# - apt packages: qemu-system-x86 (the VM), linux-image-amd64 (Debian's 6.1 kernel,
#   booted as "6.1"), busybox-static (the VM's userland), binutils (as, ld: the image's
#   static `true`; readelf: what its dynamic `true` loads), cpio (packs the initramfs),
#   xz-utils (unpacks the 6.12 kernel's overlay module).
# - a 6.12 kernel, downloaded and unpacked into ${KRSI_CACHE:-<repo>/.cache}/vm/kernel-6.12
#   but NOT installed: /boot keeps 6.1 and the host's boot setup is not touched.
#   It comes from bookworm-backports (a sources entry this script adds) or from
#   bookworm-security, which carries the same 6.12 series for bookworm LTS, often at
#   a newer point release: the newest package apt knows wins.
#   KRSI_VM_KERNEL_612_PKG=<package name> pins one instead.
#
# arm64 (emulated: qemu-system-aarch64 -M virt):
# - apt packages: qemu-system-arm (the VM), binutils-aarch64-linux-gnu (assembles the
#   image's static `true`), binutils (readelf), cpio, xz-utils; dpkg learns the arm64 architecture
#   (dpkg --add-architecture arm64) so that apt serves its packages.
# - downloaded and unpacked, never installed, under ${KRSI_CACHE:-<repo>/.cache}/vm/arm64:
#   kernel-6.12 (as for amd64, the -arm64-unsigned package; pin one with
#   KRSI_VM_KERNEL_612_ARM64_PKG), and userland (busybox-static, coreutils and libc6 of
#   arm64: busybox, and a dynamically linked `true` with its loader and libc; runc and
#   libseccomp2: Debian's runc, which test/e2e/build.sh puts in its arm64 overlay). No 6.1:
#   arm64 kernels before 6.4 cannot attach BPF LSM programs (test/vm/run.sh).
#
# Why a VM at all: the kernels these machines run refuse BPF LSM program loads;
# see shared/notes/vm-kernel.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${KRSI_CACHE:-$repo/.cache}
export DEBIAN_FRONTEND=noninteractive

log() { echo "vm: $*"; }
die() { echo "vm: ERROR: $*" >&2; exit 1; }

arch=amd64
case ${1:-} in
--arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
--arch=*) arch=${1#*=}; shift ;;
esac
case $arch in
amd64) adir=$cache/vm ;; # where amd64's downloads always were
arm64) adir=$cache/vm/arm64 ;;
*) die "unknown architecture '$arch' (want amd64 or arm64)" ;;
esac
kernels=("$@")
if [[ ${#kernels[@]} -eq 0 ]]; then
	kernels=(6.1 6.12)
	[[ $arch == amd64 ]] || kernels=(6.12)
fi
want61=0 want612=0
for k in "${kernels[@]}"; do
	case $arch:$k in
	amd64:6.1) want61=1 ;;
	*:6.12) want612=1 ;;
	*) die "unknown kernel '$k' for $arch (want 6.1 or 6.12; arm64: 6.12)" ;;
	esac
done

installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
newest() { # the newest of the files named by a glob, or "" (no error) if none exists
	local f
	for f in "$@"; do if [[ -e $f ]]; then echo "$f"; fi; done | sort -V | tail -n1
}

# --- what is missing ---------------------------------------------------------------
# Downloads: unpacked into a folder of the cache, not installed. Each is a folder,
# the packages that go into it (the newest that match a pattern, or a pin) and
# whether the folder already holds them (its .package file names them).
case $arch in
amd64)
	need=(qemu-system-x86 busybox-static binutils cpio xz-utils)
	[[ $want61 -eq 1 ]] && need+=(linux-image-amd64)
	# Names as served (checked 2026-11): linux-image-6.12.<N>+deb12-amd64-unsigned,
	# in backports as in security; there is no "+bpo" in the name, backports marks
	# only the version (6.12.95-1~bpo12+1). "-unsigned" is the plain image; the
	# signed one needs the shim/grub machinery we do not want.
	pattern612='^linux-image-6\.12\.[0-9]+\+(deb12|bpo)(\.[0-9]+)?-amd64-unsigned$'
	pin612=${KRSI_VM_KERNEL_612_PKG:-}
	;;
arm64)
	need=(qemu-system-arm binutils-aarch64-linux-gnu binutils cpio xz-utils)
	pattern612='^linux-image-6\.12\.[0-9]+\+(deb12|bpo)(\.[0-9]+)?-arm64-unsigned$'
	pin612=${KRSI_VM_KERNEL_612_ARM64_PKG:-}
	;;
esac
missing=()
for p in "${need[@]}"; do installed "$p" || missing+=("$p"); done

# cached DIR PACKAGES...: DIR holds exactly these packages, unpacked (a pin that
# differs from what is there means: fetch the pinned one).
cached() {
	local dir=$1
	shift
	[[ -f $dir/.package && $(cat "$dir/.package") == "$*" ]]
}
# A kernel folder is current when it holds a kernel of the series and, if a
# package is pinned, that package.
kernel_cached() { # kernel_cached DIR SERIES PIN
	[[ -n $(newest "$1"/boot/vmlinuz-"$2".*) ]] || return 1
	[[ -z $3 ]] || cached "$1" "$3"
}
fetch612=0 fetchuser=0
userland=(busybox-static coreutils libc6 runc libseccomp2)
if [[ $want612 -eq 1 ]] && ! kernel_cached "$adir/kernel-6.12" 6.12 "$pin612"; then fetch612=1; fi
if [[ $arch == arm64 ]] && ! cached "$adir/userland" "${userland[@]}"; then fetchuser=1; fi

if [[ ${#missing[@]} -eq 0 ]]; then
	log "apt packages present: ${need[*]}"
fi
if [[ ${#missing[@]} -gt 0 || $fetch612$fetchuser != 00 ]]; then
	[[ $(id -u) -eq 0 ]] || die "installing needs root (apt-get): ${missing[*]} and $arch downloads (kernels, userland)"
fi

# --- the backports source (only when a 6.12 kernel is to be fetched) ------------------
# Written before the first apt-get update, so that one update serves everything.
new_source=0
if [[ $fetch612 -eq 1 ]]; then
	# Same mirror as the machine's main Debian source, so a machine pointed at an
	# internal mirror keeps using it.
	uri=
	if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
		# deb822: the first URIs of the stanza whose Suites has plain "bookworm".
		uri=$(awk '
			/^[[:space:]]*$/ { if (suite && uri) { print uri; exit }; suite = 0; uri = ""; next }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite = 1 }
			END { if (suite && uri) print uri }
		' /etc/apt/sources.list.d/debian.sources | head -n1)
	fi
	if [[ -z $uri && -r /etc/apt/sources.list ]]; then
		# One-line format: "deb [opts] URI bookworm main ..."
		uri=$(awk '$1 == "deb" { sub(/\[[^]]*\] */, ""); if ($3 == "bookworm") { print $2; exit } }' /etc/apt/sources.list)
	fi
	uri=${uri:-http://deb.debian.org/debian}
	src=/etc/apt/sources.list.d/krsi-backports.sources
	want="Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
	if [[ ! -f $src || $(cat "$src") != "$want" ]]; then
		log "writing $src (bookworm-backports from $uri)"
		printf '%s\n' "$want" >"$src"
		new_source=1 # it has no package lists yet
	fi
fi
# A foreign architecture's packages: apt serves them once dpkg knows it.
if [[ $arch != amd64 ]] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
	log "dpkg --add-architecture $arch"
	dpkg --add-architecture "$arch"
	new_source=1
fi

# apt-get update at most once per run.
apt_updated=0
apt_update() {
	if [[ $apt_updated -eq 0 ]]; then
		log "apt-get update"
		bash "$repo/test/apt.sh" update
		apt_updated=1
	fi
}

# --- apt packages -------------------------------------------------------------------
if [[ ${#missing[@]} -gt 0 ]]; then
	apt_update
	log "apt-get install ${missing[*]}"
	# No recommends: linux-image-amd64 would otherwise drag in firmware and a
	# bootloader. (With backports added, apt still picks bookworm's 6.1 for it:
	# backports has priority 100.)
	bash "$repo/test/apt.sh" install "${missing[@]}"
fi

# fetch DIR PACKAGE...: download the packages (of $arch) and unpack them into DIR,
# replacing what was there; DIR/.package names them.
fetch() {
	local dir=$1 deb
	shift
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# apt-get download writes into the current directory; _apt must be able to
	# write there, or apt warns and falls back to an unsandboxed download.
	chmod 0777 "$tmp"
	# Package lists older than the mirror name files it no longer has: update once
	# and try again.
	if ! (cd "$tmp" && bash "$repo/test/apt.sh" download "${@/%/:$arch}"); then
		apt_update
		(cd "$tmp" && bash "$repo/test/apt.sh" download "${@/%/:$arch}")
	fi
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp"
	for deb in "$tmp"/*.deb; do
		log "unpacking $(basename "$deb") into $dir"
		dpkg-deb -x "$deb" "$dir.tmp"
	done
	rm -rf "$tmp"
	echo "$*" >"$dir.tmp/.package"
	# Only a fully unpacked folder becomes visible under the final name.
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
}

# fetch_kernel SERIES PATTERN PIN: the newest kernel package apt knows that
# matches PATTERN (or PIN), into $adir/kernel-SERIES.
fetch_kernel() {
	local series=$1 pattern=$2 pin=$3 pkg origin
	find_pkg() {
		if [[ -n $pin ]]; then
			if apt-cache show "$pin:$arch" >/dev/null 2>&1; then echo "$pin"; fi
		else
			apt-cache search --names-only "$pattern" | awk '{print $1}' | sort -V | tail -n1
		fi
	}
	pkg=
	[[ $new_source -eq 1 ]] || pkg=$(find_pkg)
	if [[ -z $pkg ]]; then
		apt_update
		pkg=$(find_pkg)
	fi
	[[ -n $pkg ]] || die "apt knows no package ${pin:-matching $pattern}"
	origin=$(apt-cache policy "$pkg:$arch" | awk '/^ +(\*\*\* )?[0-9]/ && !v { v = ($1 == "***") ? $2 : $1 } / http/ && !s { s = $3 } END { print v " from " s }')
	log "$series kernel package ($arch): $pkg ($origin)"
	fetch "$adir/kernel-$series" "$pkg"
}

# The 6.1 kernel (amd64 only) is whatever linux-image-amd64 put in /boot.
if [[ $want61 -eq 1 ]]; then
	k61=$(newest /boot/vmlinuz-6.1.*)
	[[ -n $k61 && -r $k61 ]] || die "linux-image-amd64 is installed but there is no readable /boot/vmlinuz-6.1.*"
	log "kernel 6.1: $k61"
fi
[[ $fetch612 -eq 0 ]] || fetch_kernel 6.12 "$pattern612" "$pin612"
for k in "${kernels[@]}"; do
	if [[ $k == 6.12 ]]; then
		# Cached: no network. Delete the folder to pick up a newer kernel.
		log "kernel $k ($arch): $(newest "$adir/kernel-$k"/boot/vmlinuz-"$k".*) (from $(cat "$adir/kernel-$k/.package" 2>/dev/null || echo '?'))"
	fi
done
if [[ $fetchuser -eq 1 ]]; then
	[[ $new_source -eq 0 ]] || apt_update
	fetch "$adir/userland" "${userland[@]}"
fi
if [[ $arch == arm64 ]]; then
	log "userland ($arch): $adir/userland ($(cat "$adir/userland/.package"))"
fi
