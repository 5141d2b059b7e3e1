package corpus

import (
	"bytes"
	"regexp"
	"testing"
)

func TestRuleStrings(t *testing.T) {
	src := Rules(300, 1)
	got, err := RuleStrings(300, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := len(regexp.MustCompile(`(?m)^\s*\$[a-z]+ = `).FindAll(src, -1))
	if len(got) != want {
		t.Fatalf("RuleStrings: got %d strings, want %d (the $x = lines)", len(got), want)
	}
	kinds := map[StringKind]int{}
	for _, s := range got {
		kinds[s.Kind]++
		if s.Rule == "" || s.ID == "" {
			t.Errorf("string %+v: no rule or id", s)
		}
		if s.Kind == StringText && len(s.Text) == 0 || s.Kind != StringText && s.Source == "" {
			t.Errorf("string %+v: empty", s)
		}
	}
	for _, k := range []StringKind{StringText, StringHex, StringRegexp} {
		if kinds[k] == 0 {
			t.Errorf("no %s strings in 300 rules", k)
		}
	}
	// Rule 5 looks for the echo marker as plain text.
	echo, _ := MarkerText("echo")
	found := false
	for _, s := range got {
		if s.Kind == StringText && bytes.Equal(s.Text, echo) && len(s.Modifiers) == 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no plain text string equal to the echo marker %q", echo)
	}
}

func TestUnquoteYARA(t *testing.T) {
	tests := []struct {
		name, in, want, rest string
	}{
		{"plain", `"abc" nocase`, "abc", " nocase"},
		{"escapes", `"a\"b\\c\x00\x7f" wide`, "a\"b\\c\x00\x7f", " wide"},
		{"quoted by yaraText", yaraText([]byte("CreateObject(\"WScript.Shell\")\x01")), "CreateObject(\"WScript.Shell\")\x01", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest, err := unquoteYARA(tt.in)
			if err != nil || string(got) != tt.want || rest != tt.rest {
				t.Errorf("unquoteYARA(%s) = %q, %q, %v; want %q, %q", tt.in, got, rest, err, tt.want, tt.rest)
			}
		})
	}
	for _, bad := range []string{`"abc`, `"a\q"`, `"a\x4"`} {
		if _, _, err := unquoteYARA(bad); err == nil {
			t.Errorf("unquoteYARA(%s): no error", bad)
		}
	}
}
