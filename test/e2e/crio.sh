#!/bin/sh
# krsi end to end with CRI-O: CRI-O 1.34 + conmon + runc + crictl, krsi as an
# NRI plugin, pods with annotations, the kernel denying what the profile
# forbids. The CRI-O twin of test/e2e/e2e.sh (containerd): runs inside krsi's
# BPF-LSM VM (test/e2e/run.sh --runtime crio boots it with test/vm/run.sh --cmd
# this-file, and CRI-O, the images, /e2e/lib.sh and /e2e/scenarios.sh copied into the VM's root
# through KRSI_VM_EXTRA; test/e2e/build-crio.sh makes that folder).
#
# Every scenario goes through crictl runp / create / start / exec with CRI
# configs the way the kubelet writes them (annotations, the container labels
# io.kubernetes.container.name and io.kubernetes.pod.*, cgroup_parent
# /kubepods/besteffort/pod<uid>, host network), and prints one line:
#
#   e2e: PASS <scenario>      or      e2e: FAIL <scenario>
#
# then, last, "e2e: N passed, M failed". The exit status is 0 only if none
# failed. Scenarios, in order (E2E_ONLY="name ..." runs only those named; the
# setup always runs):
#
#   annotation-wx     pod annotation builtin/wx: mprotect RW->RX is EPERM; the same
#                     image without it succeeds; a second container of the pod that
#                     the annotation does not name is unconfined, although CRI-O
#                     copies the pod's annotations into every container (also on runc 1.5.2)
#   container-name    a container created without the kubelet's labels: CRI-O gives
#                     NRI no name for it; krsi takes it from CRI-O's metadata annotation
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
#   record-policy, namespace-policy, binding-image-profile: who may choose what,
#                     as in e2e.sh (scenarios.sh)
#   plugin-restart    krsi SIGKILLed: enforcement stays; a container created meanwhile
#                     gets the kernel's fallback profile (NRI fails open, krsi's
#                     pinned cgroup_mkdir does not); krsi restarted: it moves that
#                     container to its own profile and says how long it ran under
#                     the fallback
#   pre-registered    krsi as /opt/nri/plugins/10-krsi, started by CRI-O
#
# Not here, because CRI-O 1.34 cannot: krsi as a required plugin (its NRI has no
# validator; deploy/crio/10-krsi-nri.conf). Only the cgroupfs driver runs: the VM
# has no systemd.
. "${E2E_DIR:-/e2e}/lib.sh" || { echo "e2e: cannot read ${E2E_DIR:-/e2e}/lib.sh"; exit 1; }
. "$E2E_DIR/scenarios.sh" || { echo "e2e: cannot read $E2E_DIR/scenarios.sh"; exit 1; }
e2e_enter_root "$0" "$@"
# E2E_CRIO_VERSION, E2E_CONMON_VERSION (build-crio.sh).
[ -r "$E2E_DIR/crio-versions" ] && . "$E2E_DIR/crio-versions"
export CONTAINER_RUNTIME_ENDPOINT=unix://$CRIO_SOCK
export IMAGE_SERVICE_ENDPOINT=unix://$CRIO_SOCK

RUNTIME_NAME=crio RUNTIME_LOG=$CRIO_LOG # for the scenario helpers (lib.sh, scenarios.sh)
EXEC_CTR_HANDLER=runc-1.5 # exec_list_case keeps this handler's container as EXEC_CTR

SLEEP='["/bin/sleep", "3600"]'
WX='"profile.krsi.dev/container.app": "builtin/wx"'

# --- setup ------------------------------------------------------------------------------
echo "e2e: kernel $(uname -r); CRI-O $(crio --version 2>/dev/null | sed -n 's/^crio version //p'); conmon ${E2E_CONMON_VERSION:-?}; runc $(runc --version | sed -n 's/^runc version //p') (Debian, default handler) and ${E2E_RUNC_VERSION:-?} (handler runc-1.5); crictl ${E2E_CRICTL_VERSION:-?}"
setup_ok=1
setup_node
# crictl talks to CRI-O (setup_node wrote containerd's socket).
cat >/etc/crictl.yaml <<EOF
runtime-endpoint: unix://$CRIO_SOCK
image-endpoint: unix://$CRIO_SOCK
timeout: 60
pull-image-on-create: false
EOF
# The node profiles of e2e.sh: an exec allow list, the same with room for
# runc 1.1's start-up (e2e.sh explains each entry), the app-config-ro file rules.
cat >"$PROFILE_DIR/app-exec.yaml" <<'EOF'
apiVersion: krsi.dev/v1
kind: Profile
name: app-exec
description: only the application in /app may run
exec:
  allow: ["/app/*"]
EOF
write_app_config_profile
write_crio_config
_t0=$(date +%s)
import_images_crio || setup_ok=0
echo "e2e: images copied into containers-storage in $(($(date +%s) - _t0))s"
[ $setup_ok = 1 ] && { start_crio || setup_ok=0; }
[ $setup_ok = 1 ] && { crictl images | grep -q 'localhost/krsi-test' || { echo "e2e: images not visible to the CRI:"; crictl images; setup_ok=0; }; }
[ $setup_ok = 1 ] && { start_krsi || setup_ok=0; }
if [ $setup_ok = 0 ]; then
	echo "e2e: FAIL setup"
	echo "e2e: 0 passed, 1 failed"
	exit 1
