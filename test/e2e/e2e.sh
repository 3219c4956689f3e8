#!/bin/sh
# krsi end to end with a real runtime: containerd 2.4.2 + runc + crictl, krsi as
# an NRI plugin, pods with annotations, the kernel denying what the profile
# forbids. Runs inside krsi's BPF-LSM VM (test/e2e/run.sh boots it with
# test/vm/run.sh --cmd this-file, and the runtime, images, /e2e/lib.sh and scenarios.sh copied
# into the VM's root through KRSI_VM_EXTRA).
#
# Every scenario goes through crictl runp / create / start / exec with CRI
# configs the way the kubelet writes them (annotations, cgroup_parent
# /kubepods/besteffort/pod<uid>, host network), and prints one line:
#
#   e2e: PASS <scenario>      or      e2e: FAIL <scenario>
#
# then, last, "e2e: N passed, M failed". The exit status is 0 only if none
# failed. Scenarios, in order (E2E_ONLY="name ..." runs only those named; the
# setup always runs):
#
#   annotation-wx     pod annotation builtin/wx: mprotect RW->RX is EPERM; the same
#                     image without it succeeds (also on runc 1.5.2)
#   exec-allow-list   exec.allow: the entrypoint runs, crictl exec /bin/sh is EPERM,
#                     on Debian's runc 1.1.5 and on runc 1.5.2; builtin/no-shell on both
#   busybox-applets   builtin/no-shell on a busybox image: ls and cat run; sh, busybox
#                     sh and wget are EPERM, krsi's events name the applet; no profile:
#                     both shells run (the control)
#   file-rules        /etc/app.conf readable, not writable (nor appendable)
#   readonly-root     builtin/readonly-root: the container starts on both runc
#                     versions (the runtime's own writes before the entrypoint are
#                     not judged); writes outside /tmp, /run, /var/tmp, /dev are EPERM
#   image-profile     a profile file selecting localhost/krsi-test:* applies with no
#                     annotation (added while krsi runs: the directory is watched)
#   bad-annotation    builtin/nope: crictl create fails with krsi's message
#   record-policy     record.krsi.dev in a namespace recording.namespaces does not
#                     list: refused with krsi's message; in namespace rec: recorded
#   namespace-policy  team-a may choose builtin/wx and localhost/app-*: builtin/no-shell
#                     is refused with the rule; builtin/wx runs confined
#   binding-image-profile  in team-bind a binding image profile wins over the
#                     annotation; in default the annotation wins
#   plugin-restart    krsi SIGKILLed: enforcement stays; containers created meanwhile
#                     (builtin/wx annotation, and none) are confined by the kernel's
#                     fallback (fail closed); host processes untouched; krsi
#                     restarted: Synchronize moves each to its selected profile and
#                     logs it with how long it ran under the fallback
#   fail-closed-stall krsi SIGSTOPped past containerd's NRI request timeout: that
#                     create is refused (krsi validates); the retry runs under the
#                     fallback; SIGCONT: krsi reconnects and moves it
#   required-plugin   containerd's default validator with required_plugins=[krsi]:
#                     creation fails while krsi is down, works once it is back
#   pre-registered    krsi as /opt/nri/plugins/10-krsi, started by containerd
#   runtime-restart   containerd restarted under a running (external) krsi: krsi
#                     reconnects, reconciles the running container, confines new ones
#
# Only the cgroupfs driver runs here: the VM has no systemd, which runc's systemd
# cgroup driver talks to over D-Bus. test/e2e/crio.sh runs the core scenarios
# under CRI-O.
. "${E2E_DIR:-/e2e}/lib.sh" || { echo "e2e: cannot read ${E2E_DIR:-/e2e}/lib.sh"; exit 1; }
. "$E2E_DIR/scenarios.sh" || { echo "e2e: cannot read $E2E_DIR/scenarios.sh"; exit 1; }
e2e_enter_root "$0" "$@"

RUNTIME_NAME=containerd RUNTIME_LOG=$CONTAINERD_LOG # for the scenario helpers (lib.sh, scenarios.sh)
EXEC_CTR_HANDLER=runc # exec_list_case keeps this handler's container as EXEC_CTR

SLEEP='["/bin/sleep", "3600"]'
WX='"profile.krsi.dev/container.app": "builtin/wx"'

