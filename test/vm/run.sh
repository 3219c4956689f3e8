#!/usr/bin/env bash
# Runs krsi's kernel tests inside qemu VMs, one per kernel, because the kernels our
# machines run refuse BPF LSM programs (shared/notes/vm-kernel.md).
#
#   test/vm/run.sh [--arch amd64|arm64] [--kernel 6.1|6.12|all] [--keep] [--cmd FILE.sh]
#
#   --arch A     the VM's architecture (default: $KRSI_VM_ARCH, else amd64). arm64
#                boots Debian's arm64 6.12 kernel under qemu-system-aarch64 -M virt
#                (emulated: slower than amd64) with everything in the image built
#                for arm64 (GOARCH=arm64, arm64's busybox and libc). Not 6.1: arm64
#                kernels before 6.4 cannot attach BPF LSM programs
#   --kernel K   boot only kernel K (default: all, i.e. 6.1 then 6.12; arm64: 6.12)
#   --keep       keep the build folder (binaries, initramfs) and print the qemu
#                command to boot it again by hand
#   --cmd FILE   instead of the tests, run the shell script FILE inside the VM (as
#                /krsi-cmd/<name>.sh, with busybox sh); its exit code decides PASS
#
# Environment:
#   KRSI_CACHE        cache folder (default <repo>/.cache); kernels, builds and logs
#                     go under $KRSI_CACHE/vm
#   KRSI_VM_TIMEOUT   wall-clock limit per boot, in timeout(1) syntax (default 50m: each `krsi run` in the kernel tests
#                     loads and verifies the programs its profile needs, seconds under TCG)
#   KRSI_VM_PACKAGES  space-separated packages to test instead of those listed in
#                     test/vm/packages.txt, e.g. "./test/kernel" while working on it
#   KRSI_VM_RUN       a go test -run pattern for every test binary (no spaces), e.g.
#                     'TestBypassWX|TestCgroupEscape' while working on them
#   KRSI_VM_EXTRA     a folder whose contents are copied into the initramfs root
#                     (merged over it, after everything else), e.g. a container
#                     runtime and images for test/e2e
#   KRSI_VM_MEM       guest memory in qemu -m syntax (default 1024, i.e. MiB)
#   KRSI_VM_ICOUNT    off by default. A number N boots with qemu -icount shift=N,sleep=off
#                     and one vCPU: the guest's clock then counts executed instructions
#                     (2^N ns each) instead of host time, so a busy host no longer shows
#                     in the guest's timings (test/bench uses it). Slower to boot.
#   KRSI_VM_MACHINE_LOCK  the lock file that lets one VM run per machine
#                     (default /tmp/krsi-qemu.lock)
#   KRSI_VM_RUN_DIR   this run's build folder, lock and logs (default
#                     $KRSI_CACHE/vm); downloads stay in $KRSI_CACHE/vm
#   KRSI_VM_ARCH      the default of --arch (so that test/bench and test/e2e, which
#                     call this script, can boot arm64 too)
#
# What it does: install.sh (missing packages, the 6.12 kernel), build static
# binaries (cmd/krsi, test/probe, one `go test -c` binary per package listed in
# test/vm/packages.txt), pack them with busybox into an initramfs whose /init is
# test/vm/init.sh, boot each kernel with it and read the verdict from the serial
# console. The console is shown live, prefixed "[6.1] " / "[6.12] " (arm64:
# "[arm64-6.1] "), and saved to $KRSI_CACHE/vm/<that label>.log. A kernel passes
# only if its VM printed "KRSI-VM-RESULT PASS". A Go test that skips in the VM fails the run: there, a
# skip means a missing kernel feature, which is what this suite exists to catch.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KRSI_CACHE:-$repo/.cache}
vmdir=$cache/vm
# rundir: this run's lock, build folder and logs; the downloads stay in $vmdir.
# test/k8s/run.sh gives its VM one of its own so that it can run beside the
# kernel suite's (make test's two lanes, test/lanes.sh).
rundir=${KRSI_VM_RUN_DIR:-$vmdir}
work=$rundir/build
timeout_after=${KRSI_VM_TIMEOUT:-50m}

log() { echo "vm: $*"; }
warn() { echo "vm: WARNING: $*" >&2; }
die() { echo "vm: ERROR: $*" >&2; exit 1; }

