#!/bin/sh
# Scenarios that e2e.sh (containerd) and crio.sh (CRI-O) both run, written once:
# the runtime's script sources this after lib.sh and sets RUNTIME_NAME, which
# decides how a pod and its container are made (crio: as the kubelet labels them,
# with no shared PID namespace; lib.sh explains both).

# app_pod NAME ANNOTATIONS HANDLER COMMAND_JSON: a pod NAME (on runtime handler
# HANDLER; empty for the default) with one started container "app". Sets POD_ID
# and CTR_ID.
app_pod() {
	new_app_pod "$1" "$2" "$3" || return 1
	if [ "$RUNTIME_NAME" = crio ]; then run_kube_ctr app "$4"; else run_ctr app "$4"; fi
}

# new_app_pod NAME ANNOTATIONS [HANDLER]: only the pod. Sets POD_ID.
new_app_pod() {
	POD_RUNTIME=${3:-}
	if [ "$RUNTIME_NAME" = crio ]; then new_kube_pod "$1" "$2"; else new_pod "$1" "$2"; fi
	_rc=$?
	POD_RUNTIME=
	return $_rc
}

# create_app_ctr COMMAND_JSON: crictl create of container "app" in the last
# new_app_pod, not started. Sets CTR_ID and CREATE_OUT, returns crictl's status.
create_app_ctr() {
	if [ "$RUNTIME_NAME" = crio ]; then create_kube_ctr app "$1"; else create_ctr app "$1"; fi
}

# drop_pod ID: the pod and its containers gone (lib.sh: CRI-O needs a stop first).
drop_pod() {
	if [ "$RUNTIME_NAME" = crio ]; then remove_kube_pod "$1"; else remove_pod "$1"; fi
}

# exec_list_case HANDLER PROFILE POD: the allow-list container on one runtime
# handler. The container of handler $EXEC_CTR_HANDLER is kept as EXEC_CTR (the
# plugin-restart scenario checks that its list still holds with krsi gone).
exec_list_case() {
	_rt=$1 _prof=$2 _name=$3 _label="[$1 $2]"
	if app_pod "$_name" "\"profile.krsi.dev/container.app\": \"$_prof\"" "$_rt" '["/app/sleep", "3600"]'; then
		[ "$_rt" = "$EXEC_CTR_HANDLER" ] && EXEC_CTR=$CTR_ID
		check "$_label krsi chose it" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container confined' "pod=${_name}[ )]" "profile=${_prof}[ )]"
		check "$_label the entrypoint /app/sleep runs" running "$CTR_ID"
		check "$_label crictl exec /app/sleep 0 (allowed) works" exec_ok "$CTR_ID" /app/sleep 0
		check "$_label crictl exec /bin/sh -c true is denied" exec_denied "$CTR_ID" /bin/sh -c true
		check "$_label krsi reported the exec of /bin/sh, which resolves to /bin/busybox" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: denied exec of .*/bin/busybox' "pod=${_name}[ )]" 'container=app '
		klog '^krsi: denied exec of .*/bin/busybox' "pod=${_name}[ )]"
		check "$_label the container lives on" running "$CTR_ID"
	else
		check "$_label the container starts" false
	fi
}

# builtin_case HANDLER PROFILE POD CHECK...: a container under a built-in
# profile starts on HANDLER; then each CHECK (a function taking the container's
# id) runs on it.
builtin_case() {
	_rt=$1 _prof=$2 _name=$3 _label="[$1 $2]"
	shift 3
	if app_pod "$_name" "\"profile.krsi.dev/container.app\": \"$_prof\"" "$_rt" '["/app/sleep", "3600"]'; then
		check "$_label the entrypoint runs" running "$CTR_ID"
		for _c in "$@"; do "$_c" "$_label" "$CTR_ID"; done
		drop_pod "$POD_ID"
	else
		check "$_label the container starts" false
	fi
}

noshell_checks() {
	check "$1 crictl exec /bin/sh -c true is denied" exec_denied "$2" /bin/sh -c true
}

# The runtime's own work in the container's cgroup before the entrypoint
# (mount points, device nodes, its state files) is not the container's: a
# read-only root must not stop the container from starting.
readonly_root_checks() {
	check "$1 writing /etc/app.conf is denied" probe_says "$2" denied open /etc/app.conf w
	check "$1 creating /etc/new is denied" probe_says "$2" denied open /etc/new c
	check "$1 reading /etc/app.conf works" probe_says "$2" ok open /etc/app.conf r
	check "$1 creating /tmp/scratch works" probe_says "$2" ok open /tmp/scratch c
	check "$1 the container lives on" running "$2"
}

