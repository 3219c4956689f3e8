package plugin

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/selector"
)

// Synchronize reconciles the kernel's bindings with what the runtime says is
// running, after krsi (re)connects: every live container is bound to the
// profile selected for it now (its cgroup and the cgroups nested in it), and
// every binding or staging that belongs to no live container is dropped. The
// pinned programs kept enforcing while krsi was away, so there is no gap.
//
// With fail closed on, containers created while krsi was away were bound by
// the kernel to the fallback profile: each is logged (container, pod, how
// long) and moved to the profile selected for it, or unbound if it is to run
// unconfined; pod sandboxes are released from it.
func (p *Plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, containers []*api.Container) ([]*api.ContainerUpdate, error) {
	start := time.Now()
	defer p.time("Synchronize", start)
	// Ready once this is done (the runtime sends no event before); a
	// connection that closed meanwhile does not make it ready.
	defer p.ready.synchronized(p.ready.current())
	p.mu.Lock()
	defer p.mu.Unlock()

	// What krsi knew before the connection ended may be stale: the runtime's
	// report is the truth, and what it does not name is dropped below.
	p.state.forgetContainers()
	r := &reconciliation{fallbacks: p.fallbacks(), live: map[uint64]bool{}, livePaths: map[string]bool{}, reported: map[uint64]bool{}}
	p.syncContainers(r, pods, containers)
	p.syncSandboxes(r, pods)
	p.reportOrphanFallbacks(r)
	stale := p.dropStale(r)
	p.dropUnusedProfiles()
	p.log.WithFields(logrus.Fields{
		"containers": len(p.state.containers), "stale_removed": stale, "fallback_replaced": len(r.fallbacks),
		"took": time.Since(start).String(),
	}).Info("synchronized with the runtime")
	return nil, nil
}

// reconciliation is one Synchronize's bookkeeping: what the runtime's report
// showed to be in use, so that dropStale can remove everything else.
type reconciliation struct {
	// fallbacks are the kernel's fallback bindings when Synchronize began.
	fallbacks map[uint64]enforced.FallbackRecord
	// live are the cgroup ids bound to a live container; livePaths the
	// cgroup paths staged for one, or for a pod sandbox.
	live      map[uint64]bool
	livePaths map[string]bool
	// reported are the fallback bindings already logged with the container
	// or pod they belong to.
	reported map[uint64]bool
}

// syncContainers selects a profile for every running container, as
// CreateContainer would have had krsi been connected, and binds it: the
// profile files or the node configuration may have changed while krsi was
// away, and a container created meanwhile ran under the fallback or nothing.
func (p *Plugin) syncContainers(r *reconciliation, pods []*api.PodSandbox, containers []*api.Container) {
	podByID := make(map[string]*api.PodSandbox, len(pods))
	for _, pod := range pods {
		podByID[pod.GetId()] = pod
	}
	for _, ctr := range containers {
		if pod := podByID[ctr.GetPodSandboxId()]; pod != nil {
			p.syncContainer(r, pod, ctr)
		}
	}
}

// syncContainer is syncContainers for one container. A running container
// cannot be refused, so where CreateContainer would fail it, this logs and
// keeps whatever binding the container has.
func (p *Plugin) syncContainer(r *reconciliation, pod *api.PodSandbox, ctr *api.Container) {
	log := p.fields(pod, ctr)
	t, d, err := p.decide(pod, ctr)
	now := d.Ref
	if err != nil {
		now = "kept (its profile cannot be applied)"
	}
	p.reportFallback(ctr, r, log, now)
	if err != nil {
		log.WithError(err).Error("running container has a profile krsi cannot apply; its current binding is kept")
		p.keepExisting(ctr, r.live)
		return
	}
	if t == nil {
		// Unconfined: its fallback binding, if any, is not live and goes in
		// dropStale; one not created yet must not get it.
		if err := p.stageUnconfined(pod, ctr, log); err != nil {
			log.WithError(err).Error("stage unconfined container")
		} else if path, ok := p.state.open[ctr.GetId()]; ok {
			r.livePaths[path] = true
		}
		return
	}
	p.state.track(t)
	r.livePaths[t.path] = true
	n, err := p.bindTree(t, r.live)
	if err != nil {
		log.WithError(err).Error("bind running container")
		return
	}
	log.WithFields(logrus.Fields{"profile": d.Ref, "mode": d.Mode, "why": d.Why, "cgroups": n}).Info("running container confined")
}

