# Shell functions shared by test/e2e/e2e.sh, test/e2e/demo.sh and test/e2e/crio.sh
# (POSIX sh; runs under the VM's busybox ash). Sourced, not run. build.sh copies it
# to /e2e/lib.sh in the VM's root, next to the images in /e2e/images.
#
# It sets up a node the way a Kubernetes node looks to krsi: containerd 2.x with
# NRI on (socket /var/run/nri/nri.sock), runc, pods made with crictl from CRI
# configs that carry annotations and a kubelet-style cgroup_parent
# (/kubepods/besteffort/pod<uid>), on the host network (there is no CNI). The
# functions at the end set up the same node with CRI-O instead.
#
# Paths are the standard ones: the VM is thrown away after the run.

E2E_DIR=${E2E_DIR:-/e2e}
# E2E_ONLY and friends, written by run.sh on the host.
[ -r "$E2E_DIR/env" ] && . "$E2E_DIR/env"
# E2E_CONTAINERD_VERSION, E2E_CRICTL_VERSION, E2E_RUNC_VERSION, E2E_ARCH (build.sh).
[ -r "$E2E_DIR/versions" ] && . "$E2E_DIR/versions"
E2E_RUN=/run/e2e                           # generated configs
CONTAINERD_CONF=$E2E_RUN/containerd.toml
CONTAINERD_LOG=/var/log/containerd.log
KRSI=${KRSI_BIN:-/bin/krsi}
KRSI_CONF=/etc/nri/conf.d/10-krsi.conf
KRSI_LOG=/var/log/krsi.log
PROFILE_DIR=/etc/krsi/profiles.d
PREREG=/opt/nri/plugins/10-krsi
TEST_IMAGE=localhost/krsi-test:1
PAUSE_IMAGE=localhost/pause:local
export PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
export CONTAINER_RUNTIME_ENDPOINT=unix:///run/containerd/containerd.sock
export IMAGE_SERVICE_ENDPOINT=unix:///run/containerd/containerd.sock

E2E_T0=$(date +%s)
elapsed() { echo "$(($(date +%s) - E2E_T0))s"; }

# e2e_enter_root "$0" "$@": the pivot_root workaround. runc's pivot_root(2) fails
# with EINVAL when the root is the initramfs (rootfs has no parent mount), so
# every container start would fail. Bind the root (with its submounts: /proc,
# /sys, bpffs, cgroup2, ...) onto /newroot, move that over /, chroot into it and
# run the calling script again from there. A no-op outside the VM, and the
# second time.
e2e_enter_root() {
	[ "${KRSI_VM:-}" = 1 ] && [ "${E2E_ROOTED:-}" != 1 ] || return 0
	mkdir -p /newroot
	mount -o rbind / /newroot || { echo "e2e: bind-mounting / on /newroot failed"; exit 1; }
	cd /newroot || exit 1
	mount -o move . / || { echo "e2e: moving /newroot over / failed"; exit 1; }
	E2E_ROOTED=1 exec chroot . /bin/sh "$@"
}

