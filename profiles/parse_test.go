package profiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseAcceptsTheDocumentedExample(t *testing.T) {
	p, err := Parse("nginx.yaml", []byte(`apiVersion: krsi.dev/v1
kind: Profile
name: nginx
description: "an example"
mode: audit
images: ["docker.io/library/nginx:*"]
memory:
  wx: deny
exec:
  allow: ["/usr/sbin/nginx", "/lib/**", "/usr/lib/**"]
  deny: ["/bin/sh", "/usr/bin/*"]
  fileless: allow
files:
  default: deny
  rules:
    - path: /etc/nginx/**
      allow: [read]
    - path: /var/log/nginx/**
      allow: [read, write]
    - path: /etc/shadow
      deny: [read, write]
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.File != "nginx.yaml" || p.Name != "nginx" || p.Description != "an example" || p.Mode != ModeAudit {
		t.Errorf("header fields: %+v", p)
	}
	if !slices.Equal(p.Images, []string{"docker.io/library/nginx:*"}) {
		t.Errorf("Images = %q", p.Images)
	}
	if !p.denyWX || !p.execDefaultDeny || p.denyFileless || !p.fileDefaultDeny {
		t.Errorf("flags: wx=%v execDefaultDeny=%v fileless=%v fileDefaultDeny=%v",
			p.denyWX, p.execDefaultDeny, p.denyFileless, p.fileDefaultDeny)
	}
	if len(p.rules) != 8 {
		t.Errorf("%d rules, want 8", len(p.rules))
	}
}

func TestParseDefaultsAllowEverything(t *testing.T) {
	p := mustParse(t, "")
	if p.Mode != ModeEnforce {
		t.Errorf("Mode = %q, want enforce", p.Mode)
	}
	if p.denyWX || p.execDefaultDeny || p.denyFileless || p.fileDefaultDeny || len(p.rules) != 0 || p.Images != nil {
		t.Errorf("an empty profile restricts something: %+v", p)
	}
}

func TestParseTreatsNullSectionsAsEmpty(t *testing.T) {
	p := mustParse(t, "description:\nimages:\nmemory:\nexec:\nfiles:\n")
	if p.denyWX || p.execDefaultDeny || p.fileDefaultDeny {
		t.Errorf("null sections restrict something: %+v", p)
	}
}

func TestParseFilelessDefaultsToDenyUnderAnAllowList(t *testing.T) {
	for _, tc := range []struct {
		body string
		want bool
	}{
		{"exec:\n  deny: [/bin/sh]\n", false},
		{"exec:\n  allow: [/bin/app]\n", true},
		{"exec:\n  allow: [/bin/app]\n  fileless: allow\n", false},
		{"exec:\n  fileless: deny\n", true},
	} {
		if got := mustParse(t, tc.body).denyFileless; got != tc.want {
			t.Errorf("%q: denyFileless = %v, want %v", tc.body, got, tc.want)
		}
	}
}

func TestParseTakesScalarsAsWritten(t *testing.T) {
	p, err := Parse("t.yaml", []byte("apiVersion: krsi.dev/v1\nkind: Profile\nname: 42\ndescription: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "42" || p.Description != "true" {
		t.Errorf("Name, Description = %q, %q", p.Name, p.Description)
	}
}

// Each case is a whole document and the whole error text: the line numbers
// are part of the contract with the person reading them.
func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"EmptyFile", "", "t.yaml: empty document: want a profile (apiVersion: krsi.dev/v1, kind: Profile)"},
		{"CommentsOnly", "# nothing\n", "t.yaml: empty document: want a profile (apiVersion: krsi.dev/v1, kind: Profile)"},
		{"NullDocument", "---\n~\n", "t.yaml:2: empty document: want a profile (apiVersion: krsi.dev/v1, kind: Profile)"},
		{"SecondDocument", header + "---\nname: u\n", "t.yaml:4: a second YAML document starts here: a profile file holds exactly one"},
		{"TrailingDocumentMarker", header + "---\n", "t.yaml:4: a second YAML document starts here: a profile file holds exactly one"},
		{"SyntaxError", header + " mode: audit\n", "t.yaml:4: invalid YAML: mapping values are not allowed in this context"},
		{"SyntaxErrorInSecondDocument", header + "---\n[\n", "t.yaml:5: invalid YAML: did not find expected node content"},
		{"List", "- a\n", "t.yaml:1: want a profile, a mapping (apiVersion: krsi.dev/v1, kind: Profile, …), got a list"},
		{"MissingAPIVersion", "kind: Profile\nname: t\n", "t.yaml:1: apiVersion: required field is missing (want krsi.dev/v1)"},
		{"OtherAPIVersion", "apiVersion: krsi.dev/v2\nkind: Profile\nname: T\n", `t.yaml:1: apiVersion: unsupported apiVersion "krsi.dev/v2" (want krsi.dev/v1)`},
		{"OtherKind", "apiVersion: krsi.dev/v1\nkind: Pod\nbogus: 1\n", `t.yaml:2: kind: unsupported kind "Pod" (want Profile)`},
		{"MissingName", "apiVersion: krsi.dev/v1\nkind: Profile\n", "t.yaml:1: name: required field is missing"},
		{"EmptyName", "apiVersion: krsi.dev/v1\nkind: Profile\nname: \"\"\n", "t.yaml:3: name: must not be empty"},
		{"UpperCaseName", "apiVersion: krsi.dev/v1\nkind: Profile\nname: Nginx\n",
			`t.yaml:3: name: invalid name "Nginx": want lower-case letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"NameStartingWithDash", "apiVersion: krsi.dev/v1\nkind: Profile\nname: -x\n",
			`t.yaml:3: name: invalid name "-x": want lower-case letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"LongName", "apiVersion: krsi.dev/v1\nkind: Profile\nname: " + strings.Repeat("a", 64) + "\n",
			fmt.Sprintf("t.yaml:3: name: %q is 64 bytes long, max 63", strings.Repeat("a", 64))},
		{"UnknownField", header + "exec:\n  alow: [/bin/app]\n", `t.yaml:5: exec: unknown field "alow" (want one of allow, deny, fileless, applets)`},
		{"UnknownTopLevelField", header + "bogus: 1\n",
			`t.yaml:4: unknown field "bogus" (want one of apiVersion, kind, name, description, mode, images, memory, exec, files)`},
		{"DuplicateKey", header + "mode: audit\nmode: enforce\n", `t.yaml:5: duplicate field "mode" (first at line 4)`},
		{"DuplicateKeyInRule", header + "files:\n  rules:\n    - path: /a\n      path: /b\n      allow: [read]\n",
			`t.yaml:7: files.rules[0]: duplicate field "path" (first at line 6)`},
		{"UnknownMode", header + "mode: strict\n", `t.yaml:4: mode: unknown mode "strict" (want enforce or audit)`},
		{"BooleanWX", header + "memory:\n  wx: false\n", `t.yaml:5: memory.wx: unknown value "false" (want deny or allow)`},
		{"MemoryAsList", header + "memory: [wx]\n", "t.yaml:4: memory: want a mapping, got a list"},
		{"Alias", header + "exec:\n  allow: &libs [/lib/**]\n  deny: *libs\n", "t.yaml:6: exec.deny: YAML aliases (*libs) are not supported in profiles"},
		{"BinaryTag", header + "description: !!binary aGk=\n", "t.yaml:4: description: unsupported YAML tag !!binary (want a plain string)"},
		{"ImageWithSpace", header + "images: [\"nginx latest\"]\n", `t.yaml:4: images[0]: image reference "nginx latest" contains white space`},
		{"EmptyImage", header + "images:\n  - nginx\n  - \"\"\n", "t.yaml:6: images[1]: empty image reference"},
		{"EmptyExecAllow", header + "exec:\n  allow: []\n",
			"t.yaml:5: exec.allow: empty list: an allow list denies every other exec only if it names something; list what may run, or remove it"},
		{"NullExecAllow", header + "exec:\n  allow:\n",
			"t.yaml:5: exec.allow: empty list: an allow list denies every other exec only if it names something; list what may run, or remove it"},
		{"ExecAllowAsString", header + "exec:\n  allow: /bin/app\n", "t.yaml:5: exec.allow: want a list, got a scalar"},
		{"RelativeExecPath", header + "exec:\n  deny: [bin/sh]\n", `t.yaml:5: exec.deny[0]: path "bin/sh" is not absolute (it must start with /)`},
		{"UnknownAccess", header + "files:\n  rules:\n    - path: /etc/**\n      allow: [read, wrte]\n",
			`t.yaml:7: files.rules[0].allow[1]: unknown access "wrte" (want one of read, write, append, create, truncate)`},
		{"ExecInFileRule", header + "files:\n  rules:\n    - path: /app/**\n      allow: [exec]\n",
			`t.yaml:7: files.rules[0].allow[0]: "exec" is not a file access: list executables under exec.allow or exec.deny`},
		{"RuleWithoutPath", header + "files:\n  rules:\n    - allow: [read]\n", "t.yaml:6: files.rules[0].path: required field is missing"},
		{"RuleWithoutAccess", header + "files:\n  rules:\n    - path: /a\n",
			"t.yaml:6: files.rules[0]: rule allows and denies nothing: give it allow or deny access words (read, write, append, create, truncate)"},
		{"RuleAsString", header + "files:\n  rules:\n    - /etc/**\n", "t.yaml:6: files.rules[0]: want a mapping, got a scalar"},
		{"UnknownFilesDefault", header + "files:\n  default: deny-all\n", `t.yaml:5: files.default: unknown value "deny-all" (want allow or deny)`},
		{"BadFileless", header + "exec:\n  fileless: no\n", `t.yaml:5: exec.fileless: unknown value "no" (want deny or allow)`},
		{"AppletsWithoutBinary", header + "exec:\n  applets:\n    - deny: [sh]\n",
			"t.yaml:6: exec.applets[0].binary: required field is missing (the multi-call binary's path, e.g. /bin/busybox)"},
		{"AppletsBinaryPattern", header + "exec:\n  applets:\n    - binary: /bin/*\n      deny: [sh]\n",
			`t.yaml:6: exec.applets[0].binary: "/bin/*": name one binary by its path, not a pattern`},
		{"AppletsNone", header + "exec:\n  applets:\n    - binary: /bin/busybox\n",
			"t.yaml:6: exec.applets[0]: no applets: give allow or deny, a list of applet names"},
		{"AppletPath", header + "exec:\n  applets:\n    - binary: /bin/busybox\n      deny: [sh, /bin/sh]\n",
			`t.yaml:7: exec.applets[0].deny[1]: applet name "/bin/sh": a name, not a path (no '/')`},
		{"AppletEmpty", header + "exec:\n  applets:\n    - binary: /bin/busybox\n      allow: [\"\"]\n",
			"t.yaml:7: exec.applets[0].allow[0]: empty applet name"},
		{"AppletsBinaryTwice", header + "exec:\n  applets:\n    - binary: /bin/busybox\n      deny: [sh]\n    - binary: /bin/busybox\n      deny: [nc]\n",
			"t.yaml:8: exec.applets[1].binary: /bin/busybox is named twice in exec.applets: give it one entry"},
		{"AppletsUnknownField", header + "exec:\n  applets:\n    - binary: /bin/busybox\n      denny: [sh]\n",
			`t.yaml:7: exec.applets[0]: unknown field "denny" (want one of binary, allow, deny)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseError(t, tc.doc); got != tc.want {
				t.Errorf("error:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestParseReportsAllErrorsInLineOrder(t *testing.T) {
	got := parseError(t, header+`files:
  rules:
    - path: /etc/**
      allow: [wrte]
exec:
  deny: [/a/../b]
mode: strict
`)
	want := lines(
		`t.yaml:7: files.rules[0].allow[0]: unknown access "wrte" (want one of read, write, append, create, truncate)`,
		`t.yaml:9: exec.deny[0]: path "/a/../b" contains a . or .. segment; write the path the kernel resolves`,
		`t.yaml:10: mode: unknown mode "strict" (want enforce or audit)`,
	)
	if got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
}

func TestParseStopsCollectingAfterMaxErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(header + "exec:\n  deny:\n")
	for range maxErrors + 10 {
		b.WriteString("    - rel\n")
	}
	_, err := Parse("t.yaml", []byte(b.String()))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T, want ErrorList", err)
	}
	if len(list) != maxErrors+1 {
		t.Fatalf("%d errors, want %d and a final note", len(list), maxErrors+1)
	}
	if got, want := list[maxErrors].Error(), "t.yaml: too many errors (showing the first 100)"; got != want {
		t.Errorf("last error %q, want %q", got, want)
	}
}

func TestParseRejectsTooManyRules(t *testing.T) {
	var b strings.Builder
	b.WriteString(header + "exec:\n  allow:\n")
	for range MaxRules - 1 {
		b.WriteString("    - /a\n")
	}
	b.WriteString("files:\n  rules:\n    - {path: /b, allow: [read]}\n    - {path: /c, allow: [read]}\n")
	got := parseError(t, b.String())
	// The first rule over the limit is files.rules[1], on the last line.
	line := 4 + 2 + (MaxRules - 1) + 3
	want := fmt.Sprintf("t.yaml:%d: files.rules[1]: too many rules: a profile holds at most 65536 (exec.allow, exec.deny and files.rules together)", line)
	if got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
}

func TestParseAcceptsMaxRules(t *testing.T) {
	var b strings.Builder
	b.WriteString(header + "exec:\n  deny:\n")
	for i := range MaxRules {
		fmt.Fprintf(&b, "    - /a/%d\n", i)
	}
	if p := mustParse(t, strings.TrimPrefix(b.String(), header)); len(p.rules) != MaxRules {
		t.Errorf("%d rules, want %d", len(p.rules), MaxRules)
	}
}

func TestParseRejectsTooManyImages(t *testing.T) {
	body := "images:\n" + strings.Repeat("  - nginx\n", MaxImages+1)
	got := parseError(t, header+body)
	want := fmt.Sprintf("t.yaml:%d: images[256]: too many images: at most 256", 5+MaxImages)
	if got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
}

func TestParseRejectsOversizedInput(t *testing.T) {
	got := parseError(t, header+strings.Repeat("#", MaxFileSize))
	if want := "t.yaml: file is more than 4194304 bytes, larger than the 4 MiB a profile may be"; got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
}

func TestLoadFileRejectsOversizedFileBeforeReading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, make([]byte, MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	want := path + ": file is 4194305 bytes, larger than the 4 MiB a profile may be"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

func TestLoadFileNamesTheFileInErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(path, []byte(header+"mode: strict\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	want := path + `:4: mode: unknown mode "strict" (want enforce or audit)`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 4 || e.Field != "mode" || e.File != path {
		t.Errorf("errors.As(*Error) = %+v", e)
	}
}

func TestLoadFileWrapsIOErrors(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestErrorWithoutLineOrField(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Field: "mode", Msg: "m"}, "a.yaml:3: mode: m"},
		{Error{File: "a.yaml", Line: 3, Msg: "m"}, "a.yaml:3: m"},
		{Error{File: "a.yaml", Msg: "m"}, "a.yaml: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v.Error() = %q, want %q", tc.e, got, tc.want)
		}
	}
}