# --- setup ------------------------------------------------------------------------------
echo "e2e: kernel $(uname -r); containerd $(containerd --version | cut -d' ' -f3); runc $(runc --version | sed -n 's/^runc version //p') (Debian, default handler) and ${E2E_RUNC_VERSION:-?} (handler runc-1.5); crictl ${E2E_CRICTL_VERSION:-?}"
setup_ok=1
setup_node
# Node profiles present from the start (the image profile of scenario image-profile
# is added later, to show that the directory is watched).
# An exec allow list: only the application in /app may run.
cat >"$PROFILE_DIR/app-exec.yaml" <<'EOF'
apiVersion: krsi.dev/v1
kind: Profile
name: app-exec
description: only the application in /app may run
exec:
  allow: ["/app/*"]
EOF
write_app_config_profile
write_containerd_config
start_containerd || setup_ok=0
[ $setup_ok = 1 ] && { import_images || setup_ok=0; }
[ $setup_ok = 1 ] && { start_krsi || setup_ok=0; }
if [ $setup_ok = 0 ]; then
	echo "e2e: FAIL setup"
	echo "e2e: 0 passed, 1 failed"
	exit 1
fi
echo "e2e: setup done [$(elapsed)]: containerd up, images imported, krsi connected"
show "krsi log:" "$(grep -E '^krsi: (krsi plugin starting|connected to the runtime|synchronized)' "$KRSI_LOG")"

WX_CTR='' EXEC_CTR=''
# --- (a) annotation builtin/wx ---------------------------------------------------------------
if want annotation-wx; then
	begin annotation-wx "pod annotation $WX: mprotect(RW->RX) gets EPERM; same image without it succeeds"
	if new_pod wx "$WX" && run_ctr app "$SLEEP"; then
		WX_CTR=$CTR_ID
		check "krsi chose builtin/wx from the annotation" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container confined' 'pod=wx[ )]' 'profile=builtin/wx' 'why="annotation profile.krsi.dev/container.app"'
		klog '^krsi: container confined' 'pod=wx[ )]'
		check "the entrypoint runs" running "$WX_CTR"
		check "mprotect RW->RX in the container is denied (EPERM)" probe_says "$WX_CTR" denied mprotect-rw-rx
		check "krsi reported the violation, naming pod and container" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: denied mprotect' 'pod=wx[ )]' 'container=app ' 'profile=builtin/wx'
		klog '^krsi: denied mprotect' 'pod=wx[ )]'
		check "the container lives on" running "$WX_CTR"
	else
		SC_OK=0
	fi
	if app_pod wx-1-5 "$WX" runc-1.5 "$SLEEP"; then
		check "[runc 1.5.2] the entrypoint runs" running "$CTR_ID"
		check "[runc 1.5.2] mprotect RW->RX is denied too" probe_says "$CTR_ID" denied mprotect-rw-rx
		remove_pod "$POD_ID"
	else
		check "[runc 1.5.2] a builtin/wx pod starts" false
	fi
	if new_pod plain && run_ctr app "$SLEEP"; then
		check "without the annotation (no node default) krsi leaves it unconfined" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container runs unconfined' 'pod=plain[ )]'
		check "the same mprotect succeeds" probe_says "$CTR_ID" ok mprotect-rw-rx
		remove_pod "$POD_ID"
	else
		SC_OK=0
	fi
	end
fi

# --- (b) exec allow list -------------------------------------------------------------------
want exec-allow-list && exec_allow_list_scenario
want busybox-applets && busybox_applets_scenario

# --- (c) file rules -------------------------------------------------------------------------
want file-rules && file_rules_scenario
want readonly-root && readonly_root_scenario

# --- (d) per-image profile file ---------------------------------------------------------------
want image-profile && image_profile_scenario

# --- (e) bad annotation ---------------------------------------------------------------------
want bad-annotation && bad_annotation_scenario

# --- who may choose what: the node config's policy (issue 14) ---------------------------------
want record-policy && record_policy_scenario
want namespace-policy && namespace_policy_scenario
want binding-image-profile && binding_image_profile_scenario

