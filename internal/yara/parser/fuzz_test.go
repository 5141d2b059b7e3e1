package parser

import (
	"errors"
	"testing"

	"athena/internal/yara/ast"
)

// FuzzParse checks that Parse never panics, and that it returns either a
// rule set and no error or an ast.ErrorList with at least one positioned
// error.
func FuzzParse(f *testing.F) {
	for _, c := range condCases {
		f.Add(c.source())
	}
	for _, c := range ruleCases {
		f.Add(c.src)
	}
	for _, c := range errorCases {
		f.Add(c.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		include := func(from, path string) (string, []byte, error) {
			return path, []byte(src), nil // every include re-reads the input: cycles and depth
		}
		rs, err := Parse("f.yar", []byte(src), Options{Include: include})
		if rs == nil {
			t.Fatal("Parse returned a nil rule set")
		}
		if err == nil {
			return
		}
		var list ast.ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("Parse: got %T %v, want a non-empty ast.ErrorList", err, err)
		}
		for _, e := range list {
			if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Msg == "" {
				t.Fatalf("malformed error %q", e)
			}
		}
	})
}
