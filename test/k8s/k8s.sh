#!/bin/sh
# krsi on a real one-node Kubernetes (run inside krsi's BPF-LSM VM by
# test/k8s/run.sh, with Kubernetes, containerd, helm, the chart, krsi's image
# and the test images in the VM's root). The node comes up as the kubelet runs
# it (etcd, API server, controller manager, scheduler, kubelet, containerd with
# NRI, bridge CNI); krsi is installed with `helm install` from its own image;
# every scenario goes through the API server with kubectl and helm and prints
#
#   e2e: PASS <scenario>      or      e2e: FAIL <scenario>
#
# then "e2e: N passed, M failed". Scenarios, in order (E2E_ONLY="name ..."
# runs only those named, and what they need):
#
#   install           the page's helm install while the runtime's NRI is off: krsi's
#                     pod runs but is not Ready; NRI on (containerd restarted):
#                     Ready; the page's verify commands (status, events) work
#   wx-deployment     a Deployment annotated builtin/wx: mprotect RW->RX by kubectl
#                     exec is EPERM, and krsi's event names pod, namespace and
#                     container in `kubectl logs`; the same without the annotation
#                     succeeds
#   bad-annotation    builtin/nope: the pod's events carry krsi's message
#   upgrade-roll      the page's helm upgrade -f my-values.yaml (a config change)
#                     to a second image with another BPF object: krsi's pod is
#                     replaced and the node's pinned programs are the new ones;
#                     a workload trying mprotect RW->RX throughout never succeeds; a container created while krsi is
#                     away runs under the fallback and is moved to its profile when
#                     krsi is back; the new node default confines a new pod; the
#                     page's upgrade command rolls nothing
#   profile-configmap profiles added by the page's helm upgrade --set-file and a
#                     values file: a pod naming localhost/NAME is confined by it,
#                     and krsi's pod was not restarted
#   admission         the chart refuses its own policy for a changed config (as the
#                     page says); the page's `krsi admission` policy rejects a
#                     forbidden annotation at kubectl apply, with krsi's message
#   uninstall         the page's helm uninstall: no krsi pins are left on the node
#   without-helm      the page's kubectl apply of deploy/kubernetes: Ready; its
#                     removal commands; krsi unload
#
# The page is docs/install.md's "Kubernetes quick start": every block of it
# runs here as written (test/k8s/docs.sh).
. /e2e/lib.sh || { echo "e2e: cannot read /e2e/lib.sh"; exit 1; }
e2e_enter_root "$0" "$@"
. /k8s/versions

K=/k8s
NS=krsi-system
export KUBECONFIG=$K/admin.kubeconfig
# /k8s/bin/kubectl and helm: test/k8s/client.sh, the real one run again when
# its request never reached the API server.
export PATH=/k8s/bin:/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
RUNTIME_NAME=containerd RUNTIME_LOG=$CONTAINERD_LOG
KRSI_LOG=/var/log/krsi-pod.log # kubectl logs of krsi's pods, refreshed by klogs
PROBE=/bin/krsi-probe
PINS=/sys/fs/bpf/krsi

