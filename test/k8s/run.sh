#!/usr/bin/env bash
# krsi on a real one-node Kubernetes, in the BPF-LSM VM: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kubelet (built from the Go module
# proxy by test/k8s/build.sh), containerd 2.4.2 with NRI and runc, bridge CNI,
# and krsi installed with its Helm chart from its own image (make image).
# Every step goes through the API server with kubectl and helm
# (test/k8s/k8s.sh, run inside the VM, lists the scenarios).
#
#   test/k8s/run.sh [--keep]
#
# Prints each scenario's "e2e: PASS|FAIL <name>" line as the VM runs and last
# "e2e: N passed, M failed"; exits non-zero if a scenario failed or the VM gave
# no result. A fresh machine first builds Kubernetes (~15 min on 2 cores),
# containerd (~3 min) and helm (~2 min), once; a run is then ~30-45 min of VM time.
#
# Environment: KRSI_CACHE (cache, default <repo>/.cache), KRSI_VM_TIMEOUT (default
# 80m), E2E_ONLY ("scenario ..."), KRSI_VM_MEM (default 4096).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KRSI_CACHE:-$repo/.cache}
export KRSI_CACHE=$cache
keep=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--keep) keep=(--keep); shift ;;
	-h | --help) sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) echo "k8s: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
log() { echo "k8s: $*"; }
die() { echo "k8s: ERROR: $*" >&2; exit 1; }
t0=$(date +%s.%N)
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0fs", e - s }'; }

tools=$(bash "$here/build.sh" | tee -a /dev/stderr | tail -n 1)
[[ -d $tools ]] || die "build.sh gave no tools folder"
. "$tools/versions"
e2e_root=$(bash "$repo/test/e2e/build.sh" | tee -a /dev/stderr | tail -n 1)
[[ -d $e2e_root ]] || die "test/e2e/build.sh gave no overlay folder"
helm=$(bash "$repo/test/helm/helm.sh" --path)
[[ -x $helm ]] || die "test/helm/helm.sh gave no helm binary"
log "building krsi's image (make image)"
make -C "$repo" --no-print-directory image IMAGE_PLATFORMS=linux/amd64 >&2
image_tar=$repo/bin/krsi-image.tar
[[ -r $image_tar ]] || die "make image made no $image_tar"
# A second image whose BPF object differs (the upgrade test object, build tag
# krsi_upgrade_test): the upgrade-roll scenario's helm upgrade goes to it.
image_ref=$(make -C "$repo" --no-print-directory -s image-ref)
next_ref=$image_ref-next
log "building the image to upgrade to ($next_ref, BPF object of -tags krsi_upgrade_test)"
make -C "$repo" --no-print-directory image IMAGE_PLATFORMS=linux/amd64 TAG="${next_ref##*:}" \
	IMAGE_GOTAGS=krsi_upgrade_test IMAGE_TAR=bin/krsi-image-next.tar >&2
next_tar=$repo/bin/krsi-image-next.tar
[[ -r $next_tar ]] || die "make image made no $next_tar"

