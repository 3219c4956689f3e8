package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/version"
	"github.com/sirupsen/logrus"
	"golang.org/x/mod/semver"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/recorder"
	"github.com/krsi-dev/krsi/selector"
)

// Image annotations the runtimes set, for runtimes that do not fill NRI's
// container image field.
const (
	containerdImageAnnotation = "io.kubernetes.cri.image-name"
	crioImageAnnotation       = "io.kubernetes.cri-o.ImageName"
	// CRI-O's copy of the container's CRI metadata, {"name":"app","attempt":0}.
	crioMetadataAnnotation = "io.kubernetes.cri-o.Metadata"
)

// nameOf gives the container's name in its pod. CRI-O reports NRI's name from
// the kubelet's label io.kubernetes.container.name, so a container made by
// another CRI client (crictl, a test harness) comes without one, and the
// per-container annotations written for it would silently not apply; its
// CRI name is still in CRI-O's metadata annotation, which CRI-O writes after
// copying the pod's annotations, so a pod cannot forge it.
func nameOf(ctr *api.Container) string {
	if name := ctr.GetName(); name != "" {
		return name
	}
	var md struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(ctr.GetAnnotations()[crioMetadataAnnotation]), &md); err != nil {
		return ""
	}
	return md.Name
}

// Configure takes the runtime's copy of the plugin configuration (a
// pre-registered plugin's /etc/nri/conf.d file). Only selection settings can
// change here; the connection settings are already in use.
func (p *Plugin) Configure(_ context.Context, config, runtime, runtimeVersion string) (api.EventMask, error) {
	nriVersion := "unknown"
	if p.conn != nil {
		nriVersion = p.conn.RuntimeNRIVersion()
	}
	if !semver.IsValid(nriVersion) {
		// A runtime built without module information reports none; NRI's
		// own table of runtime releases knows (containerd, CRI-O).
		if v, err := api.InferVersionFromRuntime(runtime, "v"+strings.TrimPrefix(runtimeVersion, "v")); err == nil {
			nriVersion = v
		}
	}
	events := p.events(runtime, runtimeVersion, nriVersion)
	p.ready.configured(p.ready.current(), p.nriAddress())
	p.log.WithFields(logrus.Fields{"runtime": runtime, "runtime_version": runtimeVersion, "nri_version": nriVersion,
		"validates": events.IsSet(api.Event_VALIDATE_CONTAINER_ADJUSTMENT)}).Info("connected to the runtime")
	if config != "" {
		cfg, err := ParseConfig("configuration from the runtime", []byte(config))
		if err == nil {
			err = cfg.Selection().Validate(p.catalog)
		}
		if err != nil {
			return 0, err
		}
		p.mu.Lock()
		p.cfg.DefaultProfile, p.cfg.AllowUnconfined, p.cfg.AllowModeRelax = cfg.DefaultProfile, cfg.AllowUnconfined, cfg.AllowModeRelax
		p.cfg.ExemptNamespaces, p.cfg.ExemptPods = cfg.ExemptNamespaces, cfg.ExemptPods
		p.cfg.Policy, p.cfg.Recording = cfg.Policy, cfg.Recording
		// The fallback may follow the default profile; the parents and
		// fallbackProfile themselves are the daemon's own settings.
		err = nil
		if p.fallback.armed && p.cfg.Fallback() != p.fallback.ref {
			err = p.armFallback()
		}
		p.mu.Unlock()
		if err != nil {
			return 0, err
		}
	}
	return events, nil
}

// events are the NRI events krsi subscribes to: every one it handles, but
// ValidateContainerAdjustment only where the runtime's NRI knows it (v0.10,
// containerd 2.2): older runtimes refuse a plugin that subscribes to an
// event they do not know ("invalid plugin events"). An unknown version is
// taken as old: being connected matters more than validating.
//
// CRI-O before 1.35 never gets it: NRI v0.12.3's table of runtime releases
// (used when the runtime does not report its NRI version) maps CRI-O 1.34.0
// to NRI v0.10.0, but CRI-O v1.34.0's go.mod requires
// nri v0.9.1-0.20250219030224-e597e7849f24, which has no validation.
func (p *Plugin) events(runtime, runtimeVersion, nriVersion string) api.EventMask {
	var m api.EventMask
	m.Set(api.Event_RUN_POD_SANDBOX, api.Event_REMOVE_POD_SANDBOX, api.Event_CREATE_CONTAINER,
		api.Event_START_CONTAINER, api.Event_STOP_CONTAINER, api.Event_REMOVE_CONTAINER)
	rv := "v" + strings.TrimPrefix(runtimeVersion, "v")
	crioOld := runtime == "cri-o" && (!semver.IsValid(rv) || semver.Compare(rv, "v1.35.0") < 0)
	if !crioOld && semver.IsValid(nriVersion) &&
		version.FindClosestMatch(nriVersion, []string{validationSince}) == validationSince {
		m.Set(api.Event_VALIDATE_CONTAINER_ADJUSTMENT)
	}
	return m
}