# exec_allow_list_scenario: both handlers, the allow list and builtin/no-shell.
exec_allow_list_scenario() {
	begin exec-allow-list "exec.allow [/app/*]: the entrypoint /app/sleep runs, crictl exec /bin/sh is denied"
	exec_list_case runc-1.5 localhost/app-exec execlist
	# runc >= 1.2 first tries to start an exec'd process directly in the
	# container's cgroup (CLONE_INTO_CGROUP) from its memfd copy, which the
	# profile denies (fileless), and then retries outside it: the exec works,
	# and krsi logs a denial for runc's first attempt.
	_l=$(log_line "$KRSI_LOG" "$KMARK" '^krsi: denied exec of /memfd:runc_cloned' 'pod=execlist[ )]')
	[ -n "$_l" ] && echo "e2e:   note  runc 1.5 exec: a denial is logged for runc's own first try: $(echo "$_l" | sed 's/ (access=.*//')"
	# Debian 12's runc 1.1.5 re-executes itself inside the container's cgroup
	# before the entrypoint (from a detached bind mount, then a memfd) and maps
	# the node's libraries: krsi's exec rules wait for the entrypoint, so the
	# same strict list works on it (containerd runs `runc create` in
	# StartContainer, CRI-O in CreateContainer: both are covered).
	exec_list_case runc localhost/app-exec execlist-runc11
	# A deny list with fileless: deny, on both.
	for _rt in runc-1.5 runc; do
		builtin_case "$_rt" builtin/no-shell "noshell-$(echo "$_rt" | tr -d .)" noshell_checks
	done
	end
}

# busybox_applets_scenario: builtin/no-shell on an image whose programs are all
# busybox (links named after its applets): krsi decides on the applet, so the
# image's tools run and its shell and downloader do not, by any name.
busybox_applets_scenario() {
	begin busybox-applets "builtin/no-shell on a busybox image: ls and cat run, sh, busybox sh and wget are denied, each with krsi's event naming the applet"
	# The entrypoint is busybox too (/bin/sleep, a link): the applet sleep,
	# which the profile allows.
	if app_pod applets '"profile.krsi.dev/container.app": "builtin/no-shell"' '' '["/bin/sleep", "3600"]'; then
		_id=$CTR_ID
		check "the entrypoint, busybox's sleep applet, runs" running "$_id"
		check "crictl exec ls / works" exec_ok "$_id" /bin/ls /
		check "crictl exec cat /etc/passwd works" exec_ok "$_id" /bin/cat /etc/passwd
		check "crictl exec /bin/sh -c true is denied" exec_denied "$_id" /bin/sh -c true
		check "crictl exec /bin/busybox sh -c true is denied" exec_denied "$_id" /bin/busybox sh -c true
		check "crictl exec wget is denied" exec_denied "$_id" /bin/wget -q -O /dev/null http://127.0.0.1:1/
		for _ev in '/bin/sh → /bin/busybox applet sh' '/bin/busybox applet sh' '/bin/wget → /bin/busybox applet wget'; do
			check "krsi's event: denied exec of $_ev" wait_log 30 "$KRSI_LOG" "$KMARK" "^krsi: denied exec of $_ev" 'pod=applets[ )]'
		done
		klog '^krsi: denied exec of /bin/wget' 'pod=applets[ )]'
		check "the container lives on" running "$_id"
		drop_pod "$POD_ID"
	else
		check "the container starts" false
	fi
	# The control: the same image with no profile runs both.
	if app_pod applets-control '' '' '["/bin/sleep", "3600"]'; then
		check "control, no profile: crictl exec /bin/busybox sh -c true works" exec_ok "$CTR_ID" /bin/busybox sh -c true
		check "control, no profile: crictl exec /bin/sh -c true works" exec_ok "$CTR_ID" /bin/sh -c true
		drop_pod "$POD_ID"
	else
		check "the control's container starts" false
	fi
	end
}

readonly_root_scenario() {
	begin readonly-root "builtin/readonly-root: the container starts on both runc versions; writes outside /tmp, /run, /var/tmp and /dev are denied"
	for _rt in runc-1.5 runc; do
		builtin_case "$_rt" builtin/readonly-root "ro-$(echo "$_rt" | tr -d .)" readonly_root_checks
	done
	end
}

file_rules_scenario() {
	begin file-rules "localhost/app-config-ro: /etc/app.conf may be read, not written"
	if app_pod files '"profile.krsi.dev/container.app": "localhost/app-config-ro"' "" "$SLEEP"; then
		check "krsi chose localhost/app-config-ro" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container confined' 'pod=files[ )]' 'profile=localhost/app-config-ro'
		check "open /etc/app.conf for reading works" probe_says "$CTR_ID" ok open /etc/app.conf r
		check "open /etc/app.conf for writing is denied" probe_says "$CTR_ID" denied open /etc/app.conf w
		check "open /etc/app.conf for appending is denied" probe_says "$CTR_ID" denied open /etc/app.conf a
		check "a shell redirect into it fails too" exec_denied "$CTR_ID" /bin/sh -c 'echo hacked > /etc/app.conf'
		check "the file is unchanged" exec_ok "$CTR_ID" /bin/cat /etc/app.conf
		check "krsi reported the write" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: denied open of /etc/app.conf' 'pod=files[ )]' 'container=app '
		klog '^krsi: denied open of /etc/app.conf' 'pod=files[ )]' 'container=app '
		drop_pod "$POD_ID"
	else
		SC_OK=0
	fi
	end
}