# wait_for SECONDS COMMAND...: retry COMMAND every 0.2 s until it succeeds.
wait_for() {
	_n=$(($1 * 5))
	shift
	while [ "$_n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		_n=$((_n - 1))
	done
	return 1
}

# log_mark FILE: the number of lines FILE has now (for log_since / wait_log).
log_mark() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
# log_since FILE MARK: the lines written to FILE after log_mark returned MARK.
log_since() { tail -n "+$(($2 + 1))" "$1" 2>/dev/null; }
# log_has FILE MARK PATTERN...: a line after MARK matches every (grep -E) PATTERN.
log_has() {
	_f=$1 _m=$2
	shift 2
	_cmd="log_since '$_f' $_m"
	for _p in "$@"; do _cmd="$_cmd | grep -E -- '$_p'"; done
	eval "$_cmd" >/dev/null
}
# log_line FILE MARK PATTERN...: the last such line.
log_line() {
	_f=$1 _m=$2
	shift 2
	_cmd="log_since '$_f' $_m"
	for _p in "$@"; do _cmd="$_cmd | grep -E -- '$_p'"; done
	eval "$_cmd" | tail -n 1
}
# wait_log SECONDS FILE MARK PATTERN...
wait_log() { _s=$1; shift; wait_for "$_s" log_has "$@"; }

# --- the runtime ------------------------------------------------------------------------

# write_containerd_config [required]: containerd's configuration. "required" turns
# on NRI's default validator with krsi as a required plugin.
# The node profile the scenarios and the demo both select as
# localhost/app-config-ro: /etc/app.conf may be read, not changed.
write_app_config_profile() {
	cat >"$PROFILE_DIR/app-config.yaml" <<'EOF'
apiVersion: krsi.dev/v1
kind: Profile
name: app-config-ro
description: the configuration may be read, not changed
files:
  rules:
    - path: /etc/app.conf
      allow: [read]
      deny: [write]
EOF
}

write_containerd_config() {
	mkdir -p "$E2E_RUN"
	cat >"$CONTAINERD_CONF" <<-EOF
	version = 3
	root = '/var/lib/containerd'
	state = '/run/containerd'
	# Snapshotters and services this node cannot or need not run.
	disabled_plugins = ['io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.zfs',
	  'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.blockfile',
	  'io.containerd.snapshotter.v1.erofs', 'io.containerd.tracing.processor.v1.otlp',
	  'io.containerd.internal.v1.tracing']

	[grpc]
	  address = '/run/containerd/containerd.sock'

	[plugins.'io.containerd.nri.v1.nri']
	  disable = false
	  disable_connections = false
	  socket_path = '/var/run/nri/nri.sock'
	  plugin_path = '/opt/nri/plugins'
	  plugin_config_path = '/etc/nri/conf.d'
	  # Emulated CPU (qemu TCG): generous, so a slow VM is not mistaken for a
	  # dead plugin.
	  plugin_registration_timeout = '30s'
	  plugin_request_timeout = '15s'
	EOF
	if [ "${1:-}" = required ]; then
		cat >>"$CONTAINERD_CONF" <<-EOF
		  [plugins.'io.containerd.nri.v1.nri'.default_validator]
		    enable = true
		    required_plugins = ['krsi']
		    tolerate_missing_plugins_annotation = 'tolerate-missing-nri-plugins.noderesource.dev'
		EOF
	fi
	cat >>"$CONTAINERD_CONF" <<-EOF

	[plugins.'io.containerd.cri.v1.images']
	  # No overlay module in the initramfs; native copies, which is fine for 5 MB.
	  snapshotter = 'native'
	  [plugins.'io.containerd.cri.v1.images'.pinned_images]
	    sandbox = '$PAUSE_IMAGE'

	[plugins.'io.containerd.cri.v1.runtime']
	  # The kernel has AppArmor, the VM has no apparmor_parser.
	  disable_apparmor = true
	  [plugins.'io.containerd.cri.v1.runtime'.containerd]
	    default_runtime_name = 'runc'
	    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
	      runtime_type = 'io.containerd.runc.v2'
	      snapshotter = 'native'
	      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
	        BinaryName = '/usr/sbin/runc'
	        # cgroupfs driver: there is no systemd in the VM.
	        SystemdCgroup = false
	    # A current runc, for pods that ask for it (crictl runp --runtime runc-1.5).
	    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'runc-1.5']
	      runtime_type = 'io.containerd.runc.v2'
	      snapshotter = 'native'
	      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'runc-1.5'.options]
	        BinaryName = '/usr/local/sbin/runc-1.5.2'
	        SystemdCgroup = false
	EOF
}

RUNTIME_PID=
# start_runtime NAME LOG COMMAND...: the runtime daemon in the background, then
# wait until crictl reaches it. One runtime runs per VM: its pid is RUNTIME_PID.
start_runtime() {
	_rname=$1 _rlog=$2
	shift 2
	"$@" >>"$_rlog" 2>&1 &
	RUNTIME_PID=$!
	if ! wait_for 60 crictl info; then
		echo "e2e: $_rname did not come up; its log:"
		tail -n 40 "$_rlog"
		return 1
	fi
}

# stop_runtime: SIGTERM and wait. Running containers stay (their shims or conmons do).
stop_runtime() {
	[ -n "$RUNTIME_PID" ] || return 0
	kill "$RUNTIME_PID" 2>/dev/null
	wait "$RUNTIME_PID" 2>/dev/null
	RUNTIME_PID=
}

# start_containerd: start it (config written before) and wait until it answers.
start_containerd() {
	mkdir -p /var/lib/containerd /run/containerd /var/run/nri /var/log
	start_runtime containerd "$CONTAINERD_LOG" containerd --config "$CONTAINERD_CONF"
}