out=$cache/k8s/root
log "assembling $out"
rm -rf "$out"
mkdir -p "$out"/{usr/local/bin,opt/cni/bin,k8s/pki,lib/modules/k8s}
# The end-to-end suite may rebuild that overlay meanwhile (make test's other
# lane): copy it under test/e2e/build.sh's lock.
flock "$e2e_root/../.lock" cp -a "$e2e_root/." "$out/"
cp "$tools/kubernetes-$K8S_VERSION"/* "$tools/etcd-$ETCD_VERSION/etcd" "$helm" "$out/usr/local/bin/"
cp "$tools/cni-$CNI_VERSION"/* "$out/opt/cni/bin/"
cp "$image_tar" "$out/e2e/images/krsi.tar"
cp "$next_tar" "$out/e2e/images/krsi-next.tar"
# The repository's layout for docs/install.md's commands (k8s.sh runs them
# from /k8s/repo): the chart, the rendered manifests, bin/krsi.
mkdir -p "$out/k8s/repo/deploy/helm" "$out/k8s/repo/bin"
cp -r "$repo/deploy/helm/krsi" "$out/k8s/repo/deploy/helm/krsi"
cp -r "$repo/deploy/kubernetes" "$out/k8s/repo/deploy/kubernetes"
ln -s /bin/krsi "$out/k8s/repo/bin/krsi"
bash "$here/docs.sh" "$repo/docs/install.md" "$out/k8s/docs"
cp "$here/k8s.sh" "$out/k8s/"
mkdir -p "$out/k8s/bin"
install -m 0755 "$here/client.sh" "$out/k8s/bin/kubectl"
install -m 0755 "$here/client.sh" "$out/k8s/bin/helm"
printf 'K8S_VERSION=%s\nETCD_VERSION=%s\nCNI_VERSION=%s\nKRSI_IMAGE_REF=%s\nKRSI_NEXT_IMAGE_REF=%s\n' \
	"$K8S_VERSION" "$ETCD_VERSION" "$CNI_VERSION" "$image_ref" "$next_ref" >"$out/k8s/versions"
printf 'E2E_ONLY=%q\n' "${E2E_ONLY:-}" >"$out/e2e/env"

# The bridge CNI's kernel modules, from the 6.1 kernel the VM boots (uncompressed:
# busybox insmod).
rel=$(basename "$(ls /boot/vmlinuz-6.1.* | sort -V | tail -n 1)")
rel=${rel#vmlinuz-}
for m in net/llc/llc net/802/stp net/bridge/bridge drivers/net/veth drivers/net/dummy; do
	ko=$(ls /lib/modules/"$rel"/kernel/$m.ko* 2>/dev/null | head -n 1)
	[[ -n $ko ]] || die "no module $m for $rel under /lib/modules"
	case $ko in
	*.xz) xz -dc "$ko" ;;
	*.zst) zstd -dc "$ko" ;;
	*) cat "$ko" ;;
	esac >"$out/lib/modules/k8s/$(basename "$m").ko"
done

# The cluster's PKI, new each run: a CA, the API server's serving certificate,
# client certificates for the admin (system:masters) and the kubelet
# (system:node:vmnode), the service account key pair.
pki=$out/k8s/pki
ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 2 -subj /CN=krsi-test-ca
cert() { # cert NAME SUBJECT [SAN]
	ossl req -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "$2"
	if [[ -n ${3:-} ]]; then
		printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$pki/$1.ext"
	else
		printf 'extendedKeyUsage=clientAuth\n' >"$pki/$1.ext"
	fi
	ossl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
		-out "$pki/$1.crt" -days 2 -extfile "$pki/$1.ext"
	rm -f "$pki/$1.csr" "$pki/$1.ext"
}
cert apiserver /CN=kube-apiserver \
	"DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:10.0.0.10,IP:10.96.0.1"
cert admin "/O=system:masters/CN=kubernetes-admin"
cert kubelet "/O=system:nodes/CN=system:node:vmnode"
ossl genrsa -out "$pki/sa.key" 2048
ossl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
for who in admin kubelet; do
	cat >"$out/k8s/$who.kubeconfig" <<-EOF
	apiVersion: v1
	kind: Config
	clusters:
	- name: vm
	  cluster: {server: "https://127.0.0.1:6443", certificate-authority: /k8s/pki/ca.crt}
	users:
	- name: $who
	  user: {client-certificate: /k8s/pki/$who.crt, client-key: /k8s/pki/$who.key}
	contexts:
	- name: vm
	  context: {cluster: vm, user: $who}
	current-context: vm
	EOF
done
log "build done in $(since "$t0"); overlay $(du -sh "$out" | cut -f1)"

logf=$cache/k8s/6.1.log
set +e +o pipefail
KRSI_VM_EXTRA=$out KRSI_VM_RUN_DIR=$cache/k8s/vm KRSI_VM_MEM=${KRSI_VM_MEM:-4096} KRSI_VM_TIMEOUT=${KRSI_VM_TIMEOUT:-80m} \
	KRSI_VM_PACKAGES=./test/vm/selftest \
	bash "$repo/test/vm/run.sh" --kernel 6.1 "${keep[@]+"${keep[@]}"}" --cmd "$here/k8s.sh" 2>&1 | tee "$logf"
rc=${PIPESTATUS[0]}
set -e -o pipefail
# k8s.sh's last line: "e2e: N passed, M failed", then the failed names and the
# elapsed time (the parse once required the line to end at "failed": every run,
# a passing one too, ended in "the VM gave no result").
line=$(sed -n 's/^\[6.1\] \(e2e: [0-9]* passed, [0-9]* failed\).*$/\1/p' "$logf" | tail -n 1)
log "total wall time $(since "$t0") (log $logf)"
[[ -n $line ]] || die "the VM gave no result (see $logf)"
grep -E '^\[6.1\] e2e: FAIL ' "$logf" | sed 's/^\[6.1\] /k8s: /' || true
echo "k8s: ${line#e2e: }"
[[ $rc -eq 0 ]] && ! grep -q ' [1-9][0-9]* failed' <<<"$line"