usage() { sed -n '5,41s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

# --- arguments -------------------------------------------------------------------------
kernel_arg=all keep=0 cmd_file= arch=${KRSI_VM_ARCH:-amd64}
while [[ $# -gt 0 ]]; do
	case $1 in
	--arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
	--arch=*) arch=${1#*=}; shift ;;
	--kernel) kernel_arg=${2:?--kernel needs 6.1, 6.12 or all}; shift 2 ;;
	--kernel=*) kernel_arg=${1#*=}; shift ;;
	--keep) keep=1; shift ;;
	--cmd) cmd_file=${2:?--cmd needs a script}; shift 2 ;;
	--cmd=*) cmd_file=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done
case $arch:$kernel_arg in
arm64:all | arm64:6.12) kernels=(6.12) ;;
arm64:6.1)
	# Seen in this VM: every program loads, every attach fails with ENOTSUPP
	# (enforcement.ErrNoTrampoline); arm64 has the ftrace direct calls BPF
	# trampolines need from 6.4 on.
	die "--arch arm64 --kernel 6.1: arm64 kernels before 6.4 cannot attach BPF LSM programs, so krsi cannot run there; use --kernel 6.12" ;;
*:all) kernels=(6.1 6.12) ;;
*:6.1 | *:6.12) kernels=("$kernel_arg") ;;
*) die "--kernel must be 6.1, 6.12 or all, not '$kernel_arg'" ;;
esac
# What differs by architecture. sysroot: where the image's busybox and the
# dynamically linked `true` (with its loader and libraries) come from; cross: the
# prefix of the binutils that assemble the static `true`; label_prefix: names the
# log and prefixes the console lines (amd64 keeps the plain series, as before).
case $arch in
amd64)
	qemu_bin=qemu-system-x86_64 qemu_machine=() qemu_cpu=max console=ttyS0
	triplet=x86_64-linux-gnu sysroot=/ busybox=/bin/busybox dyn_true=/usr/bin/true cross=
	# exit(0): rax 60, rdi 0
	true_asm='.globl _start\n_start:\n\tmov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall\n'
	label_prefix=
	;;
arm64)
	# -M virt: qemu's generic arm64 board (PL011 serial: ttyAMA0); the kernel
	# finds everything from the device tree qemu writes, no firmware needed.
	# pauth-impdef: pointer authentication (Debian's kernel signs its return
	# addresses) with qemu's cheap implementation-defined algorithm instead of
	# emulating QARMA5, much of TCG's time in an arm64 guest; the guest still
	# runs with PAC on, as on Graviton3 and later.
	qemu_bin=qemu-system-aarch64 qemu_machine=(-M virt) qemu_cpu=max,pauth-impdef=on console=ttyAMA0
	triplet=aarch64-linux-gnu sysroot=$vmdir/arm64/userland dyn_true=/bin/true cross=aarch64-linux-gnu-
	busybox=$sysroot/bin/busybox
	# exit(0): x8 93, x0 0
	true_asm='.globl _start\n_start:\n\tmov x8, #93\n\tmov x0, #0\n\tsvc #0\n'
	label_prefix=arm64-
	;;
*) die "--arch must be amd64 or arm64, not '$arch'" ;;
esac
cmd_name=
vm_mem=${KRSI_VM_MEM:-1024}
[[ $vm_mem =~ ^[0-9]+[MG]?$ ]] || die "KRSI_VM_MEM must be a size such as 1024, 2048M or 2G, not '$vm_mem'"
icount=${KRSI_VM_ICOUNT:-}
[[ -z $icount || $icount =~ ^([0-9]|10)$ ]] || die "KRSI_VM_ICOUNT must be empty (off) or a shift from 0 to 10, not '$icount'"
extra=${KRSI_VM_EXTRA:-}
if [[ -n $extra ]]; then
	[[ -d $extra ]] || die "KRSI_VM_EXTRA: $extra is not a folder"
	extra=$(cd "$extra" && pwd) # run.sh cds into the repository below
fi
if [[ -n $cmd_file ]]; then
	[[ -r $cmd_file ]] || die "--cmd: cannot read $cmd_file"
	cmd_name=$(basename "$cmd_file" .sh)
	# The name travels on the kernel command line, so keep it to one plain word.
	[[ $cmd_name =~ ^[A-Za-z0-9_.-]+$ ]] || die "--cmd: script name '$cmd_name' must match [A-Za-z0-9_.-]+"
