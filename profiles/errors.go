package profiles

import (
	"strconv"
	"strings"
)

// Error is one problem found in a profile. Its text is the form compilers
// use, so editors can jump to it:
//
//	nginx.yaml:12: files.rules[2].allow[0]: unknown access "wrte" (want one of …)
type Error struct {
	File  string // as given to Parse or LoadFile
	Line  int    // 1-based; 0 when the problem is the file as a whole
	Field string // dotted path of the field, e.g. "files.rules[2].allow[0]"; may be empty
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one profile, in line order, so that
// `krsi profile check` can show them all at once rather than one per run.
type ErrorList []*Error

func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.As find the first *Error.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}