fi
echo "e2e: setup done [$(elapsed)]: crio up, images copied, krsi connected"
show "krsi log:" "$(grep -E '^krsi: (krsi plugin starting|connected to the runtime|synchronized)' "$KRSI_LOG")"

WX_CTR='' EXEC_CTR=''
# --- (a) annotation builtin/wx ---------------------------------------------------------------
if want annotation-wx; then
	begin annotation-wx "pod annotation $WX: mprotect(RW->RX) gets EPERM; same image without it succeeds"
	if new_app_pod wx "$WX" && run_kube_ctr app "$SLEEP"; then
		WX_CTR=$CTR_ID
		check "krsi chose builtin/wx from the annotation" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container confined' 'pod=wx[ )]' 'container=app ' 'profile=builtin/wx' 'why="annotation profile.krsi.dev/container.app"'
		klog '^krsi: container confined' 'pod=wx[ )]'
		check "the entrypoint runs" running "$WX_CTR"
		check "mprotect RW->RX in the container is denied (EPERM)" probe_says "$WX_CTR" denied mprotect-rw-rx
		check "krsi reported the violation, naming pod and container (from the label)" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: denied mprotect' 'pod=wx[ )]' 'container=app ' 'profile=builtin/wx'
		klog '^krsi: denied mprotect' 'pod=wx[ )]'
		check "the container lives on" running "$WX_CTR"
		# CRI-O copies the pod's annotations into the container's: the copy of
		# profile.krsi.dev/container.app must still only select container app.
		if run_kube_ctr side "$SLEEP"; then
			check "a second container of the pod, which the annotation does not name, is unconfined" \
				wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container runs unconfined' 'pod=wx[ )]' 'container=side '
			check "... its mprotect succeeds" probe_says "$CTR_ID" ok mprotect-rw-rx
			crictl stop -t 0 "$CTR_ID" >/dev/null 2>&1 && crictl rm "$CTR_ID" >/dev/null 2>&1
		else
			check "a second container starts in the pod" false
		fi
	else
		SC_OK=0
	fi
	if new_app_pod wx-1-5 "$WX" runc-1.5 && run_kube_ctr app "$SLEEP"; then
		check "[runc 1.5.2] the entrypoint runs" running "$CTR_ID"
		check "[runc 1.5.2] mprotect RW->RX is denied too" probe_says "$CTR_ID" denied mprotect-rw-rx
		remove_kube_pod "$POD_ID"
	else
		check "[runc 1.5.2] a builtin/wx pod starts" false
	fi
	if new_app_pod plain "" && run_kube_ctr app "$SLEEP"; then
		check "without the annotation (no node default) krsi leaves it unconfined" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container runs unconfined' 'pod=plain[ )]'
		check "the same mprotect succeeds" probe_says "$CTR_ID" ok mprotect-rw-rx
		remove_kube_pod "$POD_ID"
	else
		SC_OK=0
	fi
	end
fi

# --- (b) a container without the kubelet's labels -----------------------------------------
# CRI-O reports a container's NRI name from the label io.kubernetes.container.name
# (containerd: from the CRI metadata). A CRI client other than the kubelet may
# not set it; krsi then takes the name from CRI-O's io.kubernetes.cri-o.Metadata
# annotation, so per-container annotations still apply.
if want container-name; then
	begin container-name "a container without io.kubernetes.container.name: krsi still knows it as app"
	new_app_pod nolabel "$WX"
	_ok=$?
	KUBE_NO_LABELS=1
	[ $_ok -eq 0 ] && run_kube_ctr app "$SLEEP"
	_ok=$?
	KUBE_NO_LABELS=
	if [ $_ok -eq 0 ]; then
		check "krsi chose builtin/wx for container app" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container confined' 'pod=nolabel[ )]' 'container=app ' 'profile=builtin/wx'
		klog '^krsi: container confined' 'pod=nolabel[ )]'
		check "mprotect RW->RX is denied" probe_says "$CTR_ID" denied mprotect-rw-rx
		remove_kube_pod "$POD_ID"
	else
		SC_OK=0
	fi
	end
fi

# --- (c) exec allow list -------------------------------------------------------------------
want exec-allow-list && exec_allow_list_scenario
want busybox-applets && busybox_applets_scenario

# --- (d) file rules -------------------------------------------------------------------------
want file-rules && file_rules_scenario
want readonly-root && readonly_root_scenario

# --- (e) per-image profile file ---------------------------------------------------------------
want image-profile && image_profile_scenario

# --- (f) bad annotation ---------------------------------------------------------------------
want bad-annotation && bad_annotation_scenario

# --- who may choose what: the node config's policy (issue 14) ---------------------------------
want record-policy && record_policy_scenario
want namespace-policy && namespace_policy_scenario
want binding-image-profile && binding_image_profile_scenario