fi

mkdir -p "$vmdir" "$rundir"
# Several engineers share one tree: two runs at once would build into the same
# folder and overwrite each other's initramfs. Take turns.
exec 9>"$rundir/.lock"
if ! flock -n 9; then
	log "another run.sh is using $rundir; waiting for it"
	flock 9
fi

# --- 1. what the VM needs on the host ---------------------------------------------------
# Downloads are shared by every run folder: one install at a time.
flock "$vmdir/.install.lock" bash "$here/install.sh" --arch "$arch" "${kernels[@]}" # bash: works even if the exec bit got lost
command -v go >/dev/null || die "go is not on PATH"

newest() { # the newest of the files named by a glob, or "" (no error) if none exists
	local f
	for f in "$@"; do if [[ -e $f ]]; then echo "$f"; fi; done | sort -V | tail -n1
}
kernel_dir() { # where install.sh put a kernel series: its boot/ and lib/modules/
	case $arch:$1 in
	amd64:6.1) echo / ;; # linux-image-amd64, installed
	amd64:*) echo "$vmdir/kernel-$1" ;;
	*) echo "$vmdir/$arch/kernel-$1" ;;
	esac
}
kernel_image() { # the vmlinuz to boot for a kernel series (as install.sh found it)
	newest "$(kernel_dir "$1")"/boot/vmlinuz-"$1".*
}

# --- 2. static binaries -------------------------------------------------------------------
log "building into $work"
rm -rf "$work"
mkdir -p "$work/bin" "$work/tests" "$work/root"
cd "$repo"
# Static (no cgo): the initramfs has no libc for them. GOARCH: the VM's.
export CGO_ENABLED=0 GOARCH=$arch

if compgen -G "cmd/krsi/*.go" >/dev/null; then
	log "go build ./cmd/krsi"
	go build -trimpath -o "$work/bin/krsi" ./cmd/krsi
	# The upgrade tests (test/kernel/upgrade_test.go) replace one krsi's pinned
	# set with another's: krsi-next has another BPF object, krsi-next-abi also
	# another map layout (enforcement/gen.go, enforcement/testlayout.go).
	log "go build ./cmd/krsi (upgrade test builds: krsi-next, krsi-next-abi)"
	go build -trimpath -tags krsi_upgrade_test -o "$work/bin/krsi-next" ./cmd/krsi
	go build -trimpath -tags krsi_upgrade_test,krsi_upgrade_test_abi -o "$work/bin/krsi-next-abi" ./cmd/krsi
else
	warn "./cmd/krsi has no Go files yet; the image has no /bin/krsi"
fi
log "go build ./test/probe"
go build -o "$work/bin/krsi-probe" ./test/probe