# setup_node: directories, crictl's configuration, krsi's node configuration.
setup_node() {
	# /var/run is /run, as on any distribution.
	mkdir -p /var /run
	[ -e /var/run ] || ln -s /run /var/run
	mkdir -p "$E2E_RUN" /etc/nri/conf.d /opt/nri/plugins "$PROFILE_DIR" /var/log/pods
	# Host-network pods get copies of the node's /etc/hosts and /etc/resolv.conf.
	[ -e /etc/hosts ] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >/etc/hosts
	[ -e /etc/resolv.conf ] || : >/etc/resolv.conf
	# crictl exec streams through containerd's server on 127.0.0.1: the VM's
	# loopback must be up.
	ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
	# crictl: a long timeout (the VM's CPU is emulated; the default is 2 s).
	cat >/etc/crictl.yaml <<-EOF
	runtime-endpoint: unix:///run/containerd/containerd.sock
	image-endpoint: unix:///run/containerd/containerd.sock
	timeout: 60
	pull-image-on-create: false
	EOF
	# krsi's node configuration. No default profile: a container nothing selects
	# a profile for runs unconfined (the control cases rely on it).
	cat >"$KRSI_CONF" <<-EOF
	socketPath: /var/run/nri/nri.sock
	pluginName: krsi
	pluginIndex: "10"
	pinDir: /sys/fs/bpf/krsi
	profileDirs: [$PROFILE_DIR]
	defaultProfile: ""
	allowUnconfined: false
	allowModeRelax: false
	# Who may choose what (scenarios.sh: record-policy, namespace-policy,
	# binding-image-profile). Namespace default may choose any profile, as a
	# node with no policy; team-a only builtin/wx and localhost/app-*; in
	# team-bind the image profile localhost/krsi-test-binding wins over
	# annotations. Only namespace rec may record.
	policy:
	  namespaces:
	    team-a:
	      profiles: ["builtin/wx", "localhost/app-*"]
	    team-bind:
	      bindingImageProfiles: ["localhost/krsi-test-binding"]
	recording:
	  namespaces: [rec]
	EOF
}

