#!/bin/sh
# krsi's demo with a real container runtime: containerd 2.4.2 with NRI, runc,
# crictl, and krsi as containerd's NRI plugin; pods ask for profiles with
# annotations, and the kernel stops a containerized attack.
#
# Runs inside krsi's BPF-LSM VM: test/e2e/run.sh --demo (what `make demo` runs)
# boots it with the runtime and images of test/e2e/build.sh. Exits non-zero if
# something did not behave as shown.
#
# The pods use Debian 12's runc (1.1.5), what a node of this kind has; the
# end-to-end suite (e2e.sh) runs the same profiles on runc 1.5.2 as well.
. "${E2E_DIR:-/e2e}/lib.sh" || { echo "demo: cannot read ${E2E_DIR:-/e2e}/lib.sh"; exit 1; }
e2e_enter_root "$0" "$@"

failed=0
bold=$(printf '\033[1m') plain=$(printf '\033[0m')
say() { printf '\n%s%s%s\n' "$bold" "$*" "$plain"; }
note() { printf '  %s\n' "$*"; }
# cmd TEXT: a command as a person would type it.
cmd() { printf '  %s$ %s%s\n' "$bold" "$*" "$plain"; }
# out TEXT: a command's output, without crictl's own log decoration.
out() { printf '%s\n' "$1" | tidy | sed 's/^/    /'; }
# krsi_line MARK PATTERN...: krsi's log line (waits for it), shortened to the
# message and the fields a person reads.
krsi_line() {
	_m=$1
	shift
	wait_log 10 "$KRSI_LOG" "$_m" "$@" || { echo "    (krsi logged nothing matching $*)"; failed=1; return; }
	_l=$(log_line "$KRSI_LOG" "$_m" "$@")
	printf '    %s\n' "${_l%% (*}"
	printf '%s\n' "$_l" | grep -oE '(pod|container|profile|mode|why|comm|path|prot|hook|action|reason)=("[^"]*"|[^ )]*)' |
		tr '\n' ' ' | fold -s -w 90 | sed 's/^/        /'
	echo
}
expect() { # expect ok|denied|failed: judge the last command (RC, OUT)
	case $1 in
	ok) [ "$RC" -eq 0 ] || { note "!! expected success, got status $RC"; failed=1; } ;;
	denied) echo "$OUT" | grep -qi 'operation not permitted' || { note "!! expected EPERM"; failed=1; } ;;
	failed) [ "$RC" -ne 0 ] || { note "!! expected a failure"; failed=1; } ;;
	esac
}
# pod NAME ANNOTATIONS COMMAND_JSON: a pod with container "app", shown as a person
# would make it.
pod() {
	if ! new_pod "$1" "$2"; then failed=1; return 1; fi
	if ! run_ctr app "$3"; then failed=1; return 1; fi
	cmd "crictl runp $1-pod.json"
	printf '    %s\n' "$POD_ID"
	cmd "crictl create $(echo "$POD_ID" | cut -c1-12) app.json $1-pod.json && crictl start ..."
	printf '    %s\n' "$CTR_ID"
}

# --- setup ------------------------------------------------------------------------------
say "krsi demo with a real container runtime — kernel $(uname -r)"
note "active LSMs: $(cat /sys/kernel/security/lsm)"
note "Setting up a node the way Kubernetes has one: containerd 2.4.2 with NRI on,"
note "Debian's runc, and krsi connected to containerd's NRI socket as a plugin. The pods"
note "below are made with crictl from the same CRI requests the kubelet sends."
setup_node
write_app_config_profile
write_containerd_config
if ! start_containerd || ! import_images || ! start_krsi; then
	say "demo: the node did not come up (see above)"
	exit 1
fi
note "($(elapsed) to start containerd, import two images and connect krsi)"
cmd "krsi plugin --config $KRSI_CONF --log-format text &"
grep -E '^krsi: (connected to the runtime|synchronized)' "$KRSI_LOG" | sed 's/^/    /'

# --- 1 --------------------------------------------------------------------------------------
say "1. A pod asks for a profile"
note "Pod 'web' carries the annotation"
note "    profile.krsi.dev/container.app: builtin/wx"
note "builtin/wx is W^X: no memory may be writable and executable, one after the other"
note "or at once. When containerd creates the container, it asks krsi (NRI), and krsi"
note "binds the container's cgroup to the profile before its first instruction runs."
m=$(log_mark "$KRSI_LOG")
pod web '"profile.krsi.dev/container.app": "builtin/wx"' '["/bin/sleep", "3600"]'
WEB=$CTR_ID
note "krsi's decision:"
krsi_line "$m" '^krsi: container confined' 'pod=web[ )]'