# --- (f) plugin killed and restarted ----------------------------------------------------------
if want plugin-restart; then
	begin plugin-restart "krsi SIGKILLed: enforcement stays; a container created meanwhile; krsi restarted: it reconciles"
	if [ -z "$WX_CTR" ]; then
		new_pod wx "$WX" && run_ctr app "$SLEEP" && WX_CTR=$CTR_ID
	fi
	stop_krsi KILL
	check "krsi is gone" no_krsi
	check "the confined container still gets EPERM" probe_says "$WX_CTR" denied mprotect-rw-rx
	if [ -n "$EXEC_CTR" ]; then
		check "the exec allow list still holds" exec_denied "$EXEC_CTR" /bin/sh -c true
	fi
	# NRI fails open: with no plugin connected, containerd creates the container
	# without asking anyone. The kernel closes that: it binds a container cgroup
	# nobody staged, under the marked /kubepods parents, to the fallback profile
	# (builtin/wx: this node has no default profile). docs/failure-modes.md.
	DOWN_CTR= PLAIN_CTR=
	if new_pod whiledown "$WX" && run_ctr app "$SLEEP"; then
		DOWN_CTR=$CTR_ID DOWN_POD=$POD_ID
		check "a builtin/wx container created while krsi is down is created and runs" running "$DOWN_CTR"
		check "... confined by the kernel's fallback: its mprotect RW->RX is denied" probe_says "$DOWN_CTR" denied mprotect-rw-rx
	else
		check "a container can be created while krsi is down" false
	fi
	if new_pod whiledown-plain && run_ctr app "$SLEEP"; then
		PLAIN_CTR=$CTR_ID PLAIN_POD=$POD_ID
		check "a container with no annotation created while krsi is down is confined by the fallback too" \
			probe_says "$PLAIN_CTR" denied mprotect-rw-rx
	else
		check "a second container can be created while krsi is down" false
	fi
	_st=$("$KRSI" status 2>&1)
	show "krsi status (daemon down):" "$(echo "$_st" | grep -E 'fallback since|^FAIL CLOSED')"
	# Four: the two containers and their pods' sandbox (pause) containers,
	# which the fallback confines too while krsi is away.
	fc_status_has() { echo "$_st" | grep "fallback since" | grep -q "/${1:-none}  "; }
	check "krsi status, with the daemon down, lists both as fallback bindings" fc_status_has "$DOWN_CTR"
	check "... (the second one)" fc_status_has "$PLAIN_CTR"
	check "... and their pods' sandboxes: 4 in all" is "$(echo "$_st" | grep -c 'fallback since')" 4
	# The node itself: a process in the root cgroup, and one in a pod-shaped
	# cgroup outside the marked parents.
	fc_host_probe() {
		mkdir -p "$1" || return 1
		OUT=$(sh -c 'echo $$ >"$1/cgroup.procs" && exec /bin/krsi-probe mprotect-rw-rx' sh "$1" 2>&1)
		show "node process in $1:" "$OUT"
		is "$OUT" ok
	}
	check "a node process in the root cgroup is untouched (mprotect works)" fc_host_probe /sys/fs/cgroup
	check "so is one in /host-e2e/pod1/ctr, shaped like a pod but not under a marked parent" \
		fc_host_probe /sys/fs/cgroup/host-e2e/pod1/ctr
	rmdir /sys/fs/cgroup/host-e2e/pod1/ctr /sys/fs/cgroup/host-e2e/pod1 /sys/fs/cgroup/host-e2e 2>/dev/null
	KMARK=$(log_mark "$KRSI_LOG")
	if start_krsi; then
		check "the restarted krsi took over the pins" log_has "$KRSI_LOG" "$KMARK" '^krsi: krsi plugin starting' 'reused_pins=true'
		check "it synchronized with containerd" log_has "$KRSI_LOG" "$KMARK" '^krsi: synchronized with the runtime'
		klog '^krsi: synchronized with the runtime'
		check "it reconciled the running wx container" log_has "$KRSI_LOG" "$KMARK" '^krsi: running container confined' 'pod=wx[ )]' 'profile=builtin/wx'
		check "the wx container is still denied" probe_says "$WX_CTR" denied mprotect-rw-rx
		if [ -n "$DOWN_CTR" ]; then
			check "it logged the builtin/wx container that ran under the fallback, and for how long" \
				log_has "$KRSI_LOG" "$KMARK" '^krsi: container ran under the fallback profile' 'pod=whiledown[ )]' 'for=[0-9.]+(ms|s|m)' 'now=builtin/wx'
			klog '^krsi: container ran under the fallback profile' 'pod=whiledown[ )]'
			check "it moved it to its selected profile" \
				log_has "$KRSI_LOG" "$KMARK" '^krsi: running container confined' 'pod=whiledown[ )]' 'profile=builtin/wx'
			check "... which is denied from now on" probe_says "$DOWN_CTR" denied mprotect-rw-rx
			remove_pod "$DOWN_POD"
		fi
		if [ -n "$PLAIN_CTR" ]; then
			check "it logged the container with no annotation too; its selection is unconfined" \
				log_has "$KRSI_LOG" "$KMARK" '^krsi: container ran under the fallback profile' 'pod=whiledown-plain[ )]' 'now="unconfined'
			klog '^krsi: container ran under the fallback profile' 'pod=whiledown-plain[ )]'
			check "... and released it: its mprotect works now" probe_says "$PLAIN_CTR" ok mprotect-rw-rx
			remove_pod "$PLAIN_POD"
		fi
		_st=$("$KRSI" status 2>&1)
		check "krsi status lists no fallback binding any more" is "$(echo "$_st" | grep -c 'fallback since')" 0
		if new_pod afterrestart "$WX" && run_ctr app "$SLEEP"; then
			check "a new wx container is confined again" probe_says "$CTR_ID" denied mprotect-rw-rx
			remove_pod "$POD_ID"
		else
			SC_OK=0
		fi
	else
		check "krsi restarted" false
	fi
	end
