package plugin

import (
	"context"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/cgroup"
)

// ValidateContainerAdjustment is NRI's last step before the runtime creates
// a container, after every plugin's CreateContainer (runtimes with NRI
// validation: containerd >= 2.2; CRI-O 1.34 vendors NRI v0.9 and never calls
// it). Implementing it subscribes krsi to it, which does two things:
//
//   - If another plugin moved the container's cgroup (a cgroups_path
//     adjustment), krsi's staging would name the old path and the kernel
//     would give the new cgroup the fallback instead of the selected
//     profile: krsi stages the new path.
//   - The runtime asks every validator it had when the request began. If
//     krsi timed out in this very request's CreateContainer, the runtime has
//     closed its connection, the call fails, and the runtime refuses the
//     container ("validator plugin krsi failed"), where otherwise a timed-out
//     plugin still counts as present for the request. The next attempt is
//     created without krsi, under the kernel's fallback.
func (p *Plugin) ValidateContainerAdjustment(_ context.Context, req *api.ValidateContainerAdjustmentRequest) error {
	defer p.time("ValidateContainerAdjustment", time.Now())
	moved := req.GetAdjust().GetLinux().GetCgroupsPath()
	if moved == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ctr := req.GetContainer()
	owner := "?"
	if o := req.GetOwners(); o != nil {
		owner, _ = o.CgroupsPathOwner(ctr.GetId())
	}
	log := p.fields(req.GetPod(), ctr).WithFields(logrus.Fields{"cgroups_path": moved, "by_plugin": owner})
	path, err := cgroup.FromCgroupsPath(moved)
	if err != nil {
		return containerErr(req.GetPod(), ctr, "plugin %s set cgroups_path %q, which krsi cannot stage: %w", owner, moved, err)
	}
	if t, ok := p.state.containers[ctr.GetId()]; ok && t.path != path {
		if err := p.enf.StageContainer(path, t.profile, t.mode); err != nil {
			return containerErr(req.GetPod(), ctr, "stage cgroup %s set by plugin %s: %w", path, owner, err)
		}
		_ = p.enf.Unstage(t.path)
		t.path = path
		log.Warn("another plugin moved the container's cgroup; its staging follows")
	} else if old, ok := p.state.open[ctr.GetId()]; ok && old != path {
		if err := p.enf.StageUnconfined(path); err != nil {
			return containerErr(req.GetPod(), ctr, "stage cgroup %s set by plugin %s: %w", path, owner, err)
		}
		_ = p.enf.Unstage(old)
		p.state.open[ctr.GetId()] = path
	}
	return nil
}
