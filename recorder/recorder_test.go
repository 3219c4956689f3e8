package recorder

import (
	"fmt"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

func open(p string, a profiles.Access) enforced.Event {
	return enforced.Event{Hook: "file_open", Reason: "default", Path: p, Access: a, Comm: "app"}
}

func exec(p string) enforced.Event {
	return enforced.Event{Hook: "bprm_check_security", Reason: "default", Path: p, Access: profiles.AccessExec, Comm: "sh"}
}

func TestProfileAllowsWhatWasSeenAndIsValid(t *testing.T) {
	r := New()
	r.Add(exec("/usr/bin/app"))
	r.Add(enforced.Event{Hook: "mmap_file", Reason: "default", Path: "/lib/x86_64-linux-gnu/libc.so.6", Access: profiles.AccessExec, Comm: "app"})
	r.Add(open("/etc/app.conf", profiles.AccessRead))
	r.Add(open("/var/log/app.log", profiles.AccessAppend|profiles.AccessCreate))
	for i := 0; i < 5; i++ {
		r.Add(open(fmt.Sprintf("/usr/share/app/res%d", i), profiles.AccessRead))
	}
	r.Add(open("/proc/1234/status", profiles.AccessRead))
	r.Add(open("/tmp/tmp.XYZ/data", profiles.AccessWrite|profiles.AccessCreate|profiles.AccessTruncate))
	r.Add(open("/srv/we*ird", profiles.AccessRead))

	text := r.Profile("app")
	p, err := profiles.Parse("recorded.yaml", []byte(text))
	if err != nil {
		t.Fatalf("recorded profile does not parse: %v\n%s", err, text)
	}
	c, err := p.Compile()
	if err != nil {
		t.Fatalf("recorded profile does not compile: %v\n%s", err, text)
	}
	if !c.DenyWX || !c.ExecDefaultDeny || !c.DenyFileless || !c.FileDefaultDeny {
		t.Fatalf("recorded profile is not strict where nothing was seen: %+v", c)
	}
	for _, want := range []string{
		`- "/usr/bin/app"`, `- "/lib/x86_64-linux-gnu/libc.so.6"`,
		`path: "/etc/app.conf"` + "\n      allow: [read]",
		`path: "/var/log/app.log"` + "\n      allow: [append, create]",
		`path: "/usr/share/app/*"` + "\n      allow: [read]   # seen 5× by app", // siblings collapsed
		`path: "/proc/**"`, // pids differ between runs
		`path: "/tmp/**"` + "\n      allow: [write, create, truncate]",
		`path: "/srv/*"`, // a name no pattern can spell
	} {
		if !strings.Contains(text, want) {
			t.Errorf("recorded profile lacks %q:\n%s", want, text)
		}
	}
}

func TestProfileRecordsWXFilelessAndPathlessNeeds(t *testing.T) {
	r := New()
	r.Add(exec("/usr/bin/node"))
	r.Add(enforced.Event{Hook: "file_mprotect", Reason: "wx-anonymous"})
	r.Add(enforced.Event{Hook: "bprm_check_security", Reason: "fileless", Path: "/memfd:x (deleted)"})
	r.Add(open("pipe:[1234]", profiles.AccessWrite))
	text := r.Profile("node")
	for _, want := range []string{"wx: allow", "fileless: allow", "default: allow   # seen: opens of pipe"} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q:\n%s", want, text)
		}
	}
	if _, err := profiles.Parse("r.yaml", []byte(text)); err != nil {
		t.Fatal(err)
	}
}

func TestObserveReportsEverything(t *testing.T) {
	c := Observe()
	if c.Mode != profiles.ModeAudit || !c.UsesExec() || !c.UsesFiles() || !c.DenyWX {
		t.Fatalf("Observe = %+v; want audit with every hook in use", c)
	}
}

func TestProfileListsTheAppletsOfMultiCallBinaries(t *testing.T) {
	c := Observe()
	if !c.UsesApplets() {
		t.Fatalf("Observe does not observe applets: %+v", c)
	}
	r := New()
	for _, a := range []string{"ls", "cat", "[", "ls"} {
		r.Add(enforced.Event{Hook: "bprm_committing_creds", Reason: "default", Path: "/bin/busybox",
			Invoked: "/bin/" + a, Applet: a, Access: profiles.AccessExec, Comm: a})
	}
	text := r.Profile("bb")
	if !strings.Contains(text, "    - binary: \"/bin/busybox\"\n      allow: [\"[\", \"cat\", \"ls\"]\n") {
		t.Fatalf("profile lacks the applets:\n%s", text)
	}
	p, err := profiles.Parse("r.yaml", []byte(text))
	if err != nil {
		t.Fatalf("recorded profile does not parse: %v\n%s", err, text)
	}
	cc, err := p.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if !cc.UsesApplets() || !strings.Contains(text, "\"/bin/busybox\"   #") {
		t.Fatalf("compiled: %+v\n%s", cc, text)
	}
}