image_profile_scenario() {
	begin image-profile "a profile file in $PROFILE_DIR selecting localhost/krsi-test:* applies with no annotation"
	cat >"$PROFILE_DIR/krsi-test-image.yaml" <<-'EOF'
	apiVersion: krsi.dev/v1
	kind: Profile
	name: krsi-test-image
	images: ["localhost/krsi-test:*"]
	memory:
	  wx: deny
	EOF
	check "krsi picked up the new file (the directory is watched)" \
		wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: profile loaded' 'profile=localhost/krsi-test-image'
	if app_pod byimage "" "" "$SLEEP"; then
		check "krsi chose localhost/krsi-test-image by the image" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container confined' 'pod=byimage[ )]' 'profile=localhost/krsi-test-image' 'why="image localhost/krsi-test:1(@sha256:[0-9a-f]+)? matches localhost/krsi-test-image \(pattern localhost/krsi-test:\*\)"'
		klog '^krsi: container confined' 'pod=byimage[ )]'
		check "mprotect RW->RX is denied" probe_says "$CTR_ID" denied mprotect-rw-rx
		drop_pod "$POD_ID"
	else
		SC_OK=0
	fi
	rm -f "$PROFILE_DIR/krsi-test-image.yaml"
	check "removing the file removes the profile" \
		wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: profile removed' 'profile=localhost/krsi-test-image'
	end
}

bad_annotation_scenario() {
	begin bad-annotation "profile.krsi.dev/container.app: builtin/nope: crictl create fails with krsi's message"
	if new_app_pod bad '"profile.krsi.dev/container.app": "builtin/nope"'; then
		if create_app_ctr "$SLEEP"; then
			check "crictl create failed" false
		else
			check "crictl create failed" true
		fi
		show "crictl create:" "$CREATE_OUT"
		# CRI-O shows a plugin's message unchanged too.
		check "its output has krsi's message" \
			contains "$CREATE_OUT" 'krsi: container app of pod default/bad: annotation profile.krsi.dev/container.app: value "builtin/nope": unknown profile'
		check "krsi logged the refusal" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: error: container refused' 'pod=bad[ )]' 'container=app '
		check "no container was left in the pod" is "$(crictl ps -a -q --pod "$POD_ID")" ""
		drop_pod "$POD_ID"
	else
		SC_OK=0
	fi
	end
}

# --- who may choose what (issue 14): the node config's policy (lib.sh setup_node) --

# refused_create LABEL POD NAMESPACE ANNOTATIONS MESSAGE: a pod whose container
# krsi must refuse: crictl create fails with MESSAGE, krsi logs the refusal,
# no container is left.
refused_create() {
	POD_NS=$3
	if new_app_pod "$2" "$4"; then
		POD_NS=
		if create_app_ctr "$SLEEP"; then
			check "$1: crictl create failed" false
		else
			check "$1: crictl create failed" true
		fi
		show "crictl create:" "$CREATE_OUT"
		check "$1: its output has krsi's message" contains "$CREATE_OUT" "$5"
		check "$1: krsi logged the refusal" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: error: container refused' "pod=$2[ )]" "namespace=$3[ )]"
		check "$1: no container was left in the pod" is "$(crictl ps -a -q --pod "$POD_ID")" ""
		drop_pod "$POD_ID"
	else
		POD_NS=
		check "$1: the pod is created" false
	fi
}