# --- 2 --------------------------------------------------------------------------------------
say "2. The attack: inject shellcode into the container's memory"
note "Someone with code execution in 'web' (a bug, a stolen token) writes machine code"
note "into memory, then makes that memory executable — mprotect(RW -> RX), the first"
note "step of a shellcode loader. krsi-probe does exactly that:"
m=$(log_mark "$KRSI_LOG")
cmd "crictl exec $(echo "$WEB" | cut -c1-12) krsi-probe mprotect-rw-rx"
probe "$WEB" mprotect-rw-rx
out "$OUT"
expect denied
note "The kernel refused with EPERM: the code never runs. Nothing was killed: the"
note "process got an error, and the container keeps running ($(ctr_state "$WEB"))."
note "krsi's event for it:"
krsi_line "$m" '^krsi: denied mprotect' 'pod=web[ )]'

# --- 3 --------------------------------------------------------------------------------------
say "3. The same image, without the annotation"
note "Pod 'web-unprotected' runs the same image; nothing selects a profile for it"
note "(this node has no default profile), so krsi leaves it alone:"
m=$(log_mark "$KRSI_LOG")
pod web-unprotected '' '["/bin/sleep", "3600"]'
krsi_line "$m" '^krsi: container runs unconfined' 'pod=web-unprotected[ )]'
cmd "crictl exec $(echo "$CTR_ID" | cut -c1-12) krsi-probe mprotect-rw-rx"
probe "$CTR_ID" mprotect-rw-rx
out "$OUT"
expect ok
note "Here the same attack succeeds: that is what step 2 prevented."

# --- 4 --------------------------------------------------------------------------------------
say "4. Dropping to a shell"
note "Pod 'api' asks for builtin/no-shell: no shells, package managers or downloaders,"
note "and no fileless (memfd) exec. Its own program (/app/sleep) runs; a shell does not,"
note "even though /bin/sh is only a link to busybox, whose ls and cat still run: krsi"
note "decides on busybox's applet, the name the new program's argv gives it."
m=$(log_mark "$KRSI_LOG")
pod api '"profile.krsi.dev/container.app": "builtin/no-shell"' '["/app/sleep", "3600"]'
API=$CTR_ID
cmd "crictl exec $(echo "$API" | cut -c1-12) /bin/sh -c id"
cexec "$API" /bin/sh -c id
out "$OUT"
expect denied
note "krsi's event:"
krsi_line "$m" '^krsi: denied exec of /bin/sh → /bin/busybox applet sh' 'pod=api[ )]'

# --- 5 --------------------------------------------------------------------------------------
say "5. Tampering with the configuration"
note "A node profile file, $PROFILE_DIR/app-config.yaml, lets /etc/app.conf be read"
note "but not written:"
sed -n '/^files:/,$p' "$PROFILE_DIR/app-config.yaml" | sed 's/^/      /'
note "Pod 'shop' selects it with profile.krsi.dev/container.app: localhost/app-config-ro."
m=$(log_mark "$KRSI_LOG")
pod shop '"profile.krsi.dev/container.app": "localhost/app-config-ro"' '["/bin/sleep", "3600"]'
SHOP=$CTR_ID
cmd "crictl exec $(echo "$SHOP" | cut -c1-12) sh -c 'echo evil=1 >> /etc/app.conf'"
cexec "$SHOP" /bin/sh -c 'echo evil=1 >> /etc/app.conf'
out "$OUT"
expect denied
cmd "crictl exec $(echo "$SHOP" | cut -c1-12) cat /etc/app.conf"
cexec "$SHOP" /bin/cat /etc/app.conf
out "$OUT"
expect ok
note "krsi's event:"
krsi_line "$m" '^krsi: denied open of /etc/app.conf' 'pod=shop[ )]'

# --- 6 --------------------------------------------------------------------------------------
say "6. A typo in an annotation is refused, not ignored"
note "Pod 'typo' says profile.krsi.dev/container.app: wx (not builtin/wx). krsi fails"
note "the creation rather than run the container unprotected:"
new_pod typo '"profile.krsi.dev/container.app": "wx"' || failed=1
cmd "crictl create $(echo "$POD_ID" | cut -c1-12) app.json typo-pod.json"
create_ctr app '["/bin/sleep", "3600"]'
RC=$?
OUT=$CREATE_OUT
out "$(echo "$OUT" | grep 'level=' | tail -n 1)"
expect failed
echo "$OUT" | grep -q 'did you mean builtin/wx' || { note "!! krsi's message is missing"; failed=1; }
note "(In Kubernetes this is the pod's CreateContainerError event.)"

if [ $failed -ne 0 ]; then
	say "demo: something did not behave as shown above"
	exit 1
fi
say "demo: a real containerd + runc created every container; the kernel stopped each attack, operation by operation. ($(elapsed))"