# One `go test -c` binary per listed package. A package that does not exist yet, or
# has no tests yet, is skipped with a warning (others are writing them); one that
# does not compile fails the run.
built=0
testdata_pkgs=()
while read -r pkg; do
	pkg=${pkg%%#*}                # comments
	pkg=${pkg//[[:space:]]/}      # blanks
	[[ -n $pkg ]] || continue
	name=${pkg#./}
	name=${name//\//-}            # ./test/kernel -> test-kernel
	if [[ ! -d $pkg ]] || ! compgen -G "$pkg/*.go" >/dev/null; then
		warn "package $pkg does not exist yet; skipped"
		continue
	fi
	log "go test -c $pkg -> tests/$name.test"
	go test -c -o "$work/tests/$name.test" "$pkg"
	if [[ ! -f $work/tests/$name.test ]]; then
		warn "package $pkg has no tests yet; skipped"
		continue
	fi
	built=$((built + 1))
	if [[ -d $pkg/testdata ]]; then testdata_pkgs+=("$pkg:$name"); fi
done < <(if [[ -n ${KRSI_VM_PACKAGES:-} ]]; then tr ' ' '\n' <<<"$KRSI_VM_PACKAGES"; else cat "$here/packages.txt"; fi)
[[ $built -gt 0 ]] || die "none of the packages ${KRSI_VM_PACKAGES:-in test/vm/packages.txt} has tests to run"

# --- 3. the initramfs ---------------------------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,tests,testdata,krsi-cmd,usr/bin,usr/local/dyn}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh" # for init's "#!/bin/sh"; the other applets are linked at boot
install -m 0755 "$here/init.sh" "$root/init"
cp "$work"/bin/* "$root/bin/"
cp "$work"/tests/*.test "$root/tests/"
for pt in "${testdata_pkgs[@]+"${testdata_pkgs[@]}"}"; do
	cp -a "${pt%%:*}/testdata" "$root/testdata/${pt#*:}"
done

# A dynamically linked program with its loader and the libraries it needs, at the
# paths they have in the sysroot (this machine for amd64, arm64's unpacked libc6
# and coreutils for arm64), so that both "/usr/local/dyn/true" and
# "<ld.so> /usr/local/dyn/true" work in the VM (the "ld.so ./binary" exec-rule
# bypass test needs both).
cp "${sysroot%/}$dyn_true" "$root/usr/local/dyn/true"
ldso=$(bash "$here/elfdeps.sh" "$sysroot" "$triplet" "$dyn_true" "$root")
printf 'KRSI_LDSO=%s\n' "$ldso" >"$root/etc/krsi-vm.env"
if [[ -n ${KRSI_VM_RUN:-} ]]; then
	[[ $KRSI_VM_RUN =~ ^[^[:space:]\'\"]+$ ]] || die "KRSI_VM_RUN must be a -run pattern without spaces or quotes, not '$KRSI_VM_RUN'"
	printf "KRSI_VM_RUN='%s'\n" "$KRSI_VM_RUN" >>"$root/etc/krsi-vm.env"
fi

# A static `true` that is nothing but exit(0): exec's own cost and its hooks
# (bprm_check_security, mmap_file of the program), with no loader, no libc.
mkdir -p "$root/usr/local/static"
printf "$true_asm" >"$work/true.S"
"${cross}as" -o "$work/true.o" "$work/true.S"
"${cross}ld" -static -o "$root/usr/local/static/true" "$work/true.o"

# overlayfs is a module in Debian's kernels, and a container's root is an overlay
# mount: each kernel's module goes in as /lib/modules/<release>/overlay.ko,
# uncompressed for busybox and finit_module (kerneltest.Overlay loads it).
for k in "${kernels[@]}"; do
	img=$(kernel_image "$k")
	rel=${img##*/vmlinuz-}
	mods=$(kernel_dir "$k")
	mods=${mods%/}/lib/modules/$rel
	ko=$(find "$mods/kernel/fs/overlayfs" -name 'overlay.ko*' 2>/dev/null | head -n 1)
	[[ -n $ko ]] || die "no overlay module for $k under $mods/kernel/fs/overlayfs (is the linux-image package whole?)"
	mkdir -p "$root/lib/modules/$rel"
	case $ko in
	*.xz) xz -dc "$ko" ;;
	*.zst) zstd -dc "$ko" ;;
	*) cat "$ko" ;;
	esac >"$root/lib/modules/$rel/overlay.ko"
done

if [[ -n $cmd_file ]]; then
	cp "$cmd_file" "$root/krsi-cmd/$cmd_name.sh"
fi
if [[ -n $extra ]]; then
	# Merged over the root: its files win, its folders are added to.
	log "adding $extra ($(du -sh "$extra" | cut -f1)) to the initramfs"
	cp -a "$extra/." "$root/"
fi

initrd=$work/initrd.gz
# newc is the format the kernel unpacks; -R 0:0 so every file is root's in the VM.
(cd "$root" && find . -print0 | cpio --null --create --format=newc --owner=0:0 --quiet) | gzip -1 >"$initrd"
log "initramfs $initrd ($(du -h "$initrd" | cut -f1)): $(cd "$root/tests" && echo *.test)${cmd_name:+, /krsi-cmd/$cmd_name.sh}"