kc() { kubectl --request-timeout=300s "$@"; }
# wait_for SECONDS COMMAND...: retry COMMAND until it succeeds, for SECONDS of
# wall time (lib.sh's counts tries, and a kubectl call takes seconds here).
# Says every minute what it is waiting for.
wait_for() {
	_end=$(($(date +%s) + $1)) _say=$(($(date +%s) + 60))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(date +%s)" -ge "$_end" ] && return 1
		if [ "$(date +%s)" -ge "$_say" ]; then
			echo "e2e:         ... still waiting for: $* [$(elapsed)]"
			_say=$(($(date +%s) + 60))
		fi
		sleep 1
	done
}
# klogs: krsi's pods' logs now (all of them, previous containers too).
klogs() {
	: >"$KRSI_LOG"
	for _p in $(kc -n $NS get pods -l app.kubernetes.io/name=krsi -o name 2>/dev/null); do
		kc -n $NS logs "$_p" --all-containers >>"$KRSI_LOG" 2>&1
	done
}
# pinned_object: OBJ, the BPF object id of the node's pinned set, as krsi
# status in krsi's pod says it (its output in OUT).
pinned_object() {
	OUT=$(kc -n $NS exec "$(krsi_pod)" -c krsi -- krsi status 2>&1)
	OBJ=$(echo "$OUT" | sed -n 's/^pinned set: object \([0-9a-f]*\) .*/\1/p')
}
krsi_pod() { kc -n $NS get pods -l app.kubernetes.io/name=krsi -o jsonpath='{.items[0].metadata.name}' 2>/dev/null; }
pod_ready() { [ "$(kc -n "${2:-default}" get pod "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
krsi_ready() { _kp=$(krsi_pod) && [ -n "$_kp" ] && pod_ready "$_kp" $NS; }
# kprobe POD WANT ARGS...: krsi-probe ARGS by kubectl exec in POD; its verdict is WANT.
kprobe() {
	_pod=$1 _want=$2
	shift 2
	OUT=$(kc exec "$_pod" -- $PROBE "$@" 2>&1)
	show "kubectl exec $_pod -- krsi-probe $*:" "$OUT"
	case $_want in
	ok) echo "$OUT" | grep -qx ok ;;
	denied) echo "$OUT" | grep -q '^denied: .*operation not permitted' ;;
	esac
}
# The scenario frame of lib.sh, with krsi's log read through the API server.
begin() {
	SC=$1 SC_OK=1 SHOWN=
	CMARK=$(log_mark "$RUNTIME_LOG")
	echo
	echo "e2e: === $1: $2 [$(elapsed)]"
}
# cluster_state: what explains a failed check, shown at the first one of a
# scenario (while it lasts: a later wait may outlive the VM's time limit).
cluster_state() {
	[ -z "$SHOWN" ] || return 0
	SHOWN=1
	# The node first: it answers when the API server does not.
	echo "e2e: the node: load, memory, busiest processes:"
	{ cat /proc/loadavg; grep -E '^(MemTotal|MemAvailable)' /proc/meminfo; top -b -n 1 | sed -n '2,16p'; } 2>&1 |
		cut -c1-200 | sed 's/^/e2e:   | /'
	dmesg | grep -iE 'out of memory|killed process|blocked for more' | tail -n 5 | sed 's/^/e2e:   | /'
	klogs
	echo "e2e: krsi's pods' logs (last 30 lines):"
	tail -n 30 "$KRSI_LOG" | sed 's/^/e2e:   | /'
	echo "e2e: pods:"
	kc get pods -A -o wide 2>&1 | sed 's/^/e2e:   | /'
	echo "e2e: krsi's DaemonSet:"
	kc -n $NS describe ds 2>&1 | grep -v '^ *$' | tail -n 25 | sed 's/^/e2e:   | /'
	echo "e2e: events (last 20):"
	kc get events -A --sort-by=.lastTimestamp 2>&1 | tail -n 20 | sed 's/^/e2e:   | /'
	for f in kube-controller-manager kubelet containerd; do
		echo "e2e: /var/log/$f.log (last 12 lines):"
		tail -n 12 /var/log/$f.log 2>&1 | cut -c1-300 | sed 's/^/e2e:   | /'
	done
}
on_not() { cluster_state; }
end() {
	if [ "$SC_OK" = 1 ]; then
		PASSED=$((PASSED + 1))
		echo "e2e: PASS $SC"
		return
	fi
	FAILED=$((FAILED + 1))
	FAILED_NAMES="$FAILED_NAMES $SC"
	cluster_state
	echo "e2e: FAIL $SC"
}

