package profiles

import (
	"strings"
	"testing"
	"time"
)

// A profile of 1,000,000 rules (3 MB in YAML's flow style, under the file
// size limit) is refused at the first rule over the limit, in bounded time.
func TestMillionRuleProfileIsRefusedAtTheFirstRuleOverTheLimit(t *testing.T) {
	doc := header + "exec:\n  deny: [" + strings.Repeat("/a,", 1000000) + "/a]\n"
	start := time.Now()
	got := parseError(t, doc)
	if want := "t.yaml:5: exec.deny[65536]: too many rules: a profile holds at most 65536 (exec.allow, exec.deny and files.rules together)"; got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("refusing it took %s", took)
	}
}

// Deeply nested YAML is refused by the parser's depth limit, with a line.
func TestDeeplyNestedYAMLIsRefused(t *testing.T) {
	for name, doc := range map[string]string{
		"lists":    header + "exec:\n  deny: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n",
		"mappings": header + "exec:\n  deny: " + strings.Repeat("{a: ", 100000) + "b" + strings.Repeat("}", 100000) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			got := parseError(t, doc)
			if want := "t.yaml:5: invalid YAML: exceeded max depth of 10000"; got != want {
				t.Errorf("error:\n got %.300s\nwant %s", got, want)
			}
		})
	}
}

// A rule path longer than the kernel resolves is refused with its length.
func TestHugeRulePathIsRefused(t *testing.T) {
	got := parseError(t, header+"exec:\n  deny: [/"+strings.Repeat("p", 1<<20)+"]\n")
	if !strings.Contains(got, "exec.deny[0]: path is 1048577 bytes long, max 4095") {
		t.Errorf("error: %.300s", got)
	}
	if len(got) > 1024 {
		t.Errorf("the error is %d bytes long", len(got))
	}
}
