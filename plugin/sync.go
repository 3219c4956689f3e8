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
)

// Synchronize reconciles the kernel's bindings with what the runtime says is
// running, after krsi (re)connects: every live container is bound to the
// profile selected for it now (its cgroup and the cgroups nested in it), and
// every binding or staging that belongs to no live container is dropped. The
// pinned programs kept enforcing while krsi was away, so there is no gap.
func (p *Plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, containers []*api.Container) ([]*api.ContainerUpdate, error) {
	start := time.Now()
	defer p.time("Synchronize", start)
	p.mu.Lock()
	defer p.mu.Unlock()

	podByID := make(map[string]*api.PodSandbox, len(pods))
	for _, pod := range pods {
		podByID[pod.GetId()] = pod
	}
	live := map[uint64]bool{}
	livePaths := map[string]bool{}
	p.containers = map[string]*tracked{}
	for _, ctr := range containers {
		pod := podByID[ctr.GetPodSandboxId()]
		if pod == nil {
			continue
		}
		log := p.fields(pod, ctr)
		t, d, err := p.decide(pod, ctr)
		if err != nil {
			// A running container cannot be refused; say so loudly. Whatever
			// binding it has stays (it is kept in live below if it exists).
			log.WithError(err).Error("running container has a profile krsi cannot apply; its current binding is kept")
			p.keepExisting(ctr, live)
			continue
		}
		if t == nil {
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
		"containers": len(p.containers), "stale_removed": stale, "took": time.Since(start).String(),
	}).Info("synchronized with the runtime")
	return nil, nil
}

// bindTree binds a container's cgroup and every cgroup below it, marking
// their ids live. A container whose cgroup is not there yet keeps its staging.
func (p *Plugin) bindTree(t *tracked, live map[uint64]bool) (int, error) {
	root := p.dir(t.path)
	if _, err := os.Stat(root); err != nil {
		// Not created yet: the staging binds it when it is.
		return 0, p.enf.Stage(t.path, t.profile, t.mode)
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