record_policy_scenario() {
	begin record-policy "record.krsi.dev: refused where recording.namespaces does not list the namespace; recorded in namespace rec"
	refused_create "[default]" rec-off default '"record.krsi.dev/container.app": "e2e-rec"' \
		'krsi: container app of pod default/rec-off: annotation record.krsi.dev/container.app: value "e2e-rec": namespace default may not record (rule recording.namespaces: [rec]): a recorded container runs under a profile that denies nothing; remove the annotation, or have the node admin add default to recording.namespaces in the krsi config'
	rm -f /var/lib/krsi/recorded/e2e-rec.yaml
	POD_NS=rec
	if app_pod rec-on '"record.krsi.dev/container.app": "e2e-rec"' "" "$SLEEP"; then
		POD_NS=
		check "[rec] krsi records it under the observe profile (audit)" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container confined' 'pod=rec-on[ )]' 'namespace=rec[ )]' 'profile=krsi/record' 'mode=audit'
		klog '^krsi: container confined' 'pod=rec-on[ )]'
		check "[rec] the run is recorded: mprotect RW->RX is allowed (audit)" probe_says "$CTR_ID" ok mprotect-rw-rx
		crictl stop -t 0 "$CTR_ID" >/dev/null 2>&1
		check "[rec] stopping the container writes the profile" \
			wait_log 20 "$KRSI_LOG" "$KMARK" '^krsi: recorded profile written' 'pod=rec-on[ )]' 'file=/var/lib/krsi/recorded/e2e-rec.yaml'
		klog '^krsi: recorded profile written' 'pod=rec-on[ )]'
		check "[rec] /var/lib/krsi/recorded/e2e-rec.yaml is a profile named e2e-rec" \
			grep -q '^name: e2e-rec$' /var/lib/krsi/recorded/e2e-rec.yaml
		drop_pod "$POD_ID"
	else
		POD_NS=
		check "[rec] the recorded container starts" false
	fi
	rm -f /var/lib/krsi/recorded/e2e-rec.yaml
	end
}

namespace_policy_scenario() {
	begin namespace-policy "team-a may choose builtin/wx and localhost/app-*: builtin/no-shell is refused, builtin/wx runs confined"
	refused_create "[team-a builtin/no-shell]" ns-refused team-a '"profile.krsi.dev/container.app": "builtin/no-shell"' \
		'krsi: container app of pod team-a/ns-refused: annotation profile.krsi.dev/container.app: value "builtin/no-shell": namespace team-a may not choose this profile (rule policy.namespaces.team-a.profiles: [builtin/wx, localhost/app-*]); name a profile the rule allows, or have the node admin add it to policy.namespaces.team-a.profiles in the krsi config'
	POD_NS=team-a
	if app_pod ns-allowed '"profile.krsi.dev/container.app": "builtin/wx"' "" "$SLEEP"; then
		POD_NS=
		check "[team-a builtin/wx] krsi confines it as asked" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container confined' 'pod=ns-allowed[ )]' 'namespace=team-a[ )]' 'profile=builtin/wx' 'why="annotation profile.krsi.dev/container.app"'
		klog '^krsi: container confined' 'pod=ns-allowed[ )]'
		check "[team-a builtin/wx] mprotect RW->RX is denied" probe_says "$CTR_ID" denied mprotect-rw-rx
		drop_pod "$POD_ID"
	else
		POD_NS=
		check "[team-a builtin/wx] the container starts" false
	fi
	end
}

binding_image_profile_scenario() {
	begin binding-image-profile "in team-bind the image profile localhost/krsi-test-binding wins over an annotation asking for builtin/no-shell"
	cat >"$PROFILE_DIR/krsi-test-binding.yaml" <<-'EOF'
	apiVersion: krsi.dev/v1
	kind: Profile
	name: krsi-test-binding
	images: ["localhost/krsi-test:*"]
	memory:
	  wx: deny
	EOF
	check "krsi loaded the image profile" \
		wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: profile loaded' 'profile=localhost/krsi-test-binding'
	POD_NS=team-bind
	if app_pod bound '"profile.krsi.dev/container.app": "builtin/no-shell"' "" "$SLEEP"; then
		POD_NS=
		check "krsi chose the binding image profile, and says the annotation was not applied" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container confined' 'pod=bound[ )]' 'namespace=team-bind[ )]' 'profile=localhost/krsi-test-binding' \
			'binding in namespace team-bind \(rule policy.namespaces.team-bind.bindingImageProfiles: \[localhost/krsi-test-binding\]\); annotation profile.krsi.dev/container.app \(builtin/no-shell\) not applied'
		klog '^krsi: container confined' 'pod=bound[ )]'
		check "the image profile's rule holds: mprotect RW->RX is denied" probe_says "$CTR_ID" denied mprotect-rw-rx
		check "builtin/no-shell was not applied: crictl exec /bin/sh works" exec_ok "$CTR_ID" /bin/sh -c true
		drop_pod "$POD_ID"
	else
		POD_NS=
		check "the container starts" false
	fi
	# Elsewhere the same image profile is not binding: the annotation decides.
	if app_pod unbound '"profile.krsi.dev/container.app": "builtin/no-shell"' "" "$SLEEP"; then
		check "[default] the annotation wins over the (not binding) image profile" \
			wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: container confined' 'pod=unbound[ )]' 'profile=builtin/no-shell'
		drop_pod "$POD_ID"
	else
		check "[default] the container starts" false
	fi
	rm -f "$PROFILE_DIR/krsi-test-binding.yaml"
	check "removing the file removes the profile" \
		wait_log 10 "$KRSI_LOG" "$KMARK" '^krsi: profile removed' 'profile=localhost/krsi-test-binding'
	end
}
