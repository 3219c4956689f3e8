#!/usr/bin/env bash
# Copies a dynamically linked program's loader and the libraries it needs,
# transitively, from a sysroot (/ for this machine's programs) into a root
# folder, at the paths they have in the sysroot: what the program needs to run
# in the VM. readelf, not ldd: ldd runs the program, which an arm64 one cannot
# do on an amd64 host. The loader finds the libraries in its built-in multiarch
# folders (/lib/<triplet>, /usr/lib/<triplet>), which is where they are looked
# up. A file already in ROOT is left as it is (an overlay made of hard links to
# another must not be written through).
#
#   test/vm/elfdeps.sh SYSROOT TRIPLET PROGRAM ROOT
#
# PROGRAM is its path inside SYSROOT (e.g. /usr/sbin/runc); it is not copied
# itself (callers put it where they want it). Prints the loader's path (inside
# ROOT), which the VM's tests need to run "<ld.so> program". Used by
# test/vm/run.sh (the image's dynamically linked `true`), test/e2e/build.sh
# (Debian's runc) and test/e2e/build-crio.sh (conmon).
set -euo pipefail

die() { echo "elfdeps: ERROR: $*" >&2; exit 1; }
[[ $# -eq 4 ]] || die "usage: elfdeps.sh SYSROOT TRIPLET PROGRAM ROOT"
sysroot=$1 triplet=$2 prog=$3 root=$4

in_sysroot() { echo "${sysroot%/}$1"; }
lib_path() { # lib_path NAME: the path (in the VM) of a NEEDED library
	local d
	for d in /lib/$triplet /usr/lib/$triplet /lib /usr/lib; do
		if [[ -e $(in_sysroot "$d/$1") ]]; then echo "$d/$1"; return; fi
	done
	die "library $1 (needed by $prog) is in none of $sysroot's lib folders"
}
ldso=$(readelf -l "$(in_sysroot "$prog")" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
[[ -n $ldso ]] || die "$(in_sysroot "$prog") names no program interpreter (is it dynamically linked?)"
todo=("$ldso" "$prog") done_libs=" "
while [[ ${#todo[@]} -gt 0 ]]; do
	f=${todo[0]}
	todo=("${todo[@]:1}")
	[[ $done_libs == *" $f "* ]] && continue
	done_libs+="$f "
	if [[ $f != "$prog" && ! -e $root$f ]]; then
		mkdir -p "$root$(dirname "$f")"
		cp -L "$(in_sysroot "$f")" "$root$f" # -L: a real file at the path, not a dangling link
	fi
	while read -r lib; do
		todo+=("$(lib_path "$lib")")
	done < <(readelf -d "$(in_sysroot "$f")" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
done
echo "$ldso"