# import_images: the hand-made OCI archives, into the namespace the CRI uses.
import_images() {
	for _t in "$E2E_DIR"/images/*.tar; do
		ctr -n k8s.io images import --local --platform "linux/${E2E_ARCH:-amd64}" --snapshotter native "$_t" >/dev/null || return 1
	done
	crictl images | grep -q 'localhost/krsi-test' || { echo "e2e: images not visible to the CRI:"; crictl images; return 1; }
}

KRSI_PID=
# start_krsi: `krsi plugin` as an external plugin (the systemd/DaemonSet way);
# waits until it has synchronized with containerd.
start_krsi() {
	_m=$(log_mark "$KRSI_LOG")
	"$KRSI" plugin --config "$KRSI_CONF" --log-format text >>"$KRSI_LOG" 2>&1 &
	KRSI_PID=$!
	if ! wait_log 60 "$KRSI_LOG" "$_m" '^krsi: synchronized with the runtime'; then
		echo "e2e: krsi did not synchronize with containerd; its log:"
		log_since "$KRSI_LOG" "$_m" | tail -n 30
		return 1
	fi
}

# stop_krsi [SIGNAL]: default TERM.
stop_krsi() {
	[ -n "$KRSI_PID" ] || return 0
	kill -"${1:-TERM}" "$KRSI_PID" 2>/dev/null
	wait "$KRSI_PID" 2>/dev/null
	KRSI_PID=
}

# --- pods and containers ------------------------------------------------------------------

E2E_SEQ=0
# new_pod NAME [ANNOTATIONS]: crictl runp (with --runtime $POD_RUNTIME if set),
# in namespace $POD_NS (default: default). ANNOTATIONS is the inside of a JSON
# object, e.g. '"profile.krsi.dev/container.app": "builtin/wx"'. Sets POD_ID and
# POD_JSON. Kubelet-style: a UID, cgroup_parent /kubepods/besteffort/pod<uid>,
# the host network.
new_pod() {
	E2E_SEQ=$((E2E_SEQ + 1))
	_uid=$(printf '0000e2e0-0000-4000-8000-%012d' "$E2E_SEQ")
	_ns=${POD_NS:-default}
	POD_JSON=$E2E_RUN/pod-$1.json
	cat >"$POD_JSON" <<-EOF
	{
	  "metadata": {"name": "$1", "namespace": "$_ns", "uid": "$_uid", "attempt": 0},
	  "annotations": {${2:-}},
	  "log_directory": "/var/log/pods/${_ns}_$1_$_uid",
	  "linux": {
	    "cgroup_parent": "/kubepods/besteffort/pod$_uid",
	    "security_context": {"namespace_options": {"network": 2}}
	  }
	}
	EOF
	POD_ID=$(crictl runp ${POD_RUNTIME:+--runtime "$POD_RUNTIME"} "$POD_JSON") ||
		{ echo "e2e: crictl runp $POD_JSON failed"; POD_ID=; return 1; }
}

# create_ctr NAME COMMAND_JSON [IMAGE]: crictl create in the last new_pod. Sets
# CTR_ID (empty on failure) and CREATE_OUT (crictl's output), returns its status.
create_ctr() {
	CTR_JSON=$E2E_RUN/ctr-$POD_ID-$1.json
	cat >"$CTR_JSON" <<-EOF
	{
	  "metadata": {"name": "$1"},
	  "image": {"image": "${3:-$TEST_IMAGE}"},
	  "command": $2,
	  "log_path": "$1.log",
	  "linux": {}
	}
	EOF
	CREATE_OUT=$(crictl create "$POD_ID" "$CTR_JSON" "$POD_JSON" 2>&1)
	_rc=$?
	# crictl prints gRPC errors Go-quoted (\"): unquote, to compare with krsi's text.
	CREATE_OUT=$(printf '%s\n' "$CREATE_OUT" | sed 's/\\"/"/g')
	CTR_ID=
	[ $_rc -eq 0 ] && CTR_ID=$(echo "$CREATE_OUT" | tail -n 1)
	return $_rc
}

# run_ctr NAME COMMAND_JSON [IMAGE]: create_ctr + crictl start.
run_ctr() {
	create_ctr "$@" || { echo "e2e: crictl create failed: $CREATE_OUT"; return 1; }
	crictl start "$CTR_ID" >/dev/null || { echo "e2e: crictl start $CTR_ID failed"; return 1; }
}

# ctr_state ID: CONTAINER_RUNNING, CONTAINER_EXITED, ...
ctr_state() { crictl inspect -o go-template --template '{{.status.state}}' "$1" 2>/dev/null; }

# cexec ID COMMAND...: crictl exec (the streaming form: `exec -s` loses stdout when
# the command fails). Sets OUT (stdout and stderr) and RC.
cexec() {
	OUT=$(crictl exec "$@" 2>&1)
	RC=$?
}

# probe ID ARGS...: krsi-probe ARGS in the container. Sets OUT, RC and VERDICT
# (ok, denied or other).
probe() {
	_id=$1
	shift
	cexec "$_id" /bin/krsi-probe "$@"
	if echo "$OUT" | grep -qx 'ok'; then
		VERDICT=ok
	elif echo "$OUT" | grep -q '^denied: .*operation not permitted'; then
		VERDICT=denied
	else
		VERDICT=other
	fi
}

# running_cmd PATTERN: some process's command line contains PATTERN (busybox has
# no pgrep).
running_cmd() {
	for _p in /proc/[0-9]*; do
		[ "$_p" = "/proc/$$" ] && continue
		tr '\0' ' ' <"$_p/cmdline" 2>/dev/null | grep -qF -- "$1" && return 0
	done
	return 1
}

# tidy: crictl's output without its own log decoration (klog "E1127 ..." lines,
# logrus time=... level=... wrappers, Go-quoted quotes).
tidy() {
	sed -E -e '/^[EWI][0-9]{4} /d' \
		-e 's/^time="[^"]*" level=[a-z]+ msg="(.*)"$/crictl: \1/' -e 's/\\"/"/g'
}

# remove_pod ID: stop and remove a pod and its containers.
remove_pod() { crictl rmp -f "$1" >/dev/null 2>&1; }

# --- CRI-O (test/e2e/crio.sh) ---------------------------------------------------------------
# The same node with CRI-O 1.34 instead of containerd: NRI on the same socket,
# cgroupfs, Debian's runc as the default handler and runc 1.5.2 as handler
# "runc-1.5", images in containers-storage (vfs: the initramfs has no overlay
# module). crio.sh points crictl at CRIO_SOCK.
CRIO_CONF=/etc/crio/crio.conf
CRIO_LOG=/var/log/crio.log
CRIO_SOCK=/var/run/crio/crio.sock
CRIO_STORAGE='--root /var/lib/containers/storage --runroot /run/containers/storage --storage-driver vfs'

# write_crio_config: crio.conf, and the containers-storage/image files CRI-O and
# copyimg read.
write_crio_config() {
	# /var/tmp: containers-storage unpacks layers there.
	mkdir -p /etc/crio /etc/containers /var/lib/containers/storage /run/containers/storage \
		/var/lib/crio /var/run/crio /var/log/crio/pods /var/tmp
	cat >/etc/containers/storage.conf <<-EOF
	[storage]
	driver = "vfs"
	graphroot = "/var/lib/containers/storage"
	runroot = "/run/containers/storage"
	EOF
	# No registry is reachable; images come from archives (copyimg).
	echo '{"default": [{"type": "insecureAcceptAnything"}]}' >/etc/containers/policy.json
	echo 'unqualified-search-registries = []' >/etc/containers/registries.conf
	cat >"$CRIO_CONF" <<-EOF
	[crio]
	root = "/var/lib/containers/storage"
	runroot = "/run/containers/storage"
	storage_driver = "vfs"
	log_dir = "/var/log/crio/pods"
	version_file = "/var/run/crio/version"
	clean_shutdown_file = "/var/lib/crio/clean.shutdown"

	[crio.api]
	listen = "$CRIO_SOCK"
	# crictl exec streams through this server: the VM's loopback.
	stream_address = "127.0.0.1"
	stream_port = "0"

	[crio.runtime]
	default_runtime = "runc"
	# There is no systemd in the VM.
	cgroup_manager = "cgroupfs"
	# No iptables or nft in the VM (crio exits "can't create HostPortManager").
	disable_hostport_mapping = true
	pinns_path = "/usr/local/bin/pinns"
	namespaces_dir = "/var/run/crio/ns"
	log_to_journald = false
	hooks_dir = []
	irqbalance_config_restore_file = "disable"

	[crio.runtime.runtimes.runc]
	runtime_path = "/usr/sbin/runc"
	runtime_type = "oci"
	runtime_root = "/run/runc"
	monitor_path = "/usr/bin/conmon"
	monitor_cgroup = "pod"

	# A current runc, for pods that ask for it (crictl runp --runtime runc-1.5).
	[crio.runtime.runtimes."runc-1.5"]
	runtime_path = "/usr/local/sbin/runc-1.5.2"
	runtime_type = "oci"
	runtime_root = "/run/runc-1.5"
	monitor_path = "/usr/bin/conmon"
	monitor_cgroup = "pod"

	[crio.image]
	pause_image = "$PAUSE_IMAGE"
	# "": the pause image's own entrypoint (ours is busybox sleep, not /pause).
	pause_command = ""
	signature_policy = "/etc/containers/policy.json"

	[crio.network]
	# No CNI: every pod here is on the host network.
	network_dir = "/etc/cni/net.d"
	plugin_dirs = ["/opt/cni/bin"]

	[crio.metrics]
	enable_metrics = false

	[crio.nri]
	enable_nri = true
	nri_listen = "/var/run/nri/nri.sock"
	nri_plugin_dir = "/opt/nri/plugins"
	nri_plugin_config_dir = "/etc/nri/conf.d"
	nri_disable_connections = false
	# Emulated CPU (qemu TCG): generous, so a slow VM is not mistaken for a dead plugin.
	nri_plugin_registration_timeout = "30s"
	nri_plugin_request_timeout = "15s"
	EOF
}

# import_images_crio: the hand-made OCI archives, into containers-storage with
# CRI-O's copyimg (before crio starts; no registry, no ctr). The name is the
# archive's io.containerd.image.name annotation, which build.sh writes.
import_images_crio() {
	for _t in "$E2E_DIR"/images/*.tar; do
		_name=$(tar -xOf "$_t" index.json | sed -n 's/.*"io.containerd.image.name":"\([^"]*\)".*/\1/p')
		[ -n "$_name" ] || { echo "e2e: $_t names no image"; return 1; }
		# shellcheck disable=SC2086 # CRIO_STORAGE is a list of flags
		copyimg $CRIO_STORAGE --signature-policy /etc/containers/policy.json \
			--image-name "$_name" --import-from "oci-archive:$_t" || { echo "e2e: copyimg $_t failed"; return 1; }
	done
}