fi

# --- (g) krsi required (NRI default validator) -------------------------------------------------
if want required-plugin; then
	begin required-plugin "containerd with required_plugins=[krsi]: no container is created while krsi is down"
	stop_krsi TERM
	stop_runtime
	write_containerd_config required
	if start_containerd; then
		if new_pod required "$WX"; then
			if create_ctr app "$SLEEP"; then check "crictl create failed while krsi is down" false; else check "crictl create failed while krsi is down" true; fi
			show "crictl create:" "$CREATE_OUT"
			check "the error names krsi as the missing required plugin" contains "$CREATE_OUT" 'required plugin "krsi" not present'
			if start_krsi; then
				if run_ctr app "$SLEEP"; then
					check "with krsi back, the container is created" running "$CTR_ID"
					check "... and confined" probe_says "$CTR_ID" denied mprotect-rw-rx
				else
					check "with krsi back, the container is created" false
				fi
			else
				check "krsi started" false
			fi
			remove_pod "$POD_ID"
		else
			SC_OK=0
		fi
	else
		check "containerd restarted with the validator" false
		start_containerd
	fi
	end
fi

# --- (h) pre-registered plugin -------------------------------------------------------------------
if want pre-registered; then
	begin pre-registered "krsi installed as $PREREG: containerd starts it; it confines"
	stop_krsi TERM
	stop_runtime
	cp "$KRSI" "$PREREG" && chmod 0755 "$PREREG"
	write_containerd_config
	CMARK=$(log_mark "$CONTAINERD_LOG")
	if start_containerd; then
		check "containerd started krsi and synchronized it" \
			wait_log 60 "$CONTAINERD_LOG" "$CMARK" 'pre-installed NRI plugin .*10-krsi.* synchronization success'
		show "containerd log:" "$(log_line "$CONTAINERD_LOG" "$CMARK" 'pre-installed NRI plugin')"
		check "krsi runs as containerd's child" running_cmd "$PREREG"
		if [ -n "$WX_CTR" ]; then
			check "the running wx container is still denied" probe_says "$WX_CTR" denied mprotect-rw-rx
		fi
		if new_pod prereg "$WX" && run_ctr app "$SLEEP"; then
			check "a new builtin/wx container is denied" probe_says "$CTR_ID" denied mprotect-rw-rx
			remove_pod "$POD_ID"
		else
			SC_OK=0
		fi
		if new_pod prereg-bad '"profile.krsi.dev/container.app": "builtin/nope"'; then
			create_ctr app "$SLEEP"
			check "a bad annotation is refused" contains "$CREATE_OUT" 'unknown profile "builtin/nope"'
			remove_pod "$POD_ID"
		fi
	else
		SC_OK=0
	fi
	end
fi