# --- (g) plugin killed and restarted ----------------------------------------------------------
if want plugin-restart; then
	begin plugin-restart "krsi SIGKILLed: enforcement stays; a container created meanwhile; krsi restarted: it reconciles"
	if [ -z "$WX_CTR" ]; then
		new_app_pod wx "$WX" && run_kube_ctr app "$SLEEP" && WX_CTR=$CTR_ID
	fi
	stop_krsi KILL
	check "krsi is gone" no_krsi
	check "the confined container still gets EPERM" probe_says "$WX_CTR" denied mprotect-rw-rx
	if [ -n "$EXEC_CTR" ]; then
		check "the exec allow list still holds" exec_denied "$EXEC_CTR" /bin/sh -c true
	fi
	# NRI fails open: with no plugin connected, CRI-O creates the container
	# without asking anyone; the kernel binds its cgroup, created under a
	# marked parent, to the fallback profile (docs/failure-modes.md).
	DOWN_CTR=
	if new_app_pod whiledown "$WX" && run_kube_ctr app "$SLEEP"; then
		DOWN_CTR=$CTR_ID DOWN_POD=$POD_ID
		check "a builtin/wx container created while krsi is down is created and runs" running "$DOWN_CTR"
		check "... confined by the fallback profile (builtin/wx): its mprotect is denied" probe_says "$DOWN_CTR" denied mprotect-rw-rx
	else
		check "a container can be created while krsi is down" false
	fi
	KMARK=$(log_mark "$KRSI_LOG")
	if start_krsi; then
		check "the restarted krsi took over the pins" log_has "$KRSI_LOG" "$KMARK" '^krsi: krsi plugin starting' 'reused_pins=true'
		check "it synchronized with crio" log_has "$KRSI_LOG" "$KMARK" '^krsi: synchronized with the runtime'
		klog '^krsi: synchronized with the runtime'
		check "it reconciled the running wx container, by its name" log_has "$KRSI_LOG" "$KMARK" '^krsi: running container confined' 'pod=wx[ )]' 'container=app ' 'profile=builtin/wx'
		check "the wx container is still denied" probe_says "$WX_CTR" denied mprotect-rw-rx
		if [ -n "$DOWN_CTR" ]; then
			check "it confined the container created while it was down" \
				log_has "$KRSI_LOG" "$KMARK" '^krsi: running container confined' 'pod=whiledown[ )]' 'profile=builtin/wx'
			check "... and said how long it ran under the fallback" \
				log_has "$KRSI_LOG" "$KMARK" '^krsi: container ran under the fallback profile' 'pod=whiledown[ )]' 'for=[0-9.]+(ms|s|m)'
			check "... which is denied from now on" probe_says "$DOWN_CTR" denied mprotect-rw-rx
			remove_kube_pod "$DOWN_POD"
		fi
		if new_app_pod afterrestart "$WX" && run_kube_ctr app "$SLEEP"; then
			check "a new wx container is confined again" probe_says "$CTR_ID" denied mprotect-rw-rx
			remove_kube_pod "$POD_ID"
		else
			SC_OK=0
		fi
	else
		check "krsi restarted" false
	fi
	end
fi

# --- (h) pre-registered plugin -------------------------------------------------------------------
if want pre-registered; then
	begin pre-registered "krsi installed as $PREREG: crio starts it; it confines"
	stop_krsi TERM
	stop_runtime
	cp "$KRSI" "$PREREG" && chmod 0755 "$PREREG"
	CMARK=$(log_mark "$CRIO_LOG")
	if start_crio; then
		check "crio started krsi and synchronized it" \
			wait_log 60 "$CRIO_LOG" "$CMARK" 'pre-installed NRI plugin .*10-krsi.* synchronization success'
		show "crio log:" "$(log_line "$CRIO_LOG" "$CMARK" 'pre-installed NRI plugin')"
		check "krsi runs as crio's child" running_cmd "$PREREG"
		if [ -n "$WX_CTR" ]; then
			check "the running wx container is still denied" probe_says "$WX_CTR" denied mprotect-rw-rx
		fi
		if new_app_pod prereg "$WX" && run_kube_ctr app "$SLEEP"; then
			check "a new builtin/wx container is denied" probe_says "$CTR_ID" denied mprotect-rw-rx
			remove_kube_pod "$POD_ID"
		else
			SC_OK=0
		fi
		if new_app_pod prereg-bad '"profile.krsi.dev/container.app": "builtin/nope"'; then
			create_kube_ctr app "$SLEEP"
			check "a bad annotation is refused" contains "$CREATE_OUT" 'unknown profile "builtin/nope"'
			remove_kube_pod "$POD_ID"
		fi
	else
		SC_OK=0
	fi
	end
fi

echo
echo "e2e: not on CRI-O 1.34: krsi as a required plugin (no NRI validator in it); cgroup drivers: cgroupfs tested, systemd not (no systemd in the VM)"
[ "$FAILED" -eq 0 ] || echo "e2e: failed:$FAILED_NAMES"
echo "e2e: done in $(elapsed)"
echo "e2e: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