// validationSince is the NRI release that added ValidateContainerAdjustment.
const validationSince = "v0.10.0"

// imageOf gives the container's image as "name@digest" when the runtime
// sends both (image profiles match digests first), else what it has.
func imageOf(ctr *api.Container) string {
	if img := ctr.GetImage(); img != nil {
		name, digest := img.GetName(), img.GetDigest()
		switch {
		case name != "" && digest != "" && !strings.Contains(name, "@"):
			return name + "@" + digest
		case name != "":
			return name
		case digest != "":
			return digest
		}
	}
	if v := ctr.GetAnnotations()[containerdImageAnnotation]; v != "" {
		return v
	}
	return ctr.GetAnnotations()[crioImageAnnotation]
}

// containerErr is an error about a container, named as its pod's owner knows
// it: "krsi: container app of pod default/web-1: …". Every error the runtime
// shows for a container goes through it, so that each names the container
// the same way (nameOf: CRI-O can leave NRI's name empty) and its pod.
func containerErr(pod *api.PodSandbox, ctr *api.Container, format string, args ...any) error {
	return fmt.Errorf("krsi: container %s of pod %s/%s: %w", nameOf(ctr), pod.GetNamespace(), pod.GetName(), fmt.Errorf(format, args...))
}

func (p *Plugin) fields(pod *api.PodSandbox, ctr *api.Container) logrus.FieldLogger {
	return p.log.WithFields(logrus.Fields{
		"container":    nameOf(ctr),
		"container_id": ctr.GetId(),
		"pod":          pod.GetName(),
		"namespace":    pod.GetNamespace(),
	})
}

// decide selects the profile for a container and loads it. Call with p.mu held.
func (p *Plugin) decide(pod *api.PodSandbox, ctr *api.Container) (*tracked, selector.Decision, error) {
	image := imageOf(ctr)
	d, err := selector.Select(p.cfg.Selection(), p.catalog, selector.Container{
		Name:           nameOf(ctr),
		Namespace:      pod.GetNamespace(),
		Pod:            pod.GetName(),
		Image:          image,
		PodAnnotations: pod.GetAnnotations(),
		Annotations:    ctr.GetAnnotations(),
	})
	if err != nil {
		return nil, d, containerErr(pod, ctr, "%w", err)
	}
	recordAs := ""
	if !d.Exempt() { // an exempt container's annotations are not read
		recordAs, err = p.recording(pod, ctr)
		if err != nil {
			return nil, d, containerErr(pod, ctr, "%w", err)
		}
	}
	if recordAs != "" {
		d = p.recordDecision(d, recordAs)
	}
	if d.Profile == nil {
		return nil, d, nil
	}
	path, err := cgroup.FromCgroupsPath(ctr.GetLinux().GetCgroupsPath())
	if err != nil {
		return nil, d, containerErr(pod, ctr, "%w; refusing to run it unconfined", err)
	}
	id, err := p.ensureProfile(d.Ref, d.Profile)
	if err != nil {
		return nil, d, containerErr(pod, ctr, "%w; refusing to run it unconfined", err)
	}
	t := &tracked{
		id: ctr.GetId(), name: nameOf(ctr), pod: pod.GetName(), namespace: pod.GetNamespace(),
		podID: pod.GetId(), image: image, path: path, ref: d.Ref, profile: id, mode: d.Mode, created: time.Now(),
	}
	if recordAs != "" {
		t.rec, t.recordAs = recorder.New(), recordAs
		t.rec.Limit(p.cfg.Recording.MaxPaths)
	}
	return t, d, nil
}

// CreateContainer selects and loads the container's profile and stages its
// cgroup: the kernel binds the cgroup the moment the runtime creates it, so
// the container's first instruction is already confined. Any bad input fails
// the creation with an error naming it.
func (p *Plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	start := time.Now()
	defer p.time("CreateContainer", start)
	p.mu.Lock()
	defer p.mu.Unlock()
	log := p.fields(pod, ctr)
	t, d, err := p.decide(pod, ctr)
	if err != nil {
		log.WithError(err).Error("container refused")
		return nil, nil, err
	}
	decision := log.WithFields(logrus.Fields{"image": imageOf(ctr), "profile": d.Ref, "mode": d.Mode, "why": d.Why})
	if t == nil {
		if err := p.stageUnconfined(pod, ctr, log); err != nil {
			log.WithError(err).Error("container refused")
			return nil, nil, fmt.Errorf("%w; refusing to create it under the fallback profile", err)
		}
		decision.Info("container runs unconfined")
		return nil, nil, nil
	}
	if err := p.enf.StageContainer(t.path, t.profile, t.mode); err != nil {
		log.WithError(err).Error("container refused")
		return nil, nil, containerErr(pod, ctr, "stage cgroup %s: %w; refusing to run it unconfined", t.path, err)
	}
	// A runtime that made the cgroup already (or a retried create) is bound now.
	if id, err := cgroup.ID(p.dir(t.path)); err == nil {
		if err := p.enf.Bind(id, t.profile, t.mode); err != nil {
			return nil, nil, containerErr(pod, ctr, "bind cgroup %s: %w", t.path, err)
		}
		t.cgroupID = id
	}
	p.state.track(t)
	decision.WithFields(logrus.Fields{"cgroup": t.path, "took": time.Since(start).String()}).Info("container confined")
	return nil, nil, nil
}