// syncSandboxes does for pod sandboxes what RunPodSandbox does, for the pods
// that started while krsi was away: a sandbox is never confined, so a
// fallback binding of its cgroup is logged here and, not being live, dropped
// in dropStale; a sandbox cgroup not created yet is staged unconfined.
func (p *Plugin) syncSandboxes(r *reconciliation, pods []*api.PodSandbox) {
	if !p.fallback.armed {
		return
	}
	for _, pod := range pods {
		path, err := cgroup.FromCgroupsPath(pod.GetLinux().GetCgroupsPath())
		if err != nil {
			continue
		}
		if _, err := os.Stat(p.dir(path)); err != nil {
			if p.enf.StageUnconfined(path) == nil {
				p.state.sandboxes[pod.GetId()] = path
				r.livePaths[path] = true
			}
		} else if id, err := cgroup.ID(p.dir(path)); err == nil {
			if _, ok := r.fallbacks[id]; ok {
				r.reported[id] = true
				p.log.WithFields(logrus.Fields{"pod": pod.GetName(), "namespace": pod.GetNamespace(), "cgroup": path}).
					Info("pod sandbox released from the fallback profile")
			}
		}
	}
}

// reportOrphanFallbacks logs the fallback bindings that belong to no
// container or pod the runtime reports (one removed while krsi was away):
// they go in dropStale, and an operator should know something ran under the
// fallback even if krsi cannot say what.
func (p *Plugin) reportOrphanFallbacks(r *reconciliation) {
	for id, rec := range r.fallbacks {
		if !r.reported[id] && !r.live[id] {
			p.log.WithFields(logrus.Fields{"cgroup_id": id, "since": rec.Since.UTC().Format(time.RFC3339Nano)}).
				Warn("a cgroup ran under the fallback profile and belongs to no container the runtime reports; it is unbound")
		}
	}
}

// dropStale removes every binding and staging that belongs to no live
// container: the kernel's maps would otherwise keep the ones of containers
// removed while krsi was away, and a cgroup id reused later would come up
// confined by a stranger's profile. It returns how many it removed.
func (p *Plugin) dropStale(r *reconciliation) int {
	stale := 0
	if bindings, err := p.enf.Bindings(); err == nil {
		for id := range bindings {
			if !r.live[id] {
				if err := p.enf.Unbind(id); err == nil {
					stale++
				}
			}
		}
	} else {
		p.log.WithError(err).Error("list bindings")
	}
	if staged, err := p.enf.Staged(); err == nil {
		for path := range staged {
			if !r.livePaths[path] {
				if err := p.enf.Unstage(path); err == nil {
					stale++
				}
			}
		}
	} else {
		p.log.WithError(err).Error("list staged cgroups")
	}
	return stale
}

// fallbacks lists the container cgroups the kernel bound to the fallback.
func (p *Plugin) fallbacks() map[uint64]enforced.FallbackRecord {
	recs, err := p.enf.Fallbacks()
	if err != nil {
		p.log.WithError(err).Error("list fallback bindings")
		return nil
	}
	return recs
}

// reportFallback logs a container whose cgroup the kernel bound to the
// fallback profile; now says what it gets instead.
func (p *Plugin) reportFallback(ctr *api.Container, r *reconciliation, log logrus.FieldLogger, now string) {
	if len(r.fallbacks) == 0 {
		return
	}
	path, err := cgroup.FromCgroupsPath(ctr.GetLinux().GetCgroupsPath())
	if err != nil {
		return
	}
	id, err := cgroup.ID(p.dir(path))
	if err != nil {
		return
	}
	if rec, ok := r.fallbacks[id]; ok {
		r.reported[id] = true
		if now == "" || now == selector.Unconfined {
			now = "unconfined (as selected)"
		}
		p.fallbackReport(rec, log.WithField("cgroup", path), now)
	}
}

// bindTree binds a container's cgroup and every cgroup below it, marking
// their ids live. A container whose cgroup is not there yet keeps its staging.
func (p *Plugin) bindTree(t *tracked, live map[uint64]bool) (int, error) {
	root := p.dir(t.path)
	if _, err := os.Stat(root); err != nil {
		// Not created yet: the staging binds it when it is.
		return 0, p.enf.StageContainer(t.path, t.profile, t.mode)
	}
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone while walking
		}
		if !d.IsDir() {
			return nil
		}
		id, err := cgroup.ID(path)
		if err != nil {
			return nil
		}
		if err := p.enf.Bind(id, t.profile, t.mode); err != nil {
			return err
		}
		live[id] = true
		if path == root {
			p.state.setCgroup(t, id)
		}
		n++
		return nil
	})
	return n, err
}

// keepExisting marks the bindings of a container that could not be
// re-selected as live, so reconciling does not leave it unconfined.
func (p *Plugin) keepExisting(ctr *api.Container, live map[uint64]bool) {
	path, err := cgroup.FromCgroupsPath(ctr.GetLinux().GetCgroupsPath())
	if err != nil {
		return
	}
	_ = filepath.WalkDir(p.dir(path), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if id, err := cgroup.ID(path); err == nil {
				live[id] = true
			}
		}
		return nil
	})
}
