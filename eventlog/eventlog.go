// Package eventlog turns the kernel's violation events into log entries a
// person or a log pipeline can read: what was attempted, what krsi did, which
// rule of which profile decided, in which container. Step in the pipeline:
// kernel decision → event → this → stdout, a log file, the events socket.
//
// Pipeline is the daemon's part: it names each event's container, rate-limits
// events per container and rule (counting what it suppressed), and reports
// the events the kernel dropped. docs/events.md describes the entries.
package eventlog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/enforced"
)

// Source is what krsi knows of where an event came from: the profile that
// decided it and, under the plugin, the container.
type Source struct {
	Profile string
	Rules   []string // Compiled.Rules: events name rules by index
	// Container identity; empty for `krsi run`.
	Container, ContainerID, Pod, Namespace string
	Image                                  string // as the runtime named it; empty when unknown
}

// Log writes ev as one entry at warning level.
func Log(log logrus.FieldLogger, ev enforced.Event, p Source) {
	log.WithFields(Fields(ev, p)).Warn(Message(ev))
}

// Fields are the entry's structured fields; their names are part of krsi's
// event format (docs/events.md).
func Fields(ev enforced.Event, p Source) logrus.Fields {
	f := logrus.Fields{
		"hook":      ev.Hook,
		"action":    ev.Action,
		"reason":    ev.Reason,
		"pid":       ev.PID,
		"comm":      ev.Comm,
		"cgroup_id": ev.CgroupID,
		"profile":   p.Profile,
	}
	for k, v := range map[string]string{"container": p.Container, "container_id": p.ContainerID,
		"pod": p.Pod, "namespace": p.Namespace, "image": p.Image} {
		if v != "" {
			f[k] = v
		}
	}
	if ev.Rule >= 0 && ev.Rule < len(p.Rules) {
		f["rule"] = p.Rules[ev.Rule]
	}
	if ev.Path != "" {
		f["path"] = ev.Path
	}
	if ev.Invoked != "" {
		f["invoked"] = ev.Invoked
	}
	if ev.Applet != "" {
		f["applet"] = ev.Applet
	}
	if ev.Access != 0 {
		f["access"] = ev.Access.String()
	}
	if ev.Hook == "file_mprotect" || ev.Hook == "mmap_file" {
		f["prot"] = ProtString(ev.Prot)
	}
	if ev.VMEnd != 0 {
		f["addr"] = fmt.Sprintf("%#x-%#x", ev.VMStart, ev.VMEnd)
	}
	return f
}

var operations = map[string]string{
	"file_mprotect":         "mprotect",
	"mmap_file":             "mmap",
	"bprm_check_security":   "exec",
	"bprm_committing_creds": "exec",
	"file_open":             "open",
	"path_unlink":           "unlink",
	"path_rmdir":            "rmdir",
	"path_rename":           "rename",
	"path_link":             "link",
	"path_truncate":         "truncate",
	"path_chmod":            "chmod",
	"path_chown":            "chown",
	"path_mkdir":            "mkdir",
	"path_mknod":            "mknod",
	"path_symlink":          "symlink",
	"file_receive":          "receive of a file descriptor",
	"ptrace":                "ptrace",
	"shm_shmat":             "shmat",
	"userfaultfd":           "userfaultfd",
	"path_chroot":           "chroot",
}

var why = map[string]string{
	"wx-anonymous":       "W^X: anonymous memory made executable",
	"wx-writable":        "W^X: writable memory made executable",
	"wx-modified":        "W^X: a file mapping with written pages made executable",
	"rule":               "a rule of the profile denies it",
	"default":            "no rule allows it and the profile denies by default",
	"fileless":           "fileless exec: the file has no link on any filesystem",
	"no-profile":         "the cgroup is bound to a profile that is not loaded",
	"no-path":            "the kernel could not resolve the path",
	"wx-fileless":        "W^X: a file with no name (memfd) made executable",
	"wx-open-for-write":  "W^X: a file open for writing made executable",
	"wx-written":         "W^X: a file written under W^X made executable",
	"wx-exec-mapped":     "W^X: a file mapped executable opened for writing",
	"wx-code-write":      "W^X: a way to write into another process's or executable memory",
	"reroot":             "a new root would change what the profile's paths name",
	"rename-widens":      "the new name would allow what the old one denies",
	"rename-moves-rules": "the folder lies above (or would move above) paths the profile's rules name",
	"applet-unknown":     "the multi-call binary's applet cannot be told from its argv (unreadable, over 255 bytes, or nested too deep)",
	"applet-loader":      "a multi-call binary whose applets the profile decides runs only through its own exec",
}

// Message says in one line what happened, e.g.
// "denied exec of /bin/sh: a rule of the profile denies it".
func Message(ev enforced.Event) string {
	verb := ev.Action
	if verb == "audited" {
		verb = "audit: would deny"
	}
	op := operations[ev.Hook]
	if op == "" {
		op = ev.Hook
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", verb, op)
	switch {
	case ev.Applet != "" && ev.Invoked != "" && ev.Invoked != ev.Path:
		fmt.Fprintf(&b, " of %s → %s applet %s", ev.Invoked, ev.Path, ev.Applet)
	case ev.Applet != "":
		fmt.Fprintf(&b, " of %s applet %s", ev.Path, ev.Applet)
	case ev.Path != "":
		fmt.Fprintf(&b, " of %s", ev.Path)
	}
	if ev.Action == "killed" {
		b.WriteString(" (after the point of no return: the process was killed)")
	}
	if (ev.Hook == "file_open" || ev.Hook == "file_receive") && ev.Access != 0 {
		fmt.Fprintf(&b, " for %s", ev.Access.String())
	}
	if w := why[ev.Reason]; w != "" {
		fmt.Fprintf(&b, ": %s", w)
	}
	return b.String()
}

// ProtString renders PROT_* bits as "rwx" with dashes.
func ProtString(prot uint32) string {
	b := []byte("---")
	for i, c := range "rwx" {
		if prot&(1<<i) != 0 {
			b[i] = byte(c)
		}
	}
	return string(b)
}

// TextFormatter prints "krsi: MESSAGE (key=value ...)" lines for people.
type TextFormatter struct{}

// Format implements logrus.Formatter.
func (TextFormatter) Format(e *logrus.Entry) ([]byte, error) {
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("krsi: ")
	if e.Level <= logrus.ErrorLevel {
		b.WriteString("error: ")
	}
	b.WriteString(e.Message)
	if len(keys) > 0 {
		b.WriteString(" (")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(' ')
			}
			v := fmt.Sprint(e.Data[k])
			if strings.ContainsAny(v, " \"") {
				v = fmt.Sprintf("%q", v)
			}
			fmt.Fprintf(&b, "%s=%s", k, v)
		}
		b.WriteByte(')')
	}
	b.WriteByte('\n')
	return []byte(b.String()), nil
}
