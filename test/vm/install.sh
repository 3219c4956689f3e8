#!/usr/bin/env bash
# Installs what the VM test suite needs, and only what is missing, so running it
# again is cheap (no network once everything is there). CI runs on a fresh Debian 12
# machine where nothing installed by hand survives: this script is the one place
# those installs are written down.
#
#   test/vm/install.sh [6.1] [6.12]     (default: both kernels)
#
# - apt packages: qemu-system-x86 (the VM), linux-image-amd64 (Debian's 6.1 kernel,
#   booted as "6.1"), busybox-static (the VM's userland), cpio (packs the initramfs),
#   xz-utils (unpacks the 6.12 kernel's overlay module).
# - a 6.12 kernel, downloaded and unpacked into ${KRSI_CACHE:-<repo>/.cache}/vm/kernel-6.12
#   but NOT installed: /boot keeps 6.1 and the host's boot setup is not touched.
#   It comes from bookworm-backports (a sources entry this script adds) or from
#   bookworm-security, which carries the same 6.12 series for bookworm LTS, often at
#   a newer point release: the newest package apt knows wins.
#   KRSI_VM_KERNEL_612_PKG=<package name> pins one instead.
#
# Why a VM at all: the kernels these machines run refuse BPF LSM program loads;
# see shared/notes/vm-kernel.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${KRSI_CACHE:-$repo/.cache}
kdir=$cache/vm/kernel-6.12
export DEBIAN_FRONTEND=noninteractive

log() { echo "vm: $*"; }
die() { echo "vm: ERROR: $*" >&2; exit 1; }

kernels=("$@")
[[ ${#kernels[@]} -gt 0 ]] || kernels=(6.1 6.12)
want61=0 want612=0
for k in "${kernels[@]}"; do
	case $k in
	6.1) want61=1 ;;
	6.12) want612=1 ;;
	*) die "unknown kernel '$k' (want 6.1 or 6.12)" ;;
	esac
done

installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
newest() { # the newest of the files named by a glob, or "" (no error) if none exists
	local f
	for f in "$@"; do if [[ -e $f ]]; then echo "$f"; fi; done | sort -V | tail -n1
}

# --- what is missing ---------------------------------------------------------------
need=(qemu-system-x86 busybox-static cpio xz-utils)
[[ $want61 -eq 1 ]] && need+=(linux-image-amd64)
missing=()
for p in "${need[@]}"; do installed "$p" || missing+=("$p"); done
k612=
if [[ $want612 -eq 1 ]]; then
	k612=$(newest "$kdir"/boot/vmlinuz-6.12.*)
	# A pin that differs from what is cached means: fetch the pinned one.
	if [[ -n $k612 && -n ${KRSI_VM_KERNEL_612_PKG:-} && $(cat "$kdir/.package" 2>/dev/null) != "$KRSI_VM_KERNEL_612_PKG" ]]; then
		k612=
	fi
fi

if [[ ${#missing[@]} -eq 0 ]]; then
	log "apt packages present: ${need[*]}"
fi
if [[ ${#missing[@]} -gt 0 || ($want612 -eq 1 && -z $k612) ]]; then
	[[ $(id -u) -eq 0 ]] || die "installing needs root (apt-get): ${missing[*]}${k612:- kernel 6.12}"
fi

# --- the backports source (only when a 6.12 kernel is to be fetched) ------------------
# Written before the first apt-get update, so that one update serves everything.
new_source=0
if [[ $want612 -eq 1 && -z $k612 ]]; then
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

# apt-get update at most once per run.
apt_updated=0
apt_update() {
	if [[ $apt_updated -eq 0 ]]; then
		log "apt-get update"
		apt-get update -qq
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
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The 6.1 kernel is whatever linux-image-amd64 put in /boot.
if [[ $want61 -eq 1 ]]; then
	k61=$(newest /boot/vmlinuz-6.1.*)
	[[ -n $k61 && -r $k61 ]] || die "linux-image-amd64 is installed but there is no readable /boot/vmlinuz-6.1.*"
	log "kernel 6.1: $k61"
fi

# --- the 6.12 kernel ------------------------------------------------------------------
if [[ $want612 -eq 1 && -n $k612 ]]; then
	# Cached: no network. Delete the folder to pick up a newer kernel.
	log "kernel 6.12: $k612 (cached; from $(cat "$kdir/.package" 2>/dev/null || echo '?'))"
elif [[ $want612 -eq 1 ]]; then
	# Names as served (checked 2026-11): linux-image-6.12.<N>+deb12-amd64-unsigned,
	# in backports as in security; there is no "+bpo" in the name, backports marks
	# only the version (6.12.95-1~bpo12+1). "-unsigned" is the plain image; the
	# signed one needs the shim/grub machinery we do not want.
	pattern='^linux-image-6\.12\.[0-9]+\+(deb12|bpo)(\.[0-9]+)?-amd64-unsigned$'
	find_pkg() {
		if [[ -n ${KRSI_VM_KERNEL_612_PKG:-} ]]; then
			if apt-cache show "$KRSI_VM_KERNEL_612_PKG" >/dev/null 2>&1; then echo "$KRSI_VM_KERNEL_612_PKG"; fi
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
	[[ -n $pkg ]] || die "apt knows no package ${KRSI_VM_KERNEL_612_PKG:-matching $pattern}"
	origin=$(apt-cache policy "$pkg" | awk '/^ +(\*\*\* )?[0-9]/ && !v { v = ($1 == "***") ? $2 : $1 } / http/ && !s { s = $3 } END { print v " from " s }')
	log "6.12 kernel package: $pkg ($origin)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# apt-get download writes into the current directory; _apt must be able to
	# write there, or apt warns and falls back to an unsandboxed download.
	chmod 0777 "$tmp"
	(cd "$tmp" && apt-get download -qq "$pkg")
	deb=$(ls "$tmp"/*.deb)
	log "unpacking $(basename "$deb") into $kdir"
	rm -rf "$kdir.tmp"
	mkdir -p "$kdir.tmp"
	dpkg-deb -x "$deb" "$kdir.tmp"
	echo "$pkg" >"$kdir.tmp/.package"
	# Only a fully unpacked kernel becomes visible under the final name.
	rm -rf "$kdir"
	mv "$kdir.tmp" "$kdir"
	log "kernel 6.12: $(newest "$kdir"/boot/vmlinuz-6.12.*)"
fi
