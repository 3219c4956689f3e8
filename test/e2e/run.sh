#!/usr/bin/env bash
# krsi's end-to-end suite with real runtimes, in the BPF-LSM VM: containerd
# 2.4.2 (test/e2e/e2e.sh) and CRI-O 1.34 (test/e2e/crio.sh), each with runc and
# crictl 1.37. Builds what it needs (test/e2e/build.sh, test/e2e/build-crio.sh),
# then boots the VM (test/vm/run.sh) once per kernel and runtime, with that
# runtime and the images in its root and its scenario script as the command.
#
#   test/e2e/run.sh [--arch amd64|arm64] [--kernel 6.1|6.12|all] [--runtime containerd|crio|all] [--keep] [--demo]
#                                                    (default: --kernel 6.1 --runtime all)
#
#   --demo   run test/e2e/demo.sh (the step-by-step demo for people, containerd)
#            instead of the scenarios; exits non-zero if the demo did not behave as shown
#   --arch A the VM's architecture (default: $KRSI_VM_ARCH, else amd64). arm64: everything
#            built for arm64 (test/e2e/build.sh --arch arm64) in the emulated arm64 VM
#            (test/vm/run.sh --arch arm64); containerd on kernel 6.12 only (the
#            defaults there), and by default a smoke subset, one pod per rule kind:
#            E2E_ONLY="annotation-wx exec-allow-list file-rules bad-annotation"
#            (E2E_ONLY= for every scenario). Measured on 2 shared cores: 4.5 min
#            with the tools built (3.2 min of it in the VM; all 15 scenarios: 9 min),
#            plus ~8 min once to cross-build containerd, crictl and runc for arm64
#
# Prints each scenario's "e2e: PASS|FAIL <name>" line as the VM runs, a line per
# runtime and kernel, and last "e2e: N passed, M failed" over all VMs booted;
# exits non-zero if a scenario failed or a VM gave no result.
#
# Environment: KRSI_CACHE (cache, default <repo>/.cache; tools in $KRSI_CACHE/e2e,
# the VM's console in $KRSI_CACHE/e2e/<kernel>.log for containerd,
# crio-<kernel>.log for CRI-O and arm64-<kernel>.log on arm64), KRSI_VM_TIMEOUT (per boot, default 50m: test/vm/run.sh's),
# E2E_ONLY ("annotation-wx plugin-restart ...": run only these scenarios, in
# whichever runtime has them), KRSI_VM_MEM (guest memory, default 2048 here).
# A fresh machine spends ~3 min building containerd and crictl and ~2.5 min
# building CRI-O, once; after that a run is about a minute of VM time per
# kernel and runtime.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KRSI_CACHE:-$repo/.cache}

kernel= runtime= keep=() demo=0 arch=${KRSI_VM_ARCH:-amd64}
while [[ $# -gt 0 ]]; do
	case $1 in
	--demo) demo=1; shift ;;
	--arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
	--arch=*) arch=${1#*=}; shift ;;
	--runtime) runtime=${2:?--runtime needs containerd, crio or all}; shift 2 ;;
	--runtime=*) runtime=${1#*=}; shift ;;
	--kernel) kernel=${2:?--kernel needs 6.1, 6.12 or all}; shift 2 ;;
	--kernel=*) kernel=${1#*=}; shift ;;
	--keep) keep=(--keep); shift ;;
	-h | --help) sed -n '2,33s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) echo "e2e: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
# vm_label: how test/vm/run.sh prefixes the VM's console lines ("[arm64-6.12] ").
case $arch in
amd64) kernel=${kernel:-6.1} runtime=${runtime:-all} vm_label= ;;
arm64)
	kernel=${kernel:-6.12} runtime=${runtime:-containerd} vm_label=arm64-
	[[ $kernel != all ]] || kernel=6.12
	if [[ $kernel == 6.1 ]]; then
		echo "e2e: --arch arm64 --kernel 6.1: arm64 kernels before 6.4 cannot attach BPF LSM programs, so krsi cannot run there (test/vm/run.sh); use --kernel 6.12" >&2
		exit 2
	fi
	if [[ $runtime != containerd ]]; then
		echo "e2e: --arch arm64 --runtime $runtime: CRI-O is not supported on arm64 yet (test/e2e/build-crio.sh builds it for amd64 only); use --runtime containerd" >&2
		exit 2
	fi
	# Emulated arm64 runs several times slower than the amd64 VM: a smoke subset,
	# one pod per rule kind (W^X with its unconfined control, the exec allow
	# list, file rules, a refused annotation). E2E_ONLY set, even empty, wins.
	E2E_ONLY=${E2E_ONLY-annotation-wx exec-allow-list file-rules bad-annotation}
	;;
*) echo "e2e: --arch must be amd64 or arm64, not '$arch'" >&2; exit 2 ;;
esac
case $kernel in 6.1 | 6.12) kernels=("$kernel") ;; all) kernels=(6.1 6.12) ;;
*) echo "e2e: --kernel must be 6.1, 6.12 or all" >&2; exit 2 ;; esac
case $runtime in containerd | crio) runtimes=("$runtime") ;; all) runtimes=(containerd crio) ;;
*) echo "e2e: --runtime must be containerd, crio or all" >&2; exit 2 ;; esac
[[ $demo -eq 1 ]] && runtimes=(containerd)

t0=$(date +%s.%N)
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0fs", e - s }'; }

overlay=$(bash "$here/build.sh" --arch "$arch" | tee -a /dev/stderr | tail -n 1) # -a: never truncate a log file behind stderr
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
			bash "$repo/test/vm/run.sh" --arch "$arch" --kernel "$k" "${keep[@]+"${keep[@]}"}" --cmd "$here/demo.sh" || rc=$?
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
		lbl=$vm_label$k
		logf=$cache/e2e/$prefix$lbl.log
		set +e +o pipefail
		KRSI_VM_EXTRA=$extra KRSI_VM_MEM=${KRSI_VM_MEM:-2048} KRSI_VM_PACKAGES=./test/vm/selftest \
			bash "$repo/test/vm/run.sh" --arch "$arch" --kernel "$k" "${keep[@]+"${keep[@]}"}" --cmd "$script" 2>&1 | tee "$logf"
		rc=${PIPESTATUS[0]}
		set -e -o pipefail
		line=$(sed -n "s/^\[$lbl\] \(e2e: [0-9]* passed, [0-9]* failed\)$/\1/p" "$logf" | tail -n 1)
		if [[ -z $line ]]; then
			echo "e2e: $rt, kernel $lbl: the VM gave no e2e result (see $logf)" >&2
			bad+=("$rt/$lbl")
			failed=$((failed + 1))
			continue
		fi
		p=$(awk '{print $2}' <<<"$line")
		f=$(awk '{print $4}' <<<"$line")
		passed=$((passed + p))
		failed=$((failed + f))
		[[ $rc -eq 0 && $f -eq 0 ]] || bad+=("$rt/$lbl")
		echo "e2e: $rt, kernel $lbl: $p passed, $f failed in $(since "$tk") (log $logf)"
		grep -E "^\[$lbl\] e2e: FAIL " "$logf" | sed "s/^\[$lbl\] /e2e: [$rt $lbl] /" || true
	done
done
echo "e2e: total wall time $(since "$t0")"
[[ ${#bad[@]} -eq 0 ]] || echo "e2e: FAILED on (runtime/kernel): ${bad[*]}" >&2
echo "e2e: $passed passed, $failed failed"
[[ ${#bad[@]} -eq 0 ]]
