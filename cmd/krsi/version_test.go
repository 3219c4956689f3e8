package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/enforcement"
)

// runKrsi runs krsi's command line in-process and returns its stdout.
func runKrsi(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestVersionPrintsBuildCommitGoAndObject(t *testing.T) {
	v := versionInfo{Version: "v1.2.3", Commit: "0123abcd", Go: "go1.26.8", BPFObject: "a1b2c3d4e5f6"}
	tests := []struct {
		name    string
		format  string
		want    string
		wantErr string
	}{
		{name: "text", format: "text",
			want: "version: v1.2.3\ncommit: 0123abcd\ngo: go1.26.8\nbpfObject: a1b2c3d4e5f6\n"},
		{name: "json", format: "json",
			want: `{"version":"v1.2.3","commit":"0123abcd","go":"go1.26.8","bpfObject":"a1b2c3d4e5f6"}` + "\n"},
		{name: "unknown format", format: "yaml", wantErr: `-o "yaml": want text or json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := writeVersion(&b, v, tt.format)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("writeVersion = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("writeVersion printed\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

func TestVersionCommandAndFlagPrintTheSame(t *testing.T) {
	sub, err := runKrsi(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	flag, err := runKrsi(t, "--version")
	if err != nil {
		t.Fatal(err)
	}
	if sub != flag {
		t.Errorf("krsi version printed\n%s\nkrsi --version printed\n%s", sub, flag)
	}
	for _, want := range []string{"version: dev\n", "commit: ", "go: go", "bpfObject: " + enforcement.ObjectID() + "\n"} {
		if !strings.Contains(sub, want) {
			t.Errorf("krsi version printed\n%s\nwant a line with %q", sub, want)
		}
	}
}

func TestVersionJSONParses(t *testing.T) {
	out, err := runKrsi(t, "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("krsi version -o json printed %q: %v", out, err)
	}
	if v.Version != "dev" || v.Commit == "" || !strings.HasPrefix(v.Go, "go") || v.BPFObject != enforcement.ObjectID() {
		t.Errorf("krsi version -o json = %+v", v)
	}
}
