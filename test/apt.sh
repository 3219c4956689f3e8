#!/usr/bin/env bash
# Debian packages for the build and test scripts, one apt-get at a time.
# `make test` runs two lanes side by side (test/lanes.sh), and each may
# install on a fresh machine (clang, qemu and kernels, runc, conmon): dpkg's
# frontend lock and apt-get update's lists lock refuse a second apt-get at
# once ("Could not get lock /var/lib/dpkg/lock-frontend", which failed a
# Kubernetes run beside a kernel suite). krsi's own calls queue on one lock;
# DPkg::Lock::Timeout waits for anyone else's.
#
#   test/apt.sh install PKG...    install PKG...; when that fails (package lists
#                                 missing or older than the mirror), update and retry
#   test/apt.sh update            apt-get update
#   test/apt.sh download PKG...   apt-get download into the current folder
set -euo pipefail

exec 9>/var/lock/krsi-apt.lock
flock 9
export DEBIAN_FRONTEND=noninteractive
aptget() { apt-get -q -o DPkg::Lock::Timeout=600 "$@"; }

case ${1:-} in
install)
	shift
	aptget install -y -qq --no-install-recommends "$@" ||
		{ aptget update -qq && aptget install -y -qq --no-install-recommends "$@"; }
	;;
update) aptget update -qq ;;
download) shift; aptget download -qq "$@" ;;
*) echo "test/apt.sh: usage: test/apt.sh install|update|download PKG..." >&2; exit 2 ;;
esac
