package plugin

// Fail closed. NRI fails open: a container created while krsi is not
// connected, or while it is too slow to answer, is created without it. So at
// start-up krsi marks the cgroup parents under which the runtime creates
// containers, and the kernel binds every container cgroup created there with
// nothing staged for it to the fallback profile (bpf/progs/cgroup.h bind_fallback).
// While krsi is up it stages every container it sees, the unconfined ones as
// "unconfined", so the fallback only ever catches what krsi missed; and on
// Synchronize it moves each container that ran under the fallback to the
// profile selected for it, saying which and for how long.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/selector"
)

// fallbackState is what ArmFallback set up.
type fallbackState struct {
	armed bool
	ref   string
	id    enforced.ProfileID
}

// ArmFallback marks the configured cgroup parents in the kernel with the
// fallback profile, or unmarks them all when the fallback is "unconfined".
// Call it before Run; Configure calls it again when the runtime's copy of
// the configuration changes the default profile.
func (p *Plugin) ArmFallback() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.armFallback()
}

func (p *Plugin) armFallback() error {
	ref := p.cfg.Fallback()
	if ref == selector.Unconfined {
		p.fallback = fallbackState{}
		if err := p.enf.ClearFallback(); err != nil {
			return fmt.Errorf("turn fail closed off: %w", err)
		}
		p.log.WithField("profile", ref).Warn("fail closed is off: containers created while krsi is down or too slow run unconfined")
		return nil
	}
	c, err := p.catalog.Lookup(ref)
	if err != nil {
		return fmt.Errorf("fallback profile: %w", err)
	}
	id, err := p.ensureProfile(ref, c)
	if err != nil {
		return fmt.Errorf("fallback profile: %w", err)
	}
	mode := c.Mode
	if mode == "" {
		mode = profiles.ModeEnforce
	}
	var parents []enforced.Parent
	exist := 0
	for _, list := range []struct {
		kind  enforced.ParentKind
		paths []string
	}{{enforced.ParentOfPods, p.cfg.PodCgroupParents}, {enforced.ParentOfContainers, p.cfg.ContainerCgroupParents}} {
		for _, path := range list.paths {
			par := enforced.Parent{Path: path, Kind: list.kind}
			if cid, err := cgroup.ID(p.dir(path)); err == nil {
				par.ID = cid
				exist++
			}
			parents = append(parents, par)
		}
	}
	if err := p.enf.SetFallback(parents, id, mode); err != nil {
		return fmt.Errorf("mark container cgroup parents: %w", err)
	}
	p.fallback = fallbackState{armed: true, ref: ref, id: id}
	log := p.log.WithFields(logrus.Fields{"profile": ref, "mode": mode, "parents": len(parents), "parents_present": exist})
	log.Info("fail closed: containers created while krsi is down or too slow get the fallback profile")
	if c.UsesExec() || c.UsesFiles() {
		log.Warn("the fallback profile has exec or file rules: it also confines pod sandbox (pause) containers and the runtime's start-up in containers created while krsi is down, which such rules can stop; builtin/wx cannot")
	}
	return nil
}

// stageUnconfined tells the kernel that a container krsi decided to leave
// unconfined gets no fallback binding either, and undoes a fallback binding
// its cgroup already has. Call with p.mu held.
func (p *Plugin) stageUnconfined(pod *api.PodSandbox, ctr *api.Container, log logrus.FieldLogger) error {
	if !p.fallback.armed {
		return nil
	}
	path, err := cgroup.FromCgroupsPath(ctr.GetLinux().GetCgroupsPath())
	if err != nil {
		// Not a path krsi can stage: the kernel would give the fallback if it
		// is under a marked parent; StartContainer undoes that.
		log.WithError(err).Warn("cannot stage the unconfined container's cgroup")
		return nil
	}
	if err := p.enf.StageUnconfined(path); err != nil {
		return containerErr(pod, ctr, "%w", err)
	}
	p.state.open[ctr.GetId()] = path
	return p.unbindFallback(path, log)
}

// unbindFallback drops the kernel's fallback binding of the cgroup at path,
// if it has one. Call with p.mu held.
func (p *Plugin) unbindFallback(path string, log logrus.FieldLogger) error {
	id, err := cgroup.ID(p.dir(path))
	if err != nil {
		return nil // not created yet
	}
	b, ok, err := p.enf.Lookup(id)
	if err != nil || !ok || !b.Fallback {
		return err
	}
	if err := p.enf.Unbind(id); err != nil {
		return err
	}
	log.WithField("cgroup", path).Info("cgroup released from the fallback profile")
	return nil
}

// RunPodSandbox releases the pod's sandbox (pause) container from the
// fallback binding the kernel gives every container cgroup nobody staged:
// krsi confines a pod's containers, not its sandbox. If the runtime has not
// created the sandbox's cgroup yet, it is staged unconfined.
func (p *Plugin) RunPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	defer p.time("RunPodSandbox", time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.fallback.armed {
		return nil
	}
	path, err := cgroup.FromCgroupsPath(pod.GetLinux().GetCgroupsPath())
	if err != nil {
		return nil // no sandbox cgroup known (a VM-based runtime, CRI-O without infra container)
	}
	log := p.log.WithFields(logrus.Fields{"pod": pod.GetName(), "namespace": pod.GetNamespace()})
	if _, err := os.Stat(p.dir(path)); errors.Is(err, os.ErrNotExist) {
		if err := p.enf.StageUnconfined(path); err != nil {
			log.WithError(err).Warn("stage the pod sandbox's cgroup unconfined")
		}
		p.state.sandboxes[pod.GetId()] = path
		return nil
	}
	if err := p.unbindFallback(path, log); err != nil {
		log.WithError(err).Warn("release the pod sandbox from the fallback profile")
	}
	return nil
}

// fallbackReport logs a container that ran under the fallback profile, once
// krsi knows who it is. Call with p.mu held.
func (p *Plugin) fallbackReport(rec enforced.FallbackRecord, log logrus.FieldLogger, now string) {
	log.WithFields(logrus.Fields{
		"fallback_profile": p.fallback.ref,
		"since":            rec.Since.UTC().Format(time.RFC3339Nano),
		"for":              time.Since(rec.Since).Round(time.Millisecond).String(),
		"now":              now,
	}).Warn("container ran under the fallback profile (created while krsi was down or too slow)")
}