# --- fail closed: krsi stalled past the NRI request timeout -----------------------------------
# Self-contained: starts krsi if an earlier scenario left it stopped. containerd's
# plugin_request_timeout is 15 s in this suite (write_containerd_config); one
# request waits it out.
if want fail-closed-stall; then
	begin fail-closed-stall "krsi SIGSTOPped: containerd times out, drops it; the kernel confines the new container; SIGCONT: krsi moves it"
	if [ -e "$PREREG" ]; then # left by pre-registered: back to an external krsi
		stop_runtime
		rm -f "$PREREG"
		wait_for 20 no_krsi
		write_containerd_config
		start_containerd
	fi
	[ -n "$KRSI_PID" ] || start_krsi
	if [ -n "$KRSI_PID" ] && new_pod stalled "$WX"; then
		STALL_POD=$POD_ID
		kill -STOP "$KRSI_PID"
		_t0=$(date +%s)
		if create_ctr app "$SLEEP"; then
			check "the create whose request timed out in krsi is refused" false
		else
			check "the create whose request timed out in krsi is refused ($(($(date +%s) - _t0)) s)" true
		fi
		show "crictl create:" "$CREATE_OUT"
		check "... by the validation krsi takes part in (its connection is closed by then)" \
			contains "$CREATE_OUT" 'validator plugin'
		check "containerd dropped krsi for the timeout" \
			wait_log 5 "$CONTAINERD_LOG" "$CMARK" 'closing plugin [^ ]*krsi.* failed to handle CreateContainer'
		show "containerd log:" "$(log_line "$CONTAINERD_LOG" "$CMARK" 'closing plugin')"
		# The kubelet retries; krsi is not there any more: NRI creates it without.
		if run_ctr app "$SLEEP"; then
			STALL_CTR=$CTR_ID
			check "the retry is created and runs without krsi" running "$STALL_CTR"
			check "... confined by the kernel's fallback: mprotect RW->RX is denied" probe_says "$STALL_CTR" denied mprotect-rw-rx
		else
			STALL_CTR=
			check "the retry is created" false
		fi
		_m=$(log_mark "$KRSI_LOG")
		kill -CONT "$KRSI_PID"
		check "krsi, continued, reconnects and synchronizes" wait_log 60 "$KRSI_LOG" "$_m" '^krsi: synchronized with the runtime'
		if [ -n "$STALL_CTR" ]; then
			check "it logged the container that ran under the fallback, and for how long" \
				wait_log 10 "$KRSI_LOG" "$_m" '^krsi: container ran under the fallback profile' 'pod=stalled[ )]' 'for=[0-9.]+(ms|s|m)' 'now=builtin/wx'
			klog '^krsi: container ran under the fallback profile' 'pod=stalled[ )]'
			check "it is bound to its selected profile now, and still denied" probe_says "$STALL_CTR" denied mprotect-rw-rx
		fi
		remove_pod "$STALL_POD"
		if new_pod afterstall "$WX" && run_ctr app "$SLEEP"; then
			check "krsi confines new containers itself again" \
				wait_log 10 "$KRSI_LOG" "$_m" '^krsi: container confined' 'pod=afterstall[ )]' 'profile=builtin/wx'
			remove_pod "$POD_ID"
		else
			SC_OK=0
		fi
	else
		check "krsi runs and a pod can be made" false
	fi
	end
fi

# --- (i) runtime restarted under krsi ---------------------------------------------------------
# Self-contained: it makes sure an external krsi runs (an earlier scenario may
# have left krsi pre-registered), then restarts containerd under it.
if want runtime-restart; then
	begin runtime-restart "containerd restarted under a running krsi: krsi reconnects, reconciles, confines"
	if [ -e "$PREREG" ]; then
		stop_runtime
		rm -f "$PREREG"
		write_containerd_config
		start_containerd
	fi
	[ -n "$KRSI_PID" ] || start_krsi
	if new_pod rtrestart "$WX" && run_ctr app "$SLEEP"; then
		RR_CTR=$CTR_ID RR_POD=$POD_ID
		check "before: the container is denied" probe_says "$RR_CTR" denied mprotect-rw-rx
		KMARK=$(log_mark "$KRSI_LOG")
		stop_runtime
		check "krsi saw its connection end" wait_log 20 "$KRSI_LOG" "$KMARK" 'NRI connection ended'
		klog 'NRI connection ended'
		check "krsi keeps running while containerd is down" running_cmd 'krsi plugin'
		sleep 2
		if start_containerd; then
			check "krsi reconnected and synchronized" wait_log 30 "$KRSI_LOG" "$KMARK" '^krsi: synchronized with the runtime'
			klog '^krsi: synchronized with the runtime'
			check "it reconciled the running container" \
				log_has "$KRSI_LOG" "$KMARK" '^krsi: running container confined' 'pod=rtrestart[ )]' 'profile=builtin/wx'
			check "the running container is still denied" probe_says "$RR_CTR" denied mprotect-rw-rx
			if new_pod rtrestart-new "$WX" && run_ctr app "$SLEEP"; then
				check "a container created after the restart is confined" probe_says "$CTR_ID" denied mprotect-rw-rx
				remove_pod "$POD_ID"
			else
				check "a container can be created after the restart" false
			fi
		else
			check "containerd came back" false
		fi
		remove_pod "$RR_POD"
	else
		SC_OK=0
	fi
	end
fi

echo
echo "e2e: cgroup drivers: cgroupfs tested; systemd not (no systemd in the VM, and runc's systemd driver needs it over D-Bus)"
[ "$FAILED" -eq 0 ] || echo "e2e: failed:$FAILED_NAMES"
echo "e2e: done in $(elapsed)"
echo "e2e: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