# start_crio: start it (config written, images copied before) and wait until it answers.
start_crio() {
	mkdir -p /var/run/nri /var/log /etc/cni/net.d /opt/cni/bin
	start_runtime crio "$CRIO_LOG" crio --config "$CRIO_CONF"
}

# new_kube_pod NAME [ANNOTATIONS]: new_pod as the kubelet makes it by default:
# no shared PID namespace (pid: CONTAINER), so CRI-O runs no infra container
# (drop_infra_ctr). Sets POD_ID and POD_JSON; uses POD_RUNTIME like new_pod.
new_kube_pod() {
	E2E_SEQ=$((E2E_SEQ + 1))
	_uid=$(printf '0000e2e0-0000-4000-8000-%012d' "$E2E_SEQ")
	_ns=${POD_NS:-default}
	POD_JSON=$E2E_RUN/pod-$1.json
	cat >"$POD_JSON" <<-EOF
	{
	  "metadata": {"name": "$1", "namespace": "$_ns", "uid": "$_uid", "attempt": 0},
	  "labels": {"io.kubernetes.pod.name": "$1", "io.kubernetes.pod.namespace": "$_ns", "io.kubernetes.pod.uid": "$_uid"},
	  "annotations": {${2:-}},
	  "log_directory": "/var/log/pods/${_ns}_$1_$_uid",
	  "linux": {
	    "cgroup_parent": "/kubepods/besteffort/pod$_uid",
	    "security_context": {"namespace_options": {"network": 2, "pid": 1}}
	  }
	}
	EOF
	POD_ID=$(crictl runp ${POD_RUNTIME:+--runtime "$POD_RUNTIME"} "$POD_JSON") ||
		{ echo "e2e: crictl runp $POD_JSON failed"; POD_ID=; return 1; }
}