# --- the node ---------------------------------------------------------------------------
step() { echo "e2e: node: $* [$(elapsed)]"; }
die_node() {
	echo "e2e: node setup failed: $*"
	for f in /var/log/*.log; do echo "e2e: --- $f"; tail -n 25 "$f" | sed 's/^/e2e:   | /'; done
	echo "e2e: 0 passed, 1 failed"
	exit 1
}
step "network, modules, file systems"
# Mounts shared, as systemd makes them on every node: a Bidirectional
# volume (krsi's /sys/fs/bpf) needs its host path on a shared mount.
mount --make-rshared / || die_node "mount --make-rshared /"
# The kubelet's and containerd's state on a file system cadvisor knows (the
# initramfs root is none: "cannot find filesystem info for device rootfs").
mkdir -p /var/lib
mount -t tmpfs tmpfs /var/lib || die_node "mount a tmpfs on /var/lib"
mkdir -p /var/log /etc/cni/net.d /var/lib/etcd
[ -e /var/run ] || ln -s /run /var/run
echo "+cpu +cpuset +memory +pids +io +hugetlb" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
for m in llc stp bridge veth dummy; do insmod /lib/modules/k8s/$m.ko 2>/dev/null; done
hostname vmnode
ip link set lo up
ip addr add 10.0.0.10/24 dev dummy0 && ip link set dummy0 up && ip route add default via 10.0.0.1 dev dummy0 ||
	die_node "dummy0 (the node's address)"
printf '127.0.0.1 localhost\n10.0.0.10 vmnode\n' >/etc/hosts
: >/etc/resolv.conf
echo 0123456789abcdef0123456789abcdef >/etc/machine-id
# The kubelet reads /etc/passwd at start (user namespace mappings).
[ -e /etc/passwd ] || printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >/etc/passwd
[ -e /etc/group ] || printf 'root:x:0:\nnogroup:x:65534:\n' >/etc/group
sysctl -w net.ipv4.ip_forward=1 >/dev/null
cat >/etc/cni/net.d/10-bridge.conflist <<'EOF2'
{"cniVersion":"1.0.0","name":"k8svm","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}]}
EOF2

# containerd: NRI off at first (the install scenario turns it on).
mkdir -p /etc/nri/conf.d /opt/nri/plugins
write_containerd_config
sed -i "/io.containerd.nri.v1.nri/,/socket_path/ s/^\(\s*\)disable = false/\1disable = true/" "$CONTAINERD_CONF"
grep -q "disable = true" "$CONTAINERD_CONF" || die_node "could not turn NRI off in $CONTAINERD_CONF"
start_containerd || die_node "containerd"
step "importing images"
for t in /e2e/images/*.tar; do
	ctr -n k8s.io images import --local --platform linux/amd64 --snapshotter native "$t" >/dev/null ||
		die_node "ctr images import $t"
done
for _ref in "$KRSI_IMAGE_REF" "$KRSI_NEXT_IMAGE_REF"; do
	ctr -n k8s.io images ls -q | grep -qx "$_ref" || die_node "krsi's image $_ref is not in containerd"
done

step "etcd and the control plane"
P=$K/pki
# supervise LOG COMMAND...: run COMMAND again whenever it exits, as systemd's
# Restart=always does on a node: under TCG the controller manager can give up
# on a slow API server ("TLS handshake timeout") and exit.
supervise() {
	_log=$1
	shift
	(while :; do
		"$@" >>"$_log" 2>&1
		echo "e2e: supervise: $1 exited with status $?, starting it again" >>"$_log"
		sleep 2
	done) &
}
etcd --name vmnode --data-dir /var/lib/etcd --unsafe-no-fsync --listen-client-urls http://127.0.0.1:2379 \
	--advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
	--initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster vmnode=http://127.0.0.1:2380 \
	>/var/log/etcd.log 2>&1 &
wait_for 120 wget -qO- http://127.0.0.1:2379/health || die_node "etcd"
# --request-timeout: under emulation, with the machine busy, a write can take
# over the default minute ("Timeout: request did not complete within requested
# timeout" failed helm install once).
kube-apiserver --etcd-servers=http://127.0.0.1:2379 --advertise-address=10.0.0.10 --secure-port=6443 \
	--tls-cert-file=$P/apiserver.crt --tls-private-key-file=$P/apiserver.key --client-ca-file=$P/ca.crt \
	--kubelet-client-certificate=$P/admin.crt --kubelet-client-key=$P/admin.key \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local --service-account-key-file=$P/sa.pub \
	--service-account-signing-key-file=$P/sa.key --service-cluster-ip-range=10.96.0.0/16 \
	--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
	--request-timeout=5m --profiling=false >/var/log/kube-apiserver.log 2>&1 &
wait_for 600 kubectl get --raw /readyz || die_node "kube-apiserver"
# Only the controllers the scenarios use: under emulation the controller
# manager took over 20 minutes to start all forty-odd of them (a default
# ServiceAccount came only after the resource quota's monitors), beside a busy
# kernel-suite VM. ServiceAccounts and their tokens, kube-root-ca.crt (every
# pod's token volume), DaemonSets, Deployments and their ReplicaSets, the
# garbage collector (helm uninstall and kubectl delete cascade to pods),
# namespace deletion (the page's uninstall), and the node lifecycle: the API
# server's TaintNodesByCondition admission taints a new node not-ready, and
# only that controller lifts the taint once the node is Ready.
supervise /var/log/kube-controller-manager.log kube-controller-manager --kubeconfig=$KUBECONFIG --service-account-private-key-file=$P/sa.key \
	--root-ca-file=$P/ca.crt --cluster-signing-cert-file=$P/ca.crt --cluster-signing-key-file=$P/ca.key \
	--use-service-account-credentials=true --leader-elect=false \
	--controllers=serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,daemonset-controller,deployment-controller,replicaset-controller,garbage-collector-controller,namespace-controller,node-lifecycle-controller
supervise /var/log/kube-scheduler.log kube-scheduler --kubeconfig=$KUBECONFIG --leader-elect=false
cat >$K/kubelet.yaml <<EOF2
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
failSwapOn: false
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $P/ca.crt}}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [10.96.0.10]
resolvConf: /etc/resolv.conf
runtimeRequestTimeout: 10m
# ConfigMap volumes: the kubelet's default sync (1 min plus its cache TTL) is
# what an operator gets; kept.
EOF2
step "kubelet"
kubelet --config=$K/kubelet.yaml --kubeconfig=$K/kubelet.kubeconfig --hostname-override=vmnode \
	--node-ip=10.0.0.10 >/var/log/kubelet.log 2>&1 &
KUBELET_PID=$!
# A dead kubelet ends the wait at once.
node_ready() {
	kill -0 "$KUBELET_PID" 2>/dev/null || return 0
	[ "$(kubectl get node vmnode -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for 600 node_ready && kill -0 "$KUBELET_PID" 2>/dev/null ||
	{ kubectl describe node vmnode | tail -n 40; die_node "node vmnode not Ready"; }
# The controller manager makes it once its caches sync: minutes under TCG.
wait_for 600 kubectl get serviceaccount default || die_node "no default ServiceAccount"
# helm validates a chart's objects against the API server's OpenAPI document,
# which the API server builds on the first request: under emulation that took
# longer than helm waits ("failed to download openapi"). A running cluster has
# it built already; ask for it once here, with time to spare.
wait_for 600 kc get --raw /openapi/v2 || die_node "the API server did not serve /openapi/v2"
step "node Ready: Kubernetes $K8S_VERSION, etcd $ETCD_VERSION, containerd $E2E_CONTAINERD_VERSION"

# Values of the test install: krsi's own image as imported (no registry here),
# probes and the API server address the node reaches (no kube-proxy here).
repo_tag=${KRSI_IMAGE_REF%:*}
tag=${KRSI_IMAGE_REF##*:}
cat >$K/values.yaml <<EOF2
image:
  repository: $repo_tag
  tag: "$tag"
  pullPolicy: Never
uninstall:
  apiServer: https://10.0.0.10:6443
probes:
  # Emulated CPU: loading and verifying the programs takes minutes.
  startup:
    failureThreshold: 120
EOF2

# docs/install.md's "Kubernetes quick start", block by block (test/k8s/docs.sh
# extracted them; the page cannot gain a block the test does not run).
DOCS=$K/docs
# The page's file blocks (my-values.yaml, web.yaml) saved where its commands
# run, as a reader following it does.
for _f in "$DOCS"/*; do
	case $_f in *.sh) ;; *) cp "$_f" $K/repo/ ;; esac
done
# doc NAME: run the page's block NAME as written, from a copy of the
# repository's layout, echoing each command; its output is in OUT. helm install
# and upgrade also get the test's values (the image as imported: there is no
# registry here; the probes' and the API server's settings of this node).
# doc_follow COMMAND: a command the page says follows until Ctrl-C must still
# be running after 20 s; then it is ended (SIGTERM: a background job of a
# script ignores SIGINT).
# doc -r NAME: the same for a block that only reads, or whose writes are the
# same when repeated (helm upgrade to the same chart and values), run again (up
# to three times) when kubectl or helm could not reach the API server: an
# emulated API server on a busy machine misses client-go's 10 s TLS handshake
# now and then (a request that never got to it), and that is not what the
# test is about.
doc() {
	_tries=1
	if [ "$1" = -r ]; then
		_tries=3
		shift
	fi
	while :; do
		doc_once "$1" && return 0
		_rc=$?
		_tries=$((_tries - 1))
		[ "$_tries" -gt 0 ] && { contains "$OUT" "Unable to connect to the server" ||
			contains "$OUT" "TLS handshake timeout"; } || return $_rc
		echo "e2e:         (the API server was not reachable; running $1 again)"
		sleep 10
	done
}
doc_once() {
	OUT=$(cd $K/repo && timeout 900 sh -c "
		helm() { case \$1 in install | upgrade) command helm \"\$@\" -f $K/values.yaml ;; *) command helm \"\$@\" ;; esac; }
		doc_follow() {
			\"\$@\" >/tmp/doc-follow.out 2>&1 &
			_p=\$!
			sleep 20
			kill -0 \$_p 2>/dev/null || { cat /tmp/doc-follow.out; echo \"doc_follow: it ended by itself\"; return 1; }
			kill \$_p; wait \$_p || true
			cat /tmp/doc-follow.out
		}
		set -ex
		. $DOCS/$1.sh" 2>&1)
	_rc=$?
	show "docs/install.md $1:" "$OUT"
	return $_rc
}

# A pod of the test image: pod NAME [ANNOTATIONS_YAML] [COMMAND_JSON].
pod() {
	# The default is set here, not in the here-document: there, quotes inside
	# ${3:-...} are removed and "3600" would become a number.
	_cmd=${3:-'[/bin/sleep, "3600"]'}
	cat <<EOF2 | kc apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata:
  name: $1
  annotations: {${2:-}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: localhost/krsi-test:1
    imagePullPolicy: Never
    command: $_cmd
EOF2
}
wait_running() { wait_for "${2:-300}" pod_ready "$1" "${3:-default}"; }

# --- scenarios ---------------------------------------------------------------------------
if want install; then
	begin install "helm install (docs/install.md); Ready only once NRI is connected"
	check "the page's install commands succeed" doc install
	has_pod() { [ -n "$(krsi_pod)" ] && [ "$(kc -n $NS get pod "$(krsi_pod)" -o jsonpath='{.status.phase}')" = Running ]; }
	check "krsi's pod runs" wait_for 600 has_pod
	# NRI is off: krsi cannot connect, and must not say it is ready.
	sleep 60
	check "while the runtime's NRI is off, krsi's pod is not Ready" eval '! krsi_ready'
	show "readiness:" "$(kc -n $NS describe pod "$(krsi_pod)" | grep -i 'readiness probe failed' | tail -n 1)"
	step "containerd restarted with NRI on"
	stop_runtime
	write_containerd_config
	start_containerd
	check "with NRI on, krsi's pod turns Ready" wait_for 300 krsi_ready
	synced() { klogs; grep -q "synchronized with the runtime" "$KRSI_LOG"; }
	check "krsi's log says it synchronized with the runtime" wait_for 120 synced
	check "the page's verify commands succeed" doc -r verify
	check "... and krsi's log they show says it synchronized" contains "$OUT" "synchronized with the runtime"
	check "the page's krsi status (ds/krsi) succeeds" doc -r verify-status
	check "... and says every program is attached" eval 'echo "$OUT" | grep -Eq "krsi: .*([0-9]+) of \1 programs attached"'
	check "the page's per-node status and events succeed" doc -r verify-node
	check "... and krsi events follows the events socket" contains "$OUT" "following events from"
	end
fi

if want wx-deployment; then
	begin wx-deployment "a Deployment annotated builtin/wx"
	cat <<EOF2 | kc apply -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {profile.krsi.dev/container.app: builtin/wx}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: app, image: localhost/krsi-test:1, imagePullPolicy: Never, command: [/bin/sleep, "3600"]}
EOF2
	pod plain
	web_pod() { kc get pods -l app=web -o jsonpath='{.items[0].metadata.name}'; }
	web_running() { _w=$(web_pod) && [ -n "$_w" ] && pod_ready "$_w"; }
	check "the Deployment's pod runs" wait_for 300 web_running
	check "the pod with no annotation runs" wait_running plain
	W=$(web_pod)
	check "mprotect RW->RX in the Deployment's pod is EPERM" kprobe "$W" denied mprotect-rw-rx
	check "mprotect RW->RX in the pod with no annotation succeeds" kprobe plain ok mprotect-rw-rx
	wait_event() { klogs; grep "denied" "$KRSI_LOG" | grep "$W" | grep -q "namespace.*default"; }
	check "krsi's event in kubectl logs names the pod and namespace" wait_for 30 wait_event
	ev=$(grep denied "$KRSI_LOG" | grep "$W" | tail -n 1)
	show "event:" "$ev"
	check "... and the container" contains "$ev" '"container":"app"'
	end
fi

if want bad-annotation; then
	begin bad-annotation "an annotation naming no profile: the pod's events say why"
	check "the pod is created" pod bad '"profile.krsi.dev/container.app": "builtin/nope"'
	said() {
		kc get events --field-selector involvedObject.name=bad -o jsonpath='{range .items[*]}{.message}{"\n"}{end}' |
			grep 'builtin/nope' | grep -q krsi
	}
	check "the pod's events carry krsi's message" wait_for 240 said
	show "event:" "$(kc get events --field-selector involvedObject.name=bad -o jsonpath='{range .items[*]}{.message}{"\n"}{end}' | grep nope | tail -n 1)"
	check "the pod exists and does not run" eval 'kc get pod bad >/dev/null && ! pod_ready bad'
	kc delete pod bad --wait=false >/dev/null 2>&1
	end
fi

if want upgrade-roll; then
	begin upgrade-roll "helm upgrade with the page's values file rolls krsi's pod with no enforcement gap"
	# A workload that tries mprotect RW->RX once a second throughout, and a pod
	# whose container is created only when the test says so (its init container
	# waits for a file on the node): while krsi is away.
	mkdir -p /run/k8s-trigger
	cat <<'EOF2' | kc apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata:
  name: wxloop
  annotations: {profile.krsi.dev/container.app: builtin/wx}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: localhost/krsi-test:1
    imagePullPolicy: Never
    command: [/bin/sh, -c, "while :; do /bin/krsi-probe mprotect-rw-rx >>/tmp/wx.log 2>&1; sleep 1; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: during
  annotations: {profile.krsi.dev/container.app: builtin/no-shell}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: wait
    image: localhost/krsi-test:1
    imagePullPolicy: Never
    command: [/bin/sh, -c, "until [ -e /trigger/go ]; do sleep 0.2; done"]
    volumeMounts: [{name: trigger, mountPath: /trigger}]
  containers:
  - {name: app, image: localhost/krsi-test:1, imagePullPolicy: Never, command: [/app/sleep, "3600"]}
  volumes:
  - {name: trigger, hostPath: {path: /run/k8s-trigger}}
---
# The Prometheus Operator's ServiceMonitor kind, which the page's values file
# asks the chart for (a stand-in: no schema, no operator).
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
EOF2
	check "the W^X loop runs" wait_running wxloop
	init_running() { [ "$(kc get pod during -o jsonpath='{.status.initContainerStatuses[0].state.running}')" != "" ]; }
	check "the second pod waits in its init container" wait_for 300 init_running
	crd() { kc get --raw /apis/monitoring.coreos.com/v1 >/dev/null; }
	check "the ServiceMonitor kind is served" wait_for 60 crd
	old=$(kc -n $NS get pod "$(krsi_pod)" -o jsonpath='{.metadata.uid}')
	# From one image to another whose BPF object differs (issue 16): the test's
	# values move to the image built with krsi_upgrade_test, so the page's
	# upgrade replaces the node's pinned programs as a release would.
	pinned_object
	obj_before=$OBJ
	show "pinned set before:" "$OUT"
	check "krsi's first image pinned its programs" test -n "$obj_before"
	sed -i "s|^  tag: .*|  tag: \"${KRSI_NEXT_IMAGE_REF##*:}\"|" $K/values.yaml
	# The page's values file: builtin/wx for every container not exempt, a
	# policy, the metrics Service and ServiceMonitor. A config change rolls.
	check "the page's helm upgrade -f my-values.yaml (and the next image) succeeds" doc -r configure
	check "the old krsi leaves the node" wait_for 300 no_krsi
	touch /run/k8s-trigger/go
	app_running() { [ "$(kc get pod during -o jsonpath='{.status.containerStatuses[0].state.running}')" != "" ]; }
	check "the second pod's container is created" wait_for 300 app_running
	new_ready() { _u=$(kc -n $NS get pod "$(krsi_pod)" -o jsonpath='{.metadata.uid}') && [ "$_u" != "$old" ] && krsi_ready; }
	check "a new krsi pod turns Ready" wait_for 600 new_ready
	new=$(kc -n $NS get pod "$(krsi_pod)" -o jsonpath='{.metadata.uid}')
	check "the new pod runs the next image" eval \
		'[ "$(kc -n $NS get pod "$(krsi_pod)" -o jsonpath="{.spec.containers[0].image}")" = "$KRSI_NEXT_IMAGE_REF" ]'
	pinned_object
	obj_after=$OBJ
	show "krsi status:" "$OUT"
	check "the pinned programs are now the next image's BPF object, not the first's" eval \
		'[ -n "$obj_after" ] && [ "$obj_after" != "$obj_before" ] && contains "$OUT" "this krsi: object $obj_after "'
	moved() { klogs; grep '"pod":"during"' "$KRSI_LOG" | grep -q "ran under the fallback profile"; }
	check "krsi moved the container created while it was away from the fallback" wait_for 60 moved
	show "krsi log:" "$(grep '"pod":"during"' "$KRSI_LOG" | grep fallback | tail -n 1)"
	check "that container is now confined by its own profile (no shell)" eval \
		'! kc exec during -- /bin/sh -c true >/dev/null 2>&1'
	sleep 3
	log=$(kc exec wxloop -- cat /tmp/wx.log 2>&1)
	n_ok=$(echo "$log" | grep -cx ok)
	n_denied=$(echo "$log" | grep -c '^denied: .*operation not permitted')
	show "W^X loop:" "$n_denied denied, $n_ok succeeded"
	check "the loop's mprotect RW->RX never succeeded across the roll" is "$n_ok" 0
	check "... and it kept trying (30 or more denials)" test "$n_denied" -ge 30
	pod plain2
	check "a new pod with no annotation runs" wait_running plain2
	check "... confined by the node default of the values file, builtin/wx" kprobe plain2 denied mprotect-rw-rx
	check "the values file's metrics Service and ServiceMonitor exist" eval \
		'kc -n $NS get service krsi-metrics >/dev/null && kc -n $NS get servicemonitor krsi >/dev/null'
	# The page's upgrade: same chart and values, so nothing rolls.
	check "the page's helm upgrade --reset-then-reuse-values and rollout status succeed" doc -r upgrade
	check "... and krsi's pod stayed" eval '[ "$(kc -n $NS get pod "$(krsi_pod)" -o jsonpath="{.metadata.uid}")" = "$new" ] && krsi_ready'
	end
fi

if want profile-configmap; then
	begin profile-configmap "profiles added through the chart reach the node with no restart"
	before=$(kc -n $NS get pod "$(krsi_pod)" -o jsonpath='{.metadata.uid}/{.status.containerStatuses[0].restartCount}')
	check "the page's profile check and helm upgrade --set-file succeed" doc -r add-profile
	cat >$K/values-profiles.yaml <<'EOF2'
profiles:
  conf-ro.yaml: |
    apiVersion: krsi.dev/v1
    kind: Profile
    name: conf-ro
    description: /etc/app.conf may be read, not changed
    files:
      rules:
        - path: /etc/app.conf
          allow: [read]
          deny: [write]
EOF2
	out=$(helm upgrade krsi $K/repo/deploy/helm/krsi -n $NS --reuse-values -f $K/values-profiles.yaml 2>&1)
	check "helm upgrade with a values file of profiles succeeds" is "$?" 0
	show "helm upgrade:" "$(echo "$out" | head -n 3)"
	# The kubelet updates the ConfigMap volume within its sync period (about a
	# minute); krsi's catalog watches the folder.
	loaded() { klogs; grep -q '"profile":"localhost/conf-ro"' "$KRSI_LOG" && grep -q '"profile":"localhost/web"' "$KRSI_LOG"; }
	check "krsi loads localhost/web and localhost/conf-ro from the ConfigMap" wait_for 240 loaded
	show "krsi log:" "$(grep -e localhost/conf-ro -e localhost/web "$KRSI_LOG" | tail -n 2)"
	pod conf '"profile.krsi.dev/container.app": "localhost/conf-ro"'
	check "a pod naming localhost/conf-ro runs" wait_running conf
	check "/etc/app.conf reads" kprobe conf ok open /etc/app.conf r
	check "/etc/app.conf cannot be opened for writing" kprobe conf denied open /etc/app.conf w
	after=$(kc -n $NS get pod "$(krsi_pod)" -o jsonpath='{.metadata.uid}/{.status.containerStatuses[0].restartCount}')
	show "krsi pod uid/restarts:" "before $before, after $after"
	check "krsi's pod was neither replaced nor restarted" is "$before" "$after"
	end
fi

if want admission; then
	begin admission "the admission policy rejects a forbidden annotation at apply"
	# The node config now differs from the chart's defaults (the values file's
	# policy), and the page says the chart refuses its own policy then.
	doc admission-chart
	check "the page's helm upgrade --set admission.enabled=true is refused with a non-default config" is "$?" 1
	check "... saying to generate the policy with krsi admission" contains "$OUT" "krsi admission --config"
	check "the page's krsi admission and kubectl apply succeed" doc admission-generated
	refused() {
		OUT=$(pod unconf '"profile.krsi.dev/container.app": "unconfined"' 2>&1)
		contains "$OUT" "may not opt out of krsi"
	}
	# The API server reads a new policy within a few seconds.
	check "a pod asking for unconfined is rejected at kubectl apply with krsi's message" wait_for 60 refused
	show "kubectl apply:" "$OUT"
	check "no such pod exists" eval '! kc get pod unconf >/dev/null 2>&1'
	end
fi

if want uninstall; then
	begin uninstall "helm uninstall (docs/install.md) leaves no pins on the node"
	check "there are pins before" test -n "$(ls $PINS 2>/dev/null)"
	check "the page's helm uninstall, wait and namespace delete succeed" doc uninstall
	check "krsi leaves the node" wait_for 300 no_krsi
	check "no krsi pins are left in /sys/fs/bpf" eval '[ -z "$(ls $PINS 2>/dev/null)" ]'
	show "pins:" "$(ls $PINS 2>&1 | head -n 5)"
	end
fi

if want without-helm; then
	begin without-helm "the rendered manifests (docs/install.md, without Helm)"
	# deploy/kubernetes/daemonset.yaml names the release image; this node has
	# krsi's image under its build tag: tag it as the manifest asks.
	ctr -n k8s.io images tag "$KRSI_IMAGE_REF" \
		"$(sed -n 's/^ *image: *//p' $K/repo/deploy/kubernetes/daemonset.yaml | head -n 1)" >/dev/null 2>&1
	check "the page's kubectl apply of the manifests succeeds" doc without-helm
	check "krsi's pod turns Ready" wait_for 600 krsi_ready
	check "the page's removal commands succeed" doc without-helm-remove
	check "krsi leaves the node" wait_for 300 no_krsi
	# The node has no kube-proxy: the stopping pod cannot reach the API server
	# at its service IP and keeps the pins, as the page says for that case;
	# the page's remedy is krsi unload on the node.
	check "krsi unload on the node removes what is left" eval 'krsi unload >/dev/null 2>&1 && [ -z "$(ls $PINS 2>/dev/null)" ]'
	end
fi

echo
[ -s /var/log/kubectl-retries.log ] && show "kubectl and helm calls run again (API server not reachable):" "$(cat /var/log/kubectl-retries.log)"
echo "e2e: $PASSED passed, $FAILED failed${FAILED_NAMES:+ (failed:$FAILED_NAMES)} [$(elapsed)]"
[ "$FAILED" -eq 0 ]
