#!/usr/bin/env bash
# Runs two make targets side by side and fails if either fails: how `make test`
# fits CI's 90 minutes on 2 cores. The VM runs qemu with single-threaded TCG,
# so a kernel-suite VM uses one core; the Kubernetes test (its own VM lock,
# KRSI_K8S_LOCK) builds and boots on the other instead of after it.
#
#   test/lanes.sh NAME TARGET -- NAME TARGET
#
# The second lane's lines are prefixed with "[NAME] " so the log stays
# readable; each lane's result and wall time is printed at the end.
set -uo pipefail

usage() { echo "usage: test/lanes.sh NAME TARGET -- NAME TARGET" >&2; exit 2; }
[[ $# -eq 5 && $3 == -- ]] || usage
a_name=$1 a_target=$2 b_name=$4 b_target=$5
make=${MAKE:-make}
start=$(date +%s)
since() { echo "$(($(date +%s) - $1))s"; }

b_rc=$(mktemp)
(
	s=$(date +%s)
	"$make" --no-print-directory "$b_target" 2>&1 | sed -u "s/^/[$b_name] /"
	rc=${PIPESTATUS[0]}
	echo "$rc $(since "$s")" >"$b_rc"
) &
b_pid=$!
# Ctrl-C or CI's cancel stops both lanes.
trap 'trap - INT TERM; kill 0 2>/dev/null; exit 130' INT TERM

a_start=$(date +%s)
"$make" --no-print-directory "$a_target"
a=$?
a_time=$(since "$a_start")
echo "lanes: $a_name done (exit $a, $a_time); waiting for $b_name"
wait "$b_pid"
read -r b b_time <"$b_rc" || { b=1 b_time="?"; }
rm -f "$b_rc"

echo "lanes: $a_name: $([ "$a" -eq 0 ] && echo passed || echo "FAILED (exit $a)") in $a_time"
echo "lanes: $b_name: $([ "$b" -eq 0 ] && echo passed || echo "FAILED (exit $b)") in $b_time"
echo "lanes: both ended after $(since "$start")"
[ "$a" -eq 0 ] && [ "$b" -eq 0 ]