# remove_kube_pod ID: remove_pod without the wait. CRI-O stops a pod's
# containers with a grace period as long as the client's deadline (crictl's
# timeout, 60 s here), and the test containers' PID 1 (busybox sleep) ignores
# SIGTERM; stop them at once first, as the kubelet would after a zero grace period.
remove_kube_pod() {
	for _c in $(crictl ps -q --pod "$1" 2>/dev/null); do crictl stop -t 0 "$_c" >/dev/null 2>&1; done
	crictl rmp -f "$1" >/dev/null 2>&1
}

# create_kube_ctr NAME COMMAND_JSON [IMAGE]: create_ctr for a new_kube_pod, with
# the labels and namespace options the kubelet sets on every container. CRI-O takes the container's name that NRI
# reports (and krsi selects and logs by) from io.kubernetes.container.name,
# not from the CRI metadata.
create_kube_ctr() {
	CTR_JSON=$E2E_RUN/ctr-$POD_ID-$1.json
	# The pod's name, namespace and uid, from new_pod's config.
	_pmeta=$(sed -n 's/.*"metadata": {"name": "\([^"]*\)", "namespace": "\([^"]*\)", "uid": "\([^"]*\)".*/\1 \2 \3/p' "$POD_JSON")
	_labels="\"io.kubernetes.container.name\": \"$1\",
	    \"io.kubernetes.pod.name\": \"$(echo "$_pmeta" | cut -d' ' -f1)\",
	    \"io.kubernetes.pod.namespace\": \"$(echo "$_pmeta" | cut -d' ' -f2)\",
	    \"io.kubernetes.pod.uid\": \"$(echo "$_pmeta" | cut -d' ' -f3)\""
	# KUBE_NO_LABELS=1: a client other than the kubelet, which sets none.
	[ "${KUBE_NO_LABELS:-}" = 1 ] && _labels=
	cat >"$CTR_JSON" <<-EOF
	{
	  "metadata": {"name": "$1"},
	  "image": {"image": "${3:-$TEST_IMAGE}"},
	  "command": $2,
	  "labels": {$_labels},
	  "log_path": "$1.log",
	  "linux": {"security_context": {"namespace_options": {"network": 2, "pid": 1}}}
	}
	EOF
	CREATE_OUT=$(crictl create "$POD_ID" "$CTR_JSON" "$POD_JSON" 2>&1)
	_rc=$?
	CREATE_OUT=$(printf '%s\n' "$CREATE_OUT" | sed 's/\\"/"/g')
	CTR_ID=
	[ $_rc -eq 0 ] && CTR_ID=$(echo "$CREATE_OUT" | tail -n 1)
	return $_rc
}

