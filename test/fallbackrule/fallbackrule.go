// Package fallbackrule is the kernel's fail-closed rule (bpf/progs/cgroup.h:
// bind_fallback, is_pod_cgroup, is_runtime_helper) as a table of cases, and
// the same rule in Go for the in-memory enforcer of the plugin's tests. The
// kernel test (test/kernel TestFallbackRuleDecidesEveryCase) runs the cases
// against the C, this package's test against Binds: a change to one rule
// that the other does not follow fails one of the two.
package fallbackrule

import (
	"path/filepath"
	"strings"

	"github.com/krsi-dev/krsi/enforced"
)

// Parent is a marked parent: a path below the tree the cases are made in.
type Parent struct {
	Path string
	Kind enforced.ParentKind
}

// Parents are the marked parents of Cases: the kubelet's QoS levels under
// both cgroup drivers (kubepods-burstable.slice left unmarked, as when a
// node's config lists only the top) and containerd's /k8s.io.
var Parents = []Parent{
	{"kubepods", enforced.ParentOfPods},
	{"kubepods/besteffort", enforced.ParentOfPods},
	{"kubepods.slice", enforced.ParentOfPods},
	{"kubepods.slice/kubepods-besteffort.slice", enforced.ParentOfPods},
	{"k8s.io", enforced.ParentOfContainers},
}

// Case is a cgroup made below the tree, after the cases before it (each
// case's parent is an earlier case), and whether the kernel binds it to the
// fallback. No case lies below one the rule binds: the children of a bound
// cgroup inherit its binding, which is another rule.
type Case struct {
	Path     string
	Fallback bool
	Why      string
}

// Cases are the decisions of the rule, for the layouts of both cgroup
// drivers and both runtimes.
var Cases = []Case{
	{"kubepods", false, "a marked parent below an unmarked one"},
	{"kubepods/besteffort", false, "a QoS level: a child of a PODS parent"},
	{"kubepods/besteffort/pod1", false, "a pod: a child of a PODS parent"},
	{"kubepods/besteffort/pod1/4f0c1a2b", true, "a container: a child of a pod under a PODS parent"},
	{"kubepods/besteffort/pod1/crio-4f0c1a2c", true, "a CRI-O container"},
	{"kubepods/besteffort/pod1/crio-conmon-4f0c1a2c", false, "CRI-O's conmon next to the containers"},
	{"kubepods/besteffort/other", false, "a child of a PODS parent"},
	{"kubepods/besteffort/other/ctr", false, "its parent's name is not a pod's"},
	{"kubepods/pod2", false, "a guaranteed pod, right in /kubepods"},
	{"kubepods/pod2/ctr", true, "a guaranteed pod's container"},
	{"kubepods.slice", false, "a marked parent below an unmarked one"},
	{"kubepods.slice/kubepods-besteffort.slice", false, "a QoS slice, marked"},
	{"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod3.slice", false, "a pod slice"},
	{"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod3.slice/cri-containerd-3.scope", true, "a containerd scope"},
	{"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod3.slice/crio-conmon-3.scope", false, "conmon's scope"},
	{"kubepods.slice/kubepods-pod4.slice", false, "a guaranteed pod slice"},
	{"kubepods.slice/kubepods-pod4.slice/crio-4.scope", true, "a guaranteed pod's CRI-O scope"},
	{"kubepods.slice/kubepods-burstable.slice", false, "an unmarked QoS slice: a child of a PODS parent"},
	{"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5.slice", false,
		"a QoS slice is not a pod though its name has \"pod\" in it (kubepods-)"},
	{"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5.slice/crio-5.scope", false,
		"two levels below the marked parent"},
	{"kubepods.slice/kubepods-other.slice", false, "a child of a PODS parent"},
	{"kubepods.slice/kubepods-other.slice/ctr", false, "kubepods-other.slice is not a pod's name"},
	{"k8s.io", false, "a marked parent"},
	{"k8s.io/4f0c1a2d", true, "a container: a child of a CONTAINERS parent"},
	{"k8s.io/crio-conmon-4f0c1a2d", false, "conmon, under a CONTAINERS parent too"},
	{"pod6", false, "unmarked parent"},
	{"pod6/ctr", false, "a pod's shape under an unmarked parent"},
}

// Binds says whether a new cgroup at path, with nothing staged for it and an
// unbound parent, gets the fallback binding; marked are the marked parents
// by path.
func Binds(path string, marked map[string]enforced.ParentKind) bool {
	parent := filepath.Dir(path)
	if kind, ok := marked[parent]; ok {
		if kind != enforced.ParentOfContainers {
			return false // a pod cgroup or a QoS level
		}
	} else if marked[filepath.Dir(parent)] != enforced.ParentOfPods || !isPod(filepath.Base(parent)) {
		return false
	}
	return !isRuntimeHelper(filepath.Base(path))
}

// isPod is is_pod_cgroup: the kubelet's names for a pod's cgroup, cgroupfs
// and systemd drivers.
func isPod(name string) bool {
	for _, prefix := range []string{"pod", "kubepods-pod", "kubepods-besteffort-pod", "kubepods-burstable-pod"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// isRuntimeHelper is is_runtime_helper: CRI-O's conmon, placed next to the
// containers of a pod.
func isRuntimeHelper(name string) bool { return strings.HasPrefix(name, "crio-conmon-") }
