package formats

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParsePasswords(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
		err  string // part of the error, "" for none
	}{
		{"one per line", "infected\nmalware\n", []string{"infected", "malware"}, ""},
		{"no final newline, CRLF", "a\r\nb", []string{"a", "b"}, ""},
		{"blank lines and comments", "\n# the usual\ninfected\n\n#x\n", []string{"infected"}, ""},
		{"escapes", "\\#hash\n\\\\back\n\\plain", []string{"#hash", "\\back", "plain"}, ""},
		{"spaces and tabs kept", " two words \n\tx", []string{" two words ", "\tx"}, ""},
		{"repeats kept once, order kept", "b\na\nb\n", []string{"b", "a"}, ""},
		{"UTF-8", "pässwört\n密码\n", []string{"pässwört", "密码"}, ""},
		{"empty list", "# nothing\n\n", []string{}, ""},
		{"empty data", "", nil, "empty"},
		{"not UTF-8", "ok\nbad\xff\n", nil, "line 2: not UTF-8"},
		{"NUL", "ok\nnul\x00x", nil, "line 2: control character"},
		{"DEL", "del\x7f", nil, "line 1: control character"},
		{"CR inside", "a\rb\n", nil, "line 1: control character"},
		{"lone backslash", "a\n\\\n", nil, "line 2: empty password"},
		{"too long", strings.Repeat("x", MaxPasswordBytes+1), nil, fmt.Sprintf("line 1: %d bytes", MaxPasswordBytes+1)},
		{"longest", strings.Repeat("x", MaxPasswordBytes), []string{strings.Repeat("x", MaxPasswordBytes)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePasswords([]byte(tt.data))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %q, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) || got == nil {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParsePasswordsCount(t *testing.T) {
	var b strings.Builder
	for i := range MaxPasswords {
		fmt.Fprintf(&b, "p%d\n", i)
	}
	b.WriteString("p0\n# a repeat and a comment do not count\n")
	if got, err := ParsePasswords([]byte(b.String())); err != nil || len(got) != MaxPasswords {
		t.Fatalf("%d passwords: got %d, %v", MaxPasswords, len(got), err)
	}
	b.WriteString("one more\n")
	_, err := ParsePasswords([]byte(b.String()))
	if want := fmt.Sprintf("line %d: more than %d passwords", MaxPasswords+3, MaxPasswords); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%d passwords: %v, want %q", MaxPasswords+1, err, want)
	}
}

func TestPasswordsVersion(t *testing.T) {
	v := func(s string) string {
		t.Helper()
		list, err := ParsePasswords([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return PasswordsVersion(list)
	}
	a := v("infected\nmalware\n")
	if len(a) != len("pw-")+16 || !strings.HasPrefix(a, "pw-") {
		t.Fatalf("version %q", a)
	}
	if b := v("# comment\r\ninfected\r\n\r\nmalware\ninfected\n"); b != a {
		t.Errorf("same passwords, other layout: %s, want %s", b, a)
	}
	for _, other := range []string{"malware\ninfected\n", "infected\n", "infected\nmalware\nx\n", "infectedmalware\n", "# none\n"} {
		if b := v(other); b == a {
			t.Errorf("%q has the version of the default list", other)
		}
	}
	if PasswordsVersion(DefaultPasswords()) != a {
		t.Error("DefaultPasswords and its list file differ")
	}
}

// The list is operator input, read by every engine and by the file
// processor in the sandbox: it must never panic, and what it accepts must
// respect its bounds.
func FuzzParsePasswords(f *testing.F) {
	f.Add([]byte("infected\nmalware\n"))
	f.Add([]byte("# c\r\n\\#x\n\\\\y\n\n"))
	f.Add([]byte("a\x00b\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := ParsePasswords(data)
		if err != nil {
			return
		}
		if len(list) > MaxPasswords {
			t.Fatalf("%d passwords", len(list))
		}
		seen := map[string]bool{}
		for _, p := range list {
			if p == "" || len(p) > MaxPasswordBytes || !utf8.ValidString(p) || strings.ContainsAny(p, "\n\r\x00") || seen[p] {
				t.Fatalf("accepted %q", p)
			}
			seen[p] = true
		}
	})
}