# run_kube_ctr NAME COMMAND_JSON [IMAGE]: create_kube_ctr + crictl start.
run_kube_ctr() {
	create_kube_ctr "$@" || { echo "e2e: crictl create failed: $CREATE_OUT"; return 1; }
	crictl start "$CTR_ID" >/dev/null || { echo "e2e: crictl start $CTR_ID failed"; return 1; }
}

# --- scenarios ------------------------------------------------------------------------------
# What e2e.sh (containerd) and crio.sh (CRI-O) count with: begin NAME TEXT, then
# check DESCRIPTION COMMAND... for each assertion, then end. The caller sets
# RUNTIME_NAME and RUNTIME_LOG (whose errors a failed scenario shows).
PASSED=0 FAILED=0 FAILED_NAMES=
SC='' SC_OK=1 KMARK=0 CMARK=0
begin() {
	SC=$1 SC_OK=1
	KMARK=$(log_mark "$KRSI_LOG")
	CMARK=$(log_mark "$RUNTIME_LOG")
	echo
	echo "e2e: === $1: $2 [$(elapsed)]"
}
# check DESCRIPTION COMMAND...: one assertion of the current scenario.
# A check that took 10 s or more says how long (where a slow run spends it).
check() {
	_d=$1 _t=$(date +%s)
	shift
	if "$@"; then
		_v=ok
	else
		_v=NOT
		SC_OK=0
	fi
	_t=$(($(date +%s) - _t))
	[ "$_t" -ge 10 ] && _d="$_d ($_t s)"
	echo "e2e:   $(printf '%-5s' "$_v") $_d"
	[ "$_v" = ok ] || on_not
}
# on_not: run after a check fails, before the scenario goes on; a suite
# redefines it to show the state that explains the failure while it lasts.
on_not() { :; }
# show LABEL TEXT: evidence, indented.
show() { printf '%s\n' "$2" | tidy | sed "s|^|e2e:         $1 |"; }
# klog PATTERN...: show krsi's last log line of this scenario that matches.
klog() { show "krsi log:" "$(log_line "$KRSI_LOG" "$KMARK" "$@")"; }
end() {
	if [ "$SC_OK" = 1 ]; then
		PASSED=$((PASSED + 1))
		echo "e2e: PASS $SC"
	else
		FAILED=$((FAILED + 1))
		FAILED_NAMES="$FAILED_NAMES $SC"
		echo "e2e: krsi's log during $SC:"
		log_since "$KRSI_LOG" "$KMARK" | tail -n 40 | sed 's/^/e2e:   | /'
		echo "e2e: $RUNTIME_NAME's log during $SC (errors):"
		log_since "$RUNTIME_LOG" "$CMARK" | grep -E 'level=(error|warning|fatal)' | tail -n 20 | sed 's/^/e2e:   | /'
		echo "e2e: FAIL $SC"
	fi
}
want() { # want NAME: is scenario NAME selected (E2E_ONLY)?
	[ -z "${E2E_ONLY:-}" ] && return 0
	case " $E2E_ONLY " in *" $1 "*) return 0 ;; esac
	return 1
}
is() { [ "$1" = "$2" ]; }
contains() { case $1 in *"$2"*) return 0 ;; esac; return 1; }
running() { is "$(ctr_state "$1")" CONTAINER_RUNNING; }
no_krsi() { ! running_cmd 'krsi plugin' && ! running_cmd "$PREREG"; }
# probe_says ID WANT ARGS...: run krsi-probe ARGS in container ID; its verdict is WANT.
probe_says() {
	_id=$1 _want=$2
	shift 2
	probe "$_id" "$@"
	show "krsi-probe $*:" "$OUT"
	is "$VERDICT" "$_want"
}
# exec_denied ID COMMAND...: crictl exec fails and says EPERM.
exec_denied() {
	cexec "$@"
	show "crictl exec $(echo "$*" | cut -c 1-40):" "$OUT (exit $RC)"
	[ "$RC" -ne 0 ] && echo "$OUT" | grep -qi "operation not permitted"
}
exec_ok() {
	cexec "$@"
	show "crictl exec $(echo "$*" | cut -c 1-40):" "${OUT:-(no output)} (exit $RC)"
	[ "$RC" -eq 0 ]
}

