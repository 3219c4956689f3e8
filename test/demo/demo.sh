#!/bin/sh
# krsi's demo: real attacks by a confined process, denied by the kernel.
# Runs inside krsi's BPF-LSM VM (make demo) or on a host with BPF LSM
# (make demo HOST=1). Uses $KRSI_BIN and $KRSI_PROBE (krsi-probe tries one
# operation and prints "ok" or "denied: ... : operation not permitted").
set -u
krsi=${KRSI_BIN:-krsi}
probe=${KRSI_PROBE:-krsi-probe}
failed=0

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
note() { printf '  %s\n' "$*"; }
# show: print a command, run it, and check it ended as expected (ok|denied).
show() {
	want=$1
	shift
	printf '  $ %s\n' "$*"
	out=$("$@" 2>&1)
	status=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	case $want in
	ok) [ $status -eq 0 ] || { echo "  !! expected success, got status $status"; failed=1; } ;;
	denied) echo "$out" | grep -q 'operation not permitted' || { echo "  !! expected EPERM"; failed=1; } ;;
	esac
}

say "krsi demo — kernel $(uname -r), active LSMs: $(cat /sys/kernel/security/lsm)"
note "krsi binds a profile to a cgroup; BPF LSM programs decide each operation"
note "of the processes in it. 'krsi run' makes such a cgroup for one command."

say "1. Shellcode injection: make freshly written memory executable (W^X)"
note "Without krsi the kernel allows it:"
show ok "$probe" mprotect-rw-rx
note "Under builtin/wx, mprotect(RW -> RX) fails with EPERM, and krsi reports it:"
show denied "$krsi" run --profile builtin/wx -- "$probe" mprotect-rw-rx
note "An anonymous RWX mapping, the other classic route, is denied too:"
show denied "$krsi" run --profile builtin/wx -- "$probe" mmap-rwx

say "2. Dropping to a shell (builtin/no-shell)"
note "/bin/sh is a link to busybox; krsi decides on the applet busybox will run (sh)."
show denied "$krsi" run --profile builtin/no-shell -- "$probe" exec /bin/sh -c id
ln -sf /bin/busybox /tmp/not-a-shell
note "Another name with argv[0] sh does not help: the applet is read from the new program's argv:"
show denied "$krsi" run --profile builtin/no-shell -- "$probe" exec-argv0 path /tmp/not-a-shell sh -c id
note "Nor does fileless exec: the program copied into a memfd and run from there:"
show denied "$krsi" run --profile builtin/no-shell -- "$probe" memfd-exec "$probe" open /dev/null r

say "3. Tampering with the image (builtin/readonly-root)"
echo "original" >/krsi-demo-config
note "Writing outside /tmp, /run, /var/tmp and /dev is denied; reading is not:"
show denied "$krsi" run --profile builtin/readonly-root -- "$probe" open /krsi-demo-config w
show ok "$krsi" run --profile builtin/readonly-root -- "$probe" open /krsi-demo-config r
show ok "$krsi" run --profile builtin/readonly-root -- "$probe" open /tmp/scratch c

say "4. Audit mode: try a profile before enforcing it"
note "The same injection is allowed, and reported as 'would deny':"
show ok "$krsi" run --profile builtin/wx --mode audit -- "$probe" mprotect-rw-rx

say "5. The host is untouched: outside a bound cgroup everything is allowed"
show ok "$probe" mprotect-rw-rx
show ok "$probe" open /krsi-demo-config w

rm -f /tmp/not-a-shell /krsi-demo-config /tmp/scratch
if [ $failed -ne 0 ]; then
	say "demo: something did not behave as shown above"
	exit 1
fi
say "demo: every attack above was stopped by the kernel, operation by operation."
