package profiles

import (
	"strings"
	"testing"
)

// header is the three lines every test profile starts with; the line
// numbers in expected errors count from it (the body starts at line 4).
const header = "apiVersion: krsi.dev/v1\nkind: Profile\nname: t\n"

func mustParse(tb testing.TB, body string) *Profile {
	tb.Helper()
	p, err := Parse("t.yaml", []byte(header+body))
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return p
}

func mustCompile(tb testing.TB, body string) *Compiled {
	tb.Helper()
	c, err := mustParse(tb, body).Compile()
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return c
}

// parseError returns the text of Parse's error, failing if there is none.
func parseError(tb testing.TB, doc string) string {
	tb.Helper()
	p, err := Parse("t.yaml", []byte(doc))
	if err == nil {
		tb.Fatalf("Parse accepted %q, want an error", doc)
	}
	if p != nil {
		tb.Errorf("Parse returned a profile with an error")
	}
	if _, ok := err.(ErrorList); !ok {
		tb.Errorf("Parse error is %T, want ErrorList", err)
	}
	return err.Error()
}

func lines(s ...string) string { return strings.Join(s, "\n") }
