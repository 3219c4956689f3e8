#!/bin/sh
# /init of krsi's test VM (busybox ash; copied into the initramfs by run.sh).
#
# The kernel runs it as PID 1 straight from the initramfs (rdinit=/init). It sets up
# what krsi needs from a node (securityfs, bpffs, cgroup2), runs every /tests/*.test
# (or one /krsi-cmd/<name>.sh when the command line has krsi.cmd=<name>), prints
# markers that run.sh reads from the serial console, and powers the VM off.
#
# Markers (one per line, run.sh and humans read them):
#   KRSI-VM-TEST-START <name>
#   KRSI-VM-TEST <name> PASS|FAIL
#   KRSI-VM-RESULT PASS|FAIL          always the last thing before poweroff
#
# No "set -e": if this script died, the kernel would panic and the VM stop without
# a result line, which run.sh reports as a failure anyway, but with less to go on.

/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mnt() { # mnt TYPE DIR: mount a pseudo file system unless something is there already
	mkdir -p "$2"
	# (Debian's busybox-static has no mountpoint applet; /proc is mounted first.)
	grep -qs "^[^ ]* $2 " /proc/mounts || mount -t "$1" "$1" "$2" || echo "vm-init: mount -t $1 $2 failed"
}
mnt proc /proc
mnt sysfs /sys
mnt devtmpfs /dev
mnt securityfs /sys/kernel/security
mnt bpf /sys/fs/bpf
mnt cgroup2 /sys/fs/cgroup
mnt tmpfs /tmp
mnt tmpfs /run

echo # the firmware's last line may still be open ("Booting from ROM...")
echo "vm-init: kernel $(uname -r)"
echo "vm-init: lsm $(cat /sys/kernel/security/lsm 2>&1)"

# What tests find where (KRSI_LDSO comes from the image's env file, written by
# run.sh from the host's ldd output).
# Loopback: tests serve and scrape endpoints (metrics) on 127.0.0.1.
ip link set lo up 2>/dev/null || echo "vm-init: cannot bring up lo"

export KRSI_VM=1 KRSI_BIN=/bin/krsi KRSI_PROBE=/bin/krsi-probe KRSI_DYN_TRUE=/usr/local/dyn/true
export KRSI_BIN_NEXT=/bin/krsi-next KRSI_BIN_NEXT_ABI=/bin/krsi-next-abi
[ -r /etc/krsi-vm.env ] && . /etc/krsi-vm.env
export KRSI_LDSO

# krsi.* words are not kernel parameters; the kernel leaves them in /proc/cmdline.
cmd=
for word in $(cat /proc/cmdline); do
	case $word in
	krsi.cmd=*) cmd=${word#krsi.cmd=} ;;
	krsi.kernel=*) export KRSI_VM_KERNEL="${word#krsi.kernel=}" ;; # for the selftest
	esac
done

result=PASS
# mark NAME RC: the per-test marker. The echo before it ends a line the test may
# have left open (a panic, a crashed binary), so that the marker is a line of its own.
mark() {
	echo
	if [ "$2" -eq 0 ]; then
		echo "KRSI-VM-TEST $1 PASS"
	else
		echo "vm-init: $1 exited with status $2"
		echo "KRSI-VM-TEST $1 FAIL"
		result=FAIL
	fi
}

if [ -n "$cmd" ]; then
	# A hook for benchmarks and demos: run.sh --cmd FILE.sh. Its exit code decides.
	echo "KRSI-VM-TEST-START $cmd"
	if [ -r "/krsi-cmd/$cmd.sh" ]; then
		(cd /tmp && sh "/krsi-cmd/$cmd.sh")
		mark "$cmd" $?
	else
		echo "vm-init: no /krsi-cmd/$cmd.sh in the image"
		mark "$cmd" 127
	fi
else
	ran=0
	for t in /tests/*.test; do
		[ -x "$t" ] || continue
		ran=$((ran + 1))
		name=$(basename "$t" .test)
		# Run from a directory of its own under /tmp; a package's testdata/ is
		# there, as `go test` would have it next to the test.
		mkdir -p "/tmp/$name"
		[ -d "/testdata/$name" ] && cp -a "/testdata/$name" "/tmp/$name/testdata"
		echo "KRSI-VM-TEST-START $name"
		# KRSI_VM_RUN (run.sh): only the tests a developer is working on.
		(cd "/tmp/$name" && "$t" -test.v -test.count=1 -test.timeout 45m ${KRSI_VM_RUN:+-test.run "$KRSI_VM_RUN"})
		mark "$name" $?
	done
	if [ "$ran" -eq 0 ]; then
		echo "vm-init: no test binaries in /tests"
		result=FAIL
	fi
fi

# Kernel complaints are not on the console (quiet); show the ones that matter.
warn=$(dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|kernel panic' | head -n 40)
if [ -n "$warn" ]; then
	echo "vm-init: kernel warnings in dmesg:"
	echo "$warn"
fi

echo
echo "KRSI-VM-RESULT $result"
sync
poweroff -f
# Not reached unless poweroff failed; sysrq 'o' powers off too.
echo o >/proc/sysrq-trigger
sleep 5