# --- 4. boot each kernel ------------------------------------------------------------------
# The verified line (notes/vm-kernel.md): TCG, because nested KVM hangs on these
# machines. panic=-1 + -no-reboot: a dead /init or a kernel panic ends qemu at once
# instead of hanging until the timeout.
# Single-threaded TCG (the two vCPUs take turns on one host thread): multi-threaded
# TCG has failed while the guest kernel rewrote its own code under a running vCPU
# (a panic 2.5 s into a CI boot; once, both vCPUs stuck for minutes in `krsi run`
# attaching programs, which patches the kernel's text), and the guest keeps about one
# host core busy anyway (measured: qemu at 80-113 % of a core through the suite).
# The guest still has two CPUs, so its kernel and krsi run concurrently as on a node.
qemu_cmd() { # qemu_cmd KERNEL_SERIES VMLINUZ: prints nothing, sets the array qemu
	# loglevel=5 keeps boot quiet but prints warnings, e.g. the stacks of a soft
	# lockup; softlockup_panic turns a hung CPU into a panic (a result, at once)
	# instead of a silent wait for the timeout.
	local append="console=$console quiet loglevel=5 softlockup_panic=1 softlockup_all_cpu_backtrace=1 panic=-1 rdinit=/init krsi.kernel=$1${cmd_name:+ krsi.cmd=$cmd_name}"
	qemu=("$qemu_bin" "${qemu_machine[@]}" -accel tcg,thread=single -cpu "$qemu_cpu" -smp 2 -m "$vm_mem" -nographic
		-no-reboot -kernel "$2" -initrd "$initrd" -append "$append")
	if [[ -n $icount ]]; then
		# icount needs single-threaded TCG. With two vCPUs qemu would run them in
		# turn on one clock, so a benchmark's time would include the other vCPU's
		# work: one vCPU. sleep=off: an idle guest jumps to its next timer instead
		# of waiting for the host, so no host time leaks into the guest's clock.
		qemu=("$qemu_bin" "${qemu_machine[@]}" -accel tcg,thread=single -icount "shift=$icount,sleep=off"
			-cpu "$qemu_cpu" -smp 1 -m "$vm_mem" -nographic -no-reboot
			-kernel "$2" -initrd "$initrd" -append "$append")
	fi
}

# Two TCG guests on a 2-core machine each run at half speed and time-sensitive tests
# (floods, benchmarks) measure the other guest: one VM at a time per machine,
# whichever tree or cache it comes from.
exec 8>"${KRSI_VM_MACHINE_LOCK:-/tmp/krsi-qemu.lock}"
if ! flock -n 8; then
	log "another krsi VM is running on this machine; waiting for it"
	flock 8
fi

