package scan

import (
	"strings"
	"testing"

	"athena/internal/yara/compile"
	"athena/internal/yara/parser"
)

// TestNeedsMatch: the conditions recognised as false without a string
// match, and some that must not be, because they hold on a file where no
// string matched.
func TestNeedsMatch(t *testing.T) {
	cases := map[string]bool{
		"$a":                                 true,
		"any of them":                        true,
		"all of them":                        true,
		"2 of them":                          true,
		"50% of them":                        true,
		"$a and filesize > 0":                true,
		"filesize > 0 and #b > 2":            true,
		"$a or $b":                           true,
		"$a at 0 or $b in (0..10)":           true,
		"#a >= 1":                            true,
		"1 < #a":                             true,
		"#a == 3":                            true,
		"none of them":                       false,
		"not $a":                             false,
		"$a or filesize > 0":                 false,
		"#a == 0":                            false,
		"#a < 2":                             false,
		"#a > -1":                            false,
		"0 of them":                          false,
		"for all of them : (# == 0)":         false,
		"for any i in (1..2) : ($a)":         false,
		"uint16(0) == 0x5A4D or #a > 5":      false,
		"any of them or uint16(0) == 0x5A4D": false,
	}
	for cond, want := range cases {
		strs := ""
		for _, id := range []string{"a", "b"} {
			if strings.Contains(cond, "$"+id) || strings.Contains(cond, "#"+id) || strings.Contains(cond, "them") {
				strs += " $" + id + ` = "` + strings.Repeat(id, 4) + `"`
			}
		}
		src := "rule r { strings: " + strs + " condition: " + cond + " }"
		rs, err := parser.Parse("t.yar", []byte(src), parser.Options{})
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		p, err := compile.Compile(rs, compile.Options{})
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		if got := needsMatch(p.RuleList[0].Cond); got != want {
			t.Errorf("needsMatch(%s) = %v, want %v", cond, got, want)
		}
		// Whatever the analysis says, the scanner's answer on a file
		// without matches is the condition's.
		s, err := New(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Begin(-1, nil)
		s.Write([]byte("MZ no strings here"))
		got := len(s.Finish()) == 1
		if want && got {
			t.Errorf("%s: true on a file without matches", cond)
		}
	}
}
