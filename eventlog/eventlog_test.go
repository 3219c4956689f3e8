package eventlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

func TestMessageSaysWhatHappened(t *testing.T) {
	tests := []struct {
		ev   enforced.Event
		want string
	}{
		{enforced.Event{Hook: "file_mprotect", Action: "denied", Reason: "wx-anonymous", Prot: 5},
			"denied mprotect: W^X: anonymous memory made executable"},
		{enforced.Event{Hook: "bprm_check_security", Action: "denied", Reason: "rule", Path: "/bin/sh"},
			"denied exec of /bin/sh: a rule of the profile denies it"},
		{enforced.Event{Hook: "file_open", Action: "audited", Reason: "default", Path: "/etc/shadow",
			Access: profiles.AccessRead}, "audit: would deny open of /etc/shadow for read: no rule allows it and the profile denies by default"},
		{enforced.Event{Hook: "bprm_check_security", Action: "denied", Reason: "rule", Path: "/bin/busybox",
			Invoked: "/bin/sh", Applet: "sh"}, "denied exec of /bin/sh → /bin/busybox applet sh: a rule of the profile denies it"},
		{enforced.Event{Hook: "bprm_committing_creds", Action: "killed", Reason: "default", Path: "/bin/busybox",
			Invoked: "/bin/busybox", Applet: "wget"}, "killed exec of /bin/busybox applet wget (after the point of no return: the process was killed): no rule allows it and the profile denies by default"},
	}
	for _, tt := range tests {
		if got := Message(tt.ev); got != tt.want {
			t.Errorf("Message = %q, want %q", got, tt.want)
		}
	}
}

func TestLogNamesTheRuleInTextAndJSON(t *testing.T) {
	ev := enforced.Event{Hook: "bprm_check_security", Action: "denied", Reason: "rule", Path: "/bin/sh",
		Rule: 1, PID: 9, Comm: "app", CgroupID: 77, Access: profiles.AccessExec}
	p := Source{Profile: "builtin/no-shell", Rules: []string{"exec.deny[0]: /bin/bash", "exec.deny[1]: /bin/sh"}}

	var text bytes.Buffer
	log := logrus.New()
	log.Out, log.Formatter = &text, TextFormatter{}
	Log(log, ev, p)
	want := `krsi: denied exec of /bin/sh: a rule of the profile denies it (access=exec action=denied cgroup_id=77 comm=app hook=bprm_check_security path=/bin/sh pid=9 profile=builtin/no-shell reason=rule rule="exec.deny[1]: /bin/sh")` + "\n"
	if text.String() != want {
		t.Fatalf("text:\n got %q\nwant %q", text.String(), want)
	}

	var js bytes.Buffer
	log.Out, log.Formatter = &js, &logrus.JSONFormatter{}
	Log(log, ev, p)
	var m map[string]any
	if err := json.Unmarshal(js.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["rule"] != "exec.deny[1]: /bin/sh" || m["profile"] != "builtin/no-shell" || m["path"] != "/bin/sh" {
		t.Fatalf("json: %s", js.String())
	}

	ev.Rule = 5 // out of range: no rule field, no panic
	if _, ok := Fields(ev, p)["rule"]; ok {
		t.Fatal("an unknown rule index produced a rule field")
	}
}

func TestProtString(t *testing.T) {
	for prot, want := range map[uint32]string{0: "---", 1: "r--", 3: "rw-", 5: "r-x", 7: "rwx"} {
		if got := ProtString(prot); got != want {
			t.Errorf("ProtString(%d) = %q, want %q", prot, got, want)
		}
	}
	if !strings.HasPrefix(Message(enforced.Event{Hook: "x", Action: "denied"}), "denied x") {
		t.Error("unknown hooks are named as they are")
	}
}
