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
	"github.com/krsi-dev/krsi/enforcement"
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

	podByID := make(map[string]*api.PodSandbox, len(pods))
	for _, pod := range pods {
		podByID[pod.GetId()] = pod
	}
	live := map[uint64]bool{}
	livePaths := map[string]bool{}
	p.containers = map[string]*tracked{}
	p.open, p.sandboxes = map[string]string{}, map[string]string{}
	fallbacks := p.fallbacks()
	reported := map[uint64]bool{}
	for _, ctr := range containers {
		pod := podByID[ctr.GetPodSandboxId()]
		if pod == nil {
			continue
		}
		log := p.fields(pod, ctr)
		t, d, err := p.decide(pod, ctr)
		now := d.Ref
		if err != nil {
			now = "kept (its profile cannot be applied)"
		}
		p.reportFallback(ctr, fallbacks, reported, log, now)
		if err != nil {
			// A running container cannot be refused; say so loudly. Whatever
			// binding it has stays (it is kept in live below if it exists).
			log.WithError(err).Error("running container has a profile krsi cannot apply; its current binding is kept")
			p.keepExisting(ctr, live)
			continue
		}
		if t == nil {
			// Unconfined: its fallback binding, if any, is not live and goes
			// below; one not created yet must not get it.
			if err := p.stageUnconfined(ctr, log); err != nil {
				log.WithError(err).Error("stage unconfined container")
			} else if path, ok := p.open[ctr.GetId()]; ok {
				livePaths[path] = true
			}
			continue
		}
		p.containers[t.id] = t
		livePaths[t.path] = true
		n, err := p.bindTree(t, live)
		if err != nil {
			log.WithError(err).Error("bind running container")
			continue
		}
		log.WithFields(logrus.Fields{"profile": d.Ref, "mode": d.Mode, "why": d.Why, "cgroups": n}).Info("running container confined")
	}

	// Pod sandboxes are never live: a fallback binding of theirs goes below.
	for _, pod := range pods {
		if path, err := cgroup.FromCgroupsPath(pod.GetLinux().GetCgroupsPath()); err == nil && p.fallback.armed {
			if _, err := os.Stat(p.dir(path)); err != nil {
				if p.enf.StageUnconfined(path) == nil {
					p.sandboxes[pod.GetId()] = path
					livePaths[path] = true
				}
			} else if id, err := cgroup.ID(p.dir(path)); err == nil {
				if _, ok := fallbacks[id]; ok {
					reported[id] = true
					p.log.WithFields(logrus.Fields{"pod": pod.GetName(), "namespace": pod.GetNamespace(), "cgroup": path}).
						Info("pod sandbox released from the fallback profile")
				}
			}
		}
	}
	for id, rec := range fallbacks {
		if !reported[id] && !live[id] {
			p.log.WithFields(logrus.Fields{"cgroup_id": id, "since": rec.Since.UTC().Format(time.RFC3339Nano)}).
				Warn("a cgroup ran under the fallback profile and belongs to no container the runtime reports; it is unbound")
		}
	}

	stale := 0
	if bindings, err := p.enf.Bindings(); err == nil {
		for id := range bindings {
			if !live[id] {
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
			if !livePaths[path] {
				if err := p.enf.Unstage(path); err == nil {
					stale++
				}
			}
		}
	} else {
		p.log.WithError(err).Error("list staged cgroups")
	}
	p.dropUnusedProfiles()
	p.log.WithFields(logrus.Fields{
		"containers": len(p.containers), "stale_removed": stale, "fallback_replaced": len(fallbacks),
		"took": time.Since(start).String(),
	}).Info("synchronized with the runtime")
	return nil, nil
}

// fallbacks lists the container cgroups the kernel bound to the fallback.
func (p *Plugin) fallbacks() map[uint64]enforcement.FallbackRecord {
	recs, err := p.enf.Fallbacks()
	if err != nil {
		p.log.WithError(err).Error("list fallback bindings")
		return nil
	}
	return recs
}

// reportFallback logs a container whose cgroup the kernel bound to the
// fallback profile; now says what it gets instead.
func (p *Plugin) reportFallback(ctr *api.Container, recs map[uint64]enforcement.FallbackRecord, reported map[uint64]bool,
	log logrus.FieldLogger, now string) {
	if len(recs) == 0 {
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
	if rec, ok := recs[id]; ok {
		reported[id] = true
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
			t.cgroupID = id
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
