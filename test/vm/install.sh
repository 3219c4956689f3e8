#!/usr/bin/env bash
# Installs what the VM test suite needs, and only what is missing, so running it
# twice is cheap. CI runs on a fresh Debian 12 machine where nothing installed by
# hand survives: this script is the only place those installs are written down.
#
#   test/vm/install.sh [6.1] [6.12]     (default: both kernels)
#
# - apt packages: qemu-system-x86 (the VM), linux-image-amd64 (Debian's 6.1 kernel,
#   which is the kernel booted as "6.1"), busybox-static (the VM's userland), cpio
#   (to pack the initramfs).
# - the 6.12 kernel from bookworm-backports, downloaded and unpacked into the cache
#   (${KRSI_CACHE:-<repo>/.cache}/vm/kernel-6.12), NOT installed: /boot keeps 6.1
#   and the host's boot setup is not touched.
#
# Why a VM at all: the kernels these machines run refuse BPF LSM program loads;
# see shared/notes/vm-kernel.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${KRSI_CACHE:-$repo/.cache}
export DEBIAN_FRONTEND=noninteractive

log() { echo "vm: $*"; }
die() { echo "vm: ERROR: $*" >&2; exit 1; }

kernels=("$@")
[[ ${#kernels[@]} -gt 0 ]] || kernels=(6.1 6.12)
for k in "${kernels[@]}"; do
	case $k in 6.1 | 6.12) ;; *) die "unknown kernel '$k' (want 6.1 or 6.12)" ;; esac
done

[[ $(id -u) -eq 0 ]] || die "install.sh needs root (apt-get)"

# apt-get update at most once per run of this script.
apt_updated=0
apt_update() {
	if [[ $apt_updated -eq 0 ]]; then
		log "apt-get update"
		apt-get update -qq
		apt_updated=1
	fi
}

installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

# --- 1. apt packages -------------------------------------------------------------
need=(qemu-system-x86 busybox-static cpio)
for k in "${kernels[@]}"; do [[ $k == 6.1 ]] && need+=(linux-image-amd64); done
missing=()
for p in "${need[@]}"; do installed "$p" || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
	apt_update
	log "apt-get install ${missing[*]}"
	# No recommends: linux-image-amd64 would otherwise drag in firmware and a bootloader.
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
	log "apt packages present: ${need[*]}"
fi

# The 6.1 kernel is whatever linux-image-amd64 put in /boot.
if [[ " ${kernels[*]} " == *" 6.1 "* ]]; then
	k61=$(ls /boot/vmlinuz-6.1.* 2>/dev/null | sort -V | tail -n1 || true)
	[[ -n $k61 && -r $k61 ]] || die "linux-image-amd64 is installed but no readable /boot/vmlinuz-6.1.* exists"
	log "kernel 6.1: $k61"
fi

# --- 2. the 6.12 kernel from bookworm-backports ------------------------------------
if [[ " ${kernels[*]} " == *" 6.12 "* ]]; then
	kdir=$cache/vm/kernel-6.12
	have=$(ls "$kdir"/boot/vmlinuz-6.12.* 2>/dev/null | sort -V | tail -n1 || true)
	if [[ -n $have ]]; then
		# Cached: no network. Delete the folder to pick up a newer backports kernel.
		log "kernel 6.12: $have (cached; from $(cat "$kdir/.package" 2>/dev/null || echo '?'))"
	else
		# Same mirror as the machine's main Debian source, so a machine pointed at an
		# internal mirror or a snapshot keeps using it.
		uri=http://deb.debian.org/debian
		if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
			# The first URIs line of the stanza whose Suites has plain "bookworm".
			u=$(awk '
				/^[[:space:]]*$/ { if (suite && uri) { print uri; exit } ; suite=0; uri="" ; next }
				/^URIs:/ { uri=$2 }
				/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite=1 }
				END { if (suite && uri) print uri }
			' /etc/apt/sources.list.d/debian.sources | head -n1)
			[[ -n $u ]] && uri=$u
		fi
		src=/etc/apt/sources.list.d/krsi-backports.sources
		new_source=0
		want="Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
		if [[ ! -f $src || $(cat "$src") != "$want" ]]; then
			log "writing $src (URIs: $uri)"
			printf '%s\n' "$want" >"$src"
			apt_updated=0 # the new source has no package lists yet
			new_source=1
		fi
		# The package list must know the 6.12 kernels; update once if it does not.
		# Names, as served (checked 2026-11): linux-image-6.12.<N>+deb12-amd64-unsigned
		# (no "+bpo" in the name; backports marks only the version, 6.12.95-1~bpo12+1).
		# bookworm-security carries the same series too (linux-6.12 for bookworm LTS),
		# usually at a newer point release than backports; the newest known wins.
		# KRSI_VM_KERNEL_612_PKG pins an exact package name instead.
		pattern='^linux-image-6\.12\.[0-9]+\+(deb12|bpo)(\.[0-9]+)?-amd64-unsigned$'
		find_pkg() {
			if [[ -n ${KRSI_VM_KERNEL_612_PKG:-} ]]; then
				apt-cache show "$KRSI_VM_KERNEL_612_PKG" >/dev/null 2>&1 && echo "$KRSI_VM_KERNEL_612_PKG"
				return 0
			fi
			apt-cache search --names-only "$pattern" | awk '{print $1}' | sort -V | tail -n1
		}
		pkg=$(find_pkg)
		if [[ -z $pkg || $new_source -eq 1 ]]; then
			apt_update
			pkg=$(find_pkg)
		fi
		[[ -n $pkg ]] || die "no package ${KRSI_VM_KERNEL_612_PKG:-matching $pattern} known to apt (backports source: $uri)"
		log "newest 6.12 kernel package: $pkg ($(apt-cache policy "$pkg" | awk '/^ +[0-9]/ && !v {v=$1} /[0-9]+ http/ && !s {s=$3} END {print v" from "s}'))"
		log "downloading $pkg"
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
		have=$(ls "$kdir"/boot/vmlinuz-6.12.* | sort -V | tail -n1)
		log "kernel 6.12: $have"
	fi
fi