func (p *Plugin) dir(path string) string {
	rel, err := filepath.Rel(p.cgroups.Root, path)
	if err != nil || rel == ".." || len(rel) > 2 && rel[:3] == "../" {
		return filepath.Join(p.cgroups.Dir, path) // outside our view; stat will fail
	}
	return filepath.Join(p.cgroups.Dir, rel)
}

// StartContainer confirms that the container's cgroup, read from its first
// process, is bound to its profile, binds it if the staging was missed, and
// fails the start if it cannot.
func (p *Plugin) StartContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) error {
	defer p.time("StartContainer", time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.state.containers[ctr.GetId()]
	if !ok {
		// Unconfined by decision: make sure the kernel did not give it the
		// fallback (a staging missed, or a cgroup path krsi cannot stage).
		path, staged := p.state.open[ctr.GetId()]
		if staged {
			delete(p.state.open, ctr.GetId())
			_ = p.enf.Unstage(path)
		}
		if pid := ctr.GetPid(); pid != 0 {
			if pp, err := cgroup.ProcessPath(int(pid)); err == nil {
				path = pp
			}
		}
		if p.fallback.armed && path != "" {
			if err := p.unbindFallback(path, p.fields(pod, ctr)); err != nil {
				return containerErr(pod, ctr, "%w", err)
			}
		}
		return nil
	}
	log := p.fields(pod, ctr)
	path := t.path
	if pid := ctr.GetPid(); pid != 0 {
		if pp, err := cgroup.ProcessPath(int(pid)); err == nil {
			path = pp
		}
	}
	id, err := cgroup.ID(p.dir(path))
	if err != nil {
		return containerErr(pod, ctr, "find its cgroup %s: %w; refusing to start it unconfined", path, err)
	}
	b, bound, err := p.enf.Lookup(id)
	if err != nil {
		return containerErr(pod, ctr, "%w", err)
	}
	if !bound || b.Profile != t.profile || b.Mode != t.mode {
		log.WithFields(logrus.Fields{"cgroup": path, "bound": bound}).Warn("cgroup was not bound at creation; binding it now")
		if err := p.enf.Bind(id, t.profile, t.mode); err != nil {
			return containerErr(pod, ctr, "bind cgroup %s: %w; refusing to start it unconfined", path, err)
		}
	}
	// The runtime's start-up is over (runc create has returned): the next exec
	// is the entrypoint, and the exec rules must see it whatever it is.
	if _, err := p.enf.Arm(id); err != nil {
		return containerErr(pod, ctr, "%w; refusing to start it without its exec rules", err)
	}
	p.state.setCgroup(t, id)
	_ = p.enf.Unstage(t.path) // bound: the staging has done its job
	return nil
}

// StopContainer unbinds: the container's processes are gone.
func (p *Plugin) StopContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) ([]*api.ContainerUpdate, error) {
	defer p.time("StopContainer", time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.state.containers[ctr.GetId()]; ok {
		p.finishRecording(t)
		p.release(t, false)
	}
	return nil, nil
}

// RemoveContainer forgets the container.
func (p *Plugin) RemoveContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) error {
	defer p.time("RemoveContainer", time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.state.containers[ctr.GetId()]; ok {
		p.release(t, true)
	}
	if path, ok := p.state.open[ctr.GetId()]; ok {
		delete(p.state.open, ctr.GetId())
		_ = p.enf.Unstage(path)
	}
	return nil
}

// RemovePodSandbox forgets every container of the pod.
func (p *Plugin) RemovePodSandbox(_ context.Context, pod *api.PodSandbox) error {
	defer p.time("RemovePodSandbox", time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.state.containers {
		if t.podID == pod.GetId() {
			p.release(t, true)
		}
	}
	if path, ok := p.state.sandboxes[pod.GetId()]; ok {
		delete(p.state.sandboxes, pod.GetId())
		_ = p.enf.Unstage(path)
	}
	return nil
}

// release unbinds a container's cgroup and staging; forget drops it entirely.
func (p *Plugin) release(t *tracked, forget bool) {
	p.finishRecording(t) // a container removed without a stop
	log := p.log.WithFields(logrus.Fields{"container": t.name, "container_id": t.id, "pod": t.pod, "namespace": t.namespace})
	if err := p.enf.Unstage(t.path); err != nil {
		log.WithError(err).Warn("unstage")
	}
	if id, err := cgroup.ID(p.dir(t.path)); err == nil {
		if err := p.enf.Unbind(id); err != nil {
			log.WithError(err).Warn("unbind")
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		log.WithError(err).Warn("find cgroup to unbind")
	}
	if forget {
		p.state.untrack(t)
		log.Info("container released")
	}
}