declare -A status secs npass nfail nskip
total_pass=0 total_fail=0 total_skip=0 failed_kernels=()
for k in "${kernels[@]}"; do
	vmlinuz=$(kernel_image "$k")
	[[ -n $vmlinuz ]] || die "no kernel image for $k (did install.sh fail?)"
	logf=$rundir/$label_prefix$k.log
	qemu_cmd "$k" "$vmlinuz"
	log "booting $label_prefix$k: $vmlinuz (timeout $timeout_after, log $logf${icount:+, icount shift=$icount})"
	start=$(date +%s.%N)
	# stdin from /dev/null: qemu -nographic would otherwise put the terminal in raw
	# mode and take Ctrl-C for the guest. The filters drop the serial console's CRs
	# and any escape sequences firmware sends (they can switch off line wrapping in
	# the user's terminal) and trailing blanks, save the clean text, and prefix what
	# is shown.
	# pipefail is off for the pipeline so that PIPESTATUS[0] is qemu's own status.
	# A kernel that panics before our /init says a word ran none of our code: that is
	# TCG, not krsi (seen on CI: a multi-threaded TCG fault while the kernel patched
	# its own text at 2.5 s). Such a boot is retried, twice at most, and said so;
	# a panic after /init started is a result and is never retried.
	for attempt in 1 2 3; do
		set +e +o pipefail
		timeout --kill-after=10s "$timeout_after" "${qemu[@]}" </dev/null 2>&1 |
			sed -u -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[c78]//g' -e 's/[[:space:]]*$//' |
			tee "$logf" | sed -u "s/^/[$label_prefix$k] /"
		rc=${PIPESTATUS[0]}
		set -e -o pipefail
		if [[ $attempt -lt 3 ]] && ! grep -q '^vm-init: ' "$logf" && grep -q 'Kernel panic' "$logf"; then
			cp "$logf" "$logf.panic$attempt"
			warn "$label_prefix$k: the kernel panicked while booting, before /init ran (an emulator fault, not a test result; log $logf.panic$attempt); booting again"
			continue
		fi
		break
	done
	secs[$k]=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

	# Top-level results only: subtests are indented and belong to their parent.
	npass[$k]=$(grep -c '^--- PASS: ' "$logf" || true)
	nfail[$k]=$(grep -c '^--- FAIL: ' "$logf" || true)
	nskip[$k]=$(grep -c '^--- SKIP: ' "$logf" || true)
	total_pass=$((total_pass + npass[$k]))
	total_fail=$((total_fail + nfail[$k]))
	total_skip=$((total_skip + nskip[$k]))

	why=
	if [[ $rc -eq 124 || $rc -eq 137 ]]; then
		why="timed out after $timeout_after"
	elif ! grep -qx 'KRSI-VM-RESULT PASS' "$logf"; then
		if grep -qx 'KRSI-VM-RESULT FAIL' "$logf"; then
			why="tests failed: $(sed -n 's/^KRSI-VM-TEST \(.*\) FAIL$/\1/p' "$logf" | paste -sd' ')"
		else
			why="the VM stopped without a result (qemu exit $rc; kernel panic or /init died?)"
		fi
	elif [[ ${nskip[$k]} -gt 0 ]]; then
		why="${nskip[$k]} test(s) skipped inside the VM; there a skip is a missing feature"
	fi
	# Subtests may skip for good reasons (a table row that does not apply), so they
	# only get a warning; a top-level skip fails the run (above).
	grep '^ \+--- SKIP: ' "$logf" | while read -r line; do
		warn "$label_prefix$k: subtest skipped: ${line#--- SKIP: }"
	done || true
	# A test binary that printed no result line ran no test: say so, it is a
	# filter or build mistake more often than not.
	if [[ -z $cmd_name ]]; then
		awk '/^KRSI-VM-TEST-START /{n=$2; c=0} /^--- (PASS|FAIL|SKIP): /{c++}
			/^KRSI-VM-TEST /{if (c == 0) print n}' "$logf" | while read -r empty; do
			warn "$label_prefix$k: $empty ran no test"
		done
	fi
	if [[ -z $why ]]; then
		status[$k]=PASS
		log "$label_prefix$k PASS in ${secs[$k]}s"
	else
		status[$k]=FAIL
		failed_kernels+=("$label_prefix$k")
		echo "vm: FAIL: kernel $label_prefix$k: $why; full log: $logf" >&2
	fi
done

# --- 5. summary -----------------------------------------------------------------------------
if [[ $keep -eq 1 ]]; then
	log "kept $work; boot it again with:"
	for k in "${kernels[@]}"; do
		qemu_cmd "$k" "$(kernel_image "$k")"
		line=
		for a in "${qemu[@]}"; do [[ $a == *" "* ]] && a="\"$a\""; line+=" $a"; done
		echo " $line"
	done
else
	rm -rf "$work"
fi
if [[ -n $cmd_name ]]; then
	# A --cmd run (the demo, a benchmark) runs a script, not tests: no counts.
	for k in "${kernels[@]}"; do log "$label_prefix$k: $cmd_name ${status[$k]} (${secs[$k]}s); log $rundir/$label_prefix$k.log"; done
	[[ ${#failed_kernels[@]} -eq 0 ]]
	exit
fi
log "summary:"
for k in "${kernels[@]}"; do
	log "$label_prefix$k ${status[$k]} (${secs[$k]}s): ${npass[$k]} passed, ${nfail[$k]} failed, ${nskip[$k]} skipped; log $rundir/$label_prefix$k.log"
done
if [[ $total_skip -gt 0 ]]; then
	echo "vm: skipped tests (each one fails the run):" >&2
	for k in "${kernels[@]}"; do
		grep '^--- SKIP: ' "$rundir/$label_prefix$k.log" | sed "s/^/vm:   [$label_prefix$k] /" >&2 || true
	done
fi
if [[ ${#failed_kernels[@]} -gt 0 ]]; then
	echo "vm: FAILED on kernel(s): ${failed_kernels[*]}" >&2
fi
# The last line is the plain count CI reads.
if [[ $total_skip -gt 0 ]]; then
	echo "vm: $total_pass passed, $total_fail failed, $total_skip skipped"
else
	echo "vm: $total_pass passed, $total_fail failed"
fi
[[ ${#failed_kernels[@]} -eq 0 ]]
