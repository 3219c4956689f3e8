#!/usr/bin/env bash
# krsi's end-to-end suite with real runtimes, in the BPF-LSM VM: containerd
# 2.4.2 (test/e2e/e2e.sh) and CRI-O 1.34 (test/e2e/crio.sh), each with runc and
# crictl 1.37. Builds what it needs (test/e2e/build.sh, test/e2e/build-crio.sh),
# then boots the VM (test/vm/run.sh) once per kernel and runtime, with that
# runtime and the images in its root and its scenario script as the command.
#
#   test/e2e/run.sh [--kernel 6.1|6.12|all] [--runtime containerd|crio|all] [--keep] [--demo]
#                                                    (default: --kernel 6.1 --runtime all)
#
#   --demo   run test/e2e/demo.sh (the step-by-step demo for people, containerd)
#            instead of the scenarios; exits non-zero if the demo did not behave as shown
#
# Prints each scenario's "e2e: PASS|FAIL <name>" line as the VM runs, a line per
# runtime and kernel, and last "e2e: N passed, M failed" over all VMs booted;
# exits non-zero if a scenario failed or a VM gave no result.
#
# Environment: KRSI_CACHE (cache, default <repo>/.cache; tools in $KRSI_CACHE/e2e,
# the VM's console in $KRSI_CACHE/e2e/<kernel>.log for containerd and
# crio-<kernel>.log for CRI-O), KRSI_VM_TIMEOUT (per boot, default 15m),
# E2E_ONLY ("annotation-wx plugin-restart ...": run only these scenarios, in
# whichever runtime has them), KRSI_VM_MEM (guest memory, default 2048 here).
# A fresh machine spends ~3 min building containerd and crictl and ~2.5 min
# building CRI-O, once; after that a run is about a minute of VM time per
# kernel and runtime.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KRSI_CACHE:-$repo/.cache}

kernel=6.1 runtime=all keep=() demo=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--demo) demo=1; shift ;;
	--runtime) runtime=${2:?--runtime needs containerd, crio or all}; shift 2 ;;
	--runtime=*) runtime=${1#*=}; shift ;;
	--kernel) kernel=${2:?--kernel needs 6.1, 6.12 or all}; shift 2 ;;
	--kernel=*) kernel=${1#*=}; shift ;;
	--keep) keep=(--keep); shift ;;
	-h | --help) sed -n '2,26s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) echo "e2e: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case $kernel in 6.1 | 6.12) kernels=("$kernel") ;; all) kernels=(6.1 6.12) ;;
*) echo "e2e: --kernel must be 6.1, 6.12 or all" >&2; exit 2 ;; esac
case $runtime in containerd | crio) runtimes=("$runtime") ;; all) runtimes=(containerd crio) ;;
*) echo "e2e: --runtime must be containerd, crio or all" >&2; exit 2 ;; esac
[[ $demo -eq 1 ]] && runtimes=(containerd)

t0=$(date +%s.%N)
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0fs", e - s }'; }

overlay=$(bash "$here/build.sh" | tee -a /dev/stderr | tail -n 1) # -a: never truncate a log file behind stderr
[[ -d $overlay ]] || { echo "e2e: build.sh gave no overlay folder" >&2; exit 1; }
# E2E_ONLY travels into the VM in the overlay (the kernel command line is not
# the place for a list).
mkdir -p "$overlay/e2e"
printf 'E2E_ONLY=%q\n' "${E2E_ONLY:-}" >"$overlay/e2e/env"
if [[ " ${runtimes[*]} " == *" crio "* ]]; then
	# CRI-O's overlay starts from containerd's (runc, crictl, images, lib.sh, env).
	overlay_crio=$(bash "$here/build-crio.sh" "$overlay" | tail -n 1)
	[[ -d $overlay_crio ]] || { echo "e2e: build-crio.sh gave no overlay folder" >&2; exit 1; }
fi
echo "e2e: build done in $(since "$t0")"

if [[ $demo -eq 1 ]]; then
	rc=0
	for k in "${kernels[@]}"; do
		KRSI_VM_EXTRA=$overlay KRSI_VM_MEM=${KRSI_VM_MEM:-2048} KRSI_VM_PACKAGES=./test/vm/selftest \
			bash "$repo/test/vm/run.sh" --kernel "$k" "${keep[@]+"${keep[@]}"}" --cmd "$here/demo.sh" || rc=$?
	done
	echo "e2e: demo wall time $(since "$t0")"
	exit "$rc"
fi

passed=0 failed=0 bad=()
for rt in "${runtimes[@]}"; do
	case $rt in
	containerd) extra=$overlay script=$here/e2e.sh prefix= ;;
	crio) extra=$overlay_crio script=$here/crio.sh prefix=crio- ;;
	esac
	for k in "${kernels[@]}"; do
		tk=$(date +%s.%N)
		# selftest is the smallest package; --cmd runs the script instead of tests.
		# Our own copy of the output: $KRSI_CACHE/vm/<kernel>.log belongs to whichever
		# VM run (of anyone sharing this tree) came last.
		logf=$cache/e2e/$prefix$k.log
		set +e +o pipefail
		KRSI_VM_EXTRA=$extra KRSI_VM_MEM=${KRSI_VM_MEM:-2048} KRSI_VM_PACKAGES=./test/vm/selftest \
			bash "$repo/test/vm/run.sh" --kernel "$k" "${keep[@]+"${keep[@]}"}" --cmd "$script" 2>&1 | tee "$logf"
		rc=${PIPESTATUS[0]}
		set -e -o pipefail
		line=$(sed -n "s/^\[$k\] \(e2e: [0-9]* passed, [0-9]* failed\)$/\1/p" "$logf" | tail -n 1)
		if [[ -z $line ]]; then
			echo "e2e: $rt, kernel $k: the VM gave no e2e result (see $logf)" >&2
			bad+=("$rt/$k")
			failed=$((failed + 1))
			continue
		fi
		p=$(awk '{print $2}' <<<"$line")
		f=$(awk '{print $4}' <<<"$line")
		passed=$((passed + p))
		failed=$((failed + f))
		[[ $rc -eq 0 && $f -eq 0 ]] || bad+=("$rt/$k")
		echo "e2e: $rt, kernel $k: $p passed, $f failed in $(since "$tk") (log $logf)"
		grep -E "^\[$k\] e2e: FAIL " "$logf" | sed "s/^\[$k\] /e2e: [$rt $k] /" || true
	done
done
echo "e2e: total wall time $(since "$t0")"
[[ ${#bad[@]} -eq 0 ]] || echo "e2e: FAILED on (runtime/kernel): ${bad[*]}" >&2
echo "e2e: $passed passed, $failed failed"
[[ ${#bad[@]} -eq 0 ]]
