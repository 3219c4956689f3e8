package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/recorder"
	"github.com/krsi-dev/krsi/selector"
)

// recordKeyPrefix + container name: record this container's run into the
// node profile named by the value (written to Config.RecordDir/NAME.yaml).
const recordKeyPrefix = "record.krsi.dev/container."

// observeRef names the observe-everything profile in the kernel.
const observeRef = "krsi/record"

// observe is compiled once, so that it is written to the kernel once.
var observe = recorder.Observe()

var recordName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// recording returns the profile name a container's run is to be recorded
// as, from its own annotations or its pod's, or "" when it is not recorded.
// Recording runs the container under a profile that denies nothing, so it
// is refused unless the node config allows it in the pod's namespace
// (recording.namespaces) and the node is under its cap
// (recording.maxRecordings). Call with p.mu held.
func (p *Plugin) recording(pod *api.PodSandbox, ctr *api.Container) (string, error) {
	key := recordKeyPrefix + nameOf(ctr)
	name, ok := ctr.GetAnnotations()[key]
	if !ok {
		name, ok = pod.GetAnnotations()[key]
	}
	if !ok {
		return "", nil
	}
	if !recordName.MatchString(name) {
		return "", &selector.AnnotationError{Key: key, Value: name,
			Msg: "want a profile name: lower-case letters, digits, '.', '_' and '-', at most 63, starting with a letter or digit"}
	}
	ns, rec := pod.GetNamespace(), p.cfg.Recording
	refuse := func(format string, args ...any) (string, error) {
		return "", &selector.AnnotationError{Key: key, Value: name, Msg: fmt.Sprintf("value %q: ", name) + fmt.Sprintf(format, args...)}
	}
	if !rec.Allows(ns) {
		return refuse("namespace %s may not record (rule %s): a recorded container runs under a profile that denies nothing; remove the annotation, or have the node admin add %s to recording.namespaces in the krsi config",
			ns, rec.Rule(), ns)
	}
	active := 0
	for _, t := range p.state.containers {
		if t.rec == nil || t.id == ctr.GetId() { // itself, met again in Synchronize
			continue
		}
		if t.recordAs == name {
			return refuse("container %s of pod %s/%s is being recorded as %s already; choose another name", t.name, t.namespace, t.pod, name)
		}
		active++
	}
	files := 0
	if entries, err := os.ReadDir(p.cfg.RecordDir); err == nil {
		for _, e := range entries {
			if filepath.Ext(e.Name()) == ".yaml" && e.Name() != name+".yaml" && e.Type().IsRegular() {
				files++
			}
		}
	}
	if active+files >= rec.MaxRecordings {
		return refuse("the node holds %d recorded profiles (%d files in %s, %d recordings in progress), its cap (rule recording.maxRecordings: %d); collect and remove the files in %s, or have the node admin raise recording.maxRecordings in the krsi config",
			active+files, files, p.cfg.RecordDir, active, rec.MaxRecordings, p.cfg.RecordDir)
	}
	return name, nil
}

// recordDecision replaces a container's selected profile by the observe
// profile: nothing is denied while it is recorded.
func (p *Plugin) recordDecision(d selector.Decision, name string) selector.Decision {
	return selector.Decision{
		Ref:     observeRef,
		Profile: observe,
		Mode:    profiles.ModeAudit,
		Why:     fmt.Sprintf("recording into %s (annotation %s; instead of %q)", p.recordPath(name), recordKeyPrefix, d.Ref),
	}
}

func (p *Plugin) recordPath(name string) string {
	return filepath.Join(p.cfg.RecordDir, name+".yaml")
}

// Observe feeds an event to the recorder of the container it came from, if
// that container is being recorded. It sees every event, rate-limited or
// not, so it looks up, never scans.
func (p *Plugin) Observe(ev enforced.Event, _ eventlog.Source) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.state.byCgroup(ev.CgroupID); t != nil && t.rec != nil {
		t.rec.Add(ev)
	}
}

// finishRecording writes a recorded container's profile. Call with p.mu held.
func (p *Plugin) finishRecording(t *tracked) {
	if t.rec == nil {
		return
	}
	rec := t.rec
	t.rec = nil
	log := p.log.WithFields(logrus.Fields{"container": t.name, "pod": t.pod, "namespace": t.namespace, "profile": t.recordAs})
	path := p.recordPath(t.recordAs)
	if n := rec.Dropped(); n > 0 {
		log.WithFields(logrus.Fields{"rule": fmt.Sprintf("recording.maxPaths: %d", p.cfg.Recording.MaxPaths), "dropped": n}).
			Error("the run touched more distinct paths than a recording keeps; not written (it would be incomplete): record a shorter run, or have the node admin raise recording.maxPaths")
		return
	}
	text := rec.Profile(t.recordAs)
	if len(text) > p.cfg.Recording.MaxBytes {
		log.WithFields(logrus.Fields{"rule": fmt.Sprintf("recording.maxBytes: %d", p.cfg.Recording.MaxBytes), "bytes": len(text)}).
			Error("the recorded profile is larger than a recording may be; not written: record a shorter run, or have the node admin raise recording.maxBytes")
		return
	}
	if pr, err := profiles.Parse(path, []byte(text)); err != nil {
		log.WithError(err).Error("recorded profile does not validate (a krsi bug); not written")
		return
	} else if _, err := pr.Compile(); err != nil {
		log.WithError(err).Error("recorded profile does not compile (a krsi bug); not written")
		return
	}
	if err := os.MkdirAll(p.cfg.RecordDir, 0o755); err != nil {
		log.WithError(err).Error("cannot write the recorded profile")
		return
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		log.WithError(err).Error("cannot write the recorded profile")
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		log.WithError(err).Error("cannot write the recorded profile")
		return
	}
	log.WithFields(logrus.Fields{"file": path, "events": rec.Events()}).Info("recorded profile written; review it, then enforce it")
}
