package regex

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"athena/internal/yara/object"
)

var _ object.Matcher = (*Regexp)(nil)

// matchesAt runs MatchAt at every offset and renders "off:len" pairs.
func matchesAt(re *Regexp, data []byte) string {
	var out []string
	for i := range data {
		if n := re.MatchAt(data, i); n >= 0 {
			out = append(out, fmt.Sprintf("%d:%d", i, n))
		}
	}
	return strings.Join(out, " ")
}

// The expectations below were read from `yara -s -L` (4.2.3).
func TestMatchAt(t *testing.T) {
	tests := []struct {
		name  string
		re    string
		flags Flags
		data  string
		want  string
	}{
		{"greedy plus, every offset", `a+`, Flags{}, "aaaab", "0:4 1:3 2:2 3:1"},
		{"lazy plus", `a+?`, Flags{}, "aaab", "0:1 1:1 2:1"},
		{"alternation order", `abcd(ef|e)`, Flags{}, "abcdefgh abcdeg", "0:6 9:5"},
		{"alternation then greedy", `abcd(e|ef)g?`, Flags{}, "abcdefgh abcdeg", "0:5 9:6"},
		{"lazy range", `a.{0,3}?b`, Flags{}, "axbxb", "0:3"},
		{"greedy range", `a.{0,3}b`, Flags{}, "axbxb", "0:5"},
		{"empty match is none", `a*`, Flags{}, "baab", "1:2 2:1"},
		{"empty alternative", `b(a|)`, Flags{}, "aaab aaba\nbc", "3:1 7:2 10:1"},
		{"star of brace", `a{,}`, Flags{}, "aab", "0:2 1:1"},
		{"upper bound only", `a{,3}b`, Flags{}, "aaaab", "1:4 2:3 3:2 4:1"},
		{"caret only at 0", `(^|b)a`, Flags{}, "aaab aaba", "0:1 7:2"},
		{"dollar is end of data", `a$|c$`, Flags{}, "a\nbc", "3:1"},
		{"word boundary", `\ba`, Flags{}, "aaab aaba", "0:1 5:1"},
		{"word boundary at end", `c\b`, Flags{}, "bcc", "2:1"},
		{"not word boundary", `\Bb`, Flags{}, "aaab aaba", "3:1 7:1"},
		{"dot skips newline", `a.b`, Flags{}, "a\nb axb", "4:3"},
		{"dotall", `a.b`, Flags{DotAll: true}, "a\nb axb", "0:3 4:3"},
		{"nocase ascii", `ab`, Flags{Nocase: true}, "AB aB \xc1b", "0:2 3:2"},
		{"nocase class negated", `[^a]`, Flags{Nocase: true}, "aAb", "2:1"},
		{"nocase range", `[Y-a]`, Flags{Nocase: true}, "yz{", "0:1 1:1"},
		{"no unicode fold", `\xe9`, Flags{Nocase: true}, "\xc9\xe9", "1:1"},
		{"wide literal", `a|bc`, Flags{Wide: true}, "a\x00b\x00c\x00", "0:2 2:4"},
		{"wide class", `[a-c]+`, Flags{Wide: true}, "a\x00b\x00c\x00 \x00", "0:6 2:4 4:2"},
		{"wide boundary", `c\b`, Flags{Wide: true}, "b\x00c\x00 \x00", "2:2"},
		{"wide no boundary", `b\b`, Flags{Wide: true}, "b\x00c\x00 \x00", ""},
		{"wide dot", `.`, Flags{Wide: true}, "\n\x00x\x00", "2:2"},
		{"escapes", `\q\e\/\ \,`, Flags{}, "qe/ ,", "0:5"},
		{"control escapes", `\t\n\r\f\a`, Flags{}, "\t\n\r\f\a", "0:5"},
		{"hex escape", `\xE8.{2}\x5b`, Flags{}, "\xe8\x00\x01[", "0:4"},
		{"raw high byte", "\xe8", Flags{}, "\xe8", "0:1"},
		{"class specials", `[]a]`, Flags{}, "]ab", "0:1 1:1"},
		{"class escape range", `[\d-f]`, Flags{}, "1def", "1:1 2:1 3:1"},
		{"class perl set", `[\d-]`, Flags{}, "1-a", "0:1 1:1"},
		{"class backspace is b", `[\b]`, Flags{}, "\bb", "1:1"},
		{"space class", `\s+`, Flags{}, "\t\n\v\f\r x", "0:6 1:5 2:4 3:3 4:2 5:1"},
		{"literal braces", `a{x}|a}|a{1, 2}`, Flags{}, "a{x} a} a{1, 2}", "0:4 5:2 8:7"},
		{"exact repeat", `(ab){2}`, Flags{}, "ababab", "0:4 2:4"},
		{"chained lazy gap takes newlines", `ab.{0,201}?c`, Flags{}, "ab\nc", "0:4"},
		{"narrow lazy gap does not", `ab.{0,200}?c`, Flags{}, "ab\nc", ""},
		{"greedy gap does not", `ab.{0,300}c`, Flags{}, "ab\nc", ""},
		{"unbounded lazy gap", `ab.{1,}?c`, Flags{}, "ab\nxc", "0:5"},
		{"wide chained gap counts bytes", `ab.{2,300}?c`, Flags{Wide: true}, "a\x00b\x00qqqqc\x00 a\x00b\x00q\x00c\x00", "0:10 11:8"},
		{"trailing lazy gap", `ab.{2,}?`, Flags{}, "ab\nxx", ""},
		{"lazy star is no gap", `ab.*?c`, Flags{}, "ab\nc", ""},
		{"lazy star before literal", `[a-z]*?cd`, Flags{}, "abcdcd", "0:4 1:3 2:2 3:3 4:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re, err := Compile(tt.re, tt.flags)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.re, err)
			}
			if got := matchesAt(re, []byte(tt.data)); got != tt.want {
				t.Errorf("/%s/ on %q: got %q, want %q", tt.re, tt.data, got, tt.want)
			}
		})
	}
}

func TestMaxMatch(t *testing.T) {
	data := []byte("x" + strings.Repeat("a", 5000))
	tests := []struct {
		re   string
		want int
	}{
		{`xa{4095}`, 4096},
		{`xa{4096}`, -1},
		{`xa+`, 4096},
		{`xa+?`, 2},
		{`xa.{0,5000}?b`, -1},
		{`xa{4095}\b`, 4096}, // \b holds at the end of the window
		{`xa{4095}\B`, -1},
		{`xa+$`, -1}, // $ is the end of the data, not of the window
	}
	for _, tt := range tests {
		if got := MustCompile(tt.re, Flags{}).MatchAt(data, 0); got != tt.want {
			t.Errorf("/%s/: got %d, want %d", tt.re, got, tt.want)
		}
	}
	// Chained strings (split at a wide lazy gap) are limited part by part;
	// an unbounded gap reaches 32767 bytes.
	chained := []struct {
		re   string
		gap  int
		want int
	}{
		{`ab.{0,5000}?c`, 4500, 4503},
		{`ab.{0,}?c`, 32767, 32770},
		{`ab.{0,}?c`, 32768, -1},
	}
	for _, tt := range chained {
		data := []byte("ab" + strings.Repeat("q", tt.gap) + "c")
		re := MustCompile(tt.re, Flags{})
		if got := re.MatchAt(data, 0); got != tt.want {
			t.Errorf("/%s/ over a %d-byte gap: got %d, want %d", tt.re, tt.gap, got, tt.want)
		}
		if tt.want > re.MaxLen() {
			t.Errorf("/%s/: MaxLen %d below a match of %d", tt.re, re.MaxLen(), tt.want)
		}
	}
	if got := MustCompile(`ab.{0,200}?c`, Flags{}).MaxLen(); got != MaxMatch {
		t.Errorf("MaxLen of an unchained regexp: got %d, want %d", got, MaxMatch)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		re   string
		want error // nil: must compile
	}{
		{`a(?:b)c`, ErrSyntax},
		{`(?i)a`, ErrSyntax},
		{`a{3,2}`, ErrBadRepeat},
		{`a{0}`, ErrBadRepeat},
		{`a{0,0}`, ErrBadRepeat},
		{`a{32767}`, nil},
		{`a{32768}`, ErrRepeatTooLarge},
		{`a{99999999999999999999}`, ErrRepeatTooLarge},
		{`[z-a]`, ErrBadRange},
		{`[\w-a]`, ErrBadRange},
		{`[^]`, ErrUnterminatedSet},
		{`[]`, ErrUnterminatedSet},
		{`[a`, ErrUnterminatedSet},
		{`a**`, ErrSyntax},
		{`a*+`, ErrSyntax},
		{`a{1,2}{3}`, ErrSyntax},
		{`*a`, ErrSyntax},
		{`{1}`, ErrSyntax},
		{`(|a)`, ErrSyntax},
		{`()`, ErrSyntax},
		{`|`, ErrSyntax},
		{`a(|)`, ErrSyntax},
		{`^*`, ErrSyntax},
		{`\b*`, ErrSyntax},
		{`$*`, ErrSyntax},
		{`(a`, ErrSyntax},
		{`a)`, ErrSyntax},
		{`\1`, ErrBackreference},
		{`\0`, ErrBackreference},
		{`\x`, ErrIllegalEscape},
		{`\x4`, ErrIllegalEscape},
		{`\xZZ`, ErrIllegalEscape},
		{`[\x4]`, ErrIllegalEscape},
		{`a{1}?b*`, ErrMixedGreedy},
		{``, ErrEmpty},
		{`a||b`, nil},
		{`a|`, nil},
		{`(a|b|)`, nil},
		{`{`, nil},
		{`a{,}`, nil},
		{`[\1]`, nil},
		{`[^]a]`, nil},
		{`a{1}?b*?`, nil},
		{`(a{1000}){1000}`, ErrTooComplex},
		{"(" + strings.Repeat("a|", 128) + "a)", nil},
		{"(" + strings.Repeat("a|", 129) + "a)", ErrTooComplex},
		{strings.Repeat("a?", 128), nil},
		{strings.Repeat("a?", 129), ErrTooComplex},
		{"x(" + strings.Repeat("a?", 64) + "){2}", nil},
		{"x(" + strings.Repeat("a?", 65) + "){2}", ErrTooComplex},
		{"x(" + strings.Repeat("a?", 63) + "){0,}", nil},
		{"x(" + strings.Repeat("a?", 64) + "){0,}", ErrTooComplex},
		{"x(" + strings.Repeat("a?", 42) + "){2,5}", nil},
		{"x(" + strings.Repeat("a?", 43) + "){2,5}", ErrTooComplex},
		{"x(" + strings.Repeat("a?", 43) + "){3}", ErrTooComplex},
		{"x(" + strings.Repeat("a?", 65) + "){0,1}", nil},
		{"x(" + strings.Repeat("a?", 65) + ")*", nil},
		{`(x(ab?){0,100}){0,100}`, nil},
		{strings.Repeat("(", 1000) + "a" + strings.Repeat(")", 1000), ErrTooComplex},
	}
	for _, tt := range tests {
		_, err := Compile(tt.re, Flags{})
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("Compile(%.40q): got %v, want %v", tt.re, err, tt.want)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		re   string
		data string
		want bool
	}{
		{`x*`, "abc", true},
		{`^b`, "abc", false},
		{`^a`, "abc", true},
		{`c$`, "abc", true},
		{`a$`, "a\nb", false},
		{`b\b`, "ab", true},
		{`b\b`, "abc", false},
		{`Dll`, "MyDllMain", true},
		{`^Dll`, "MyDllMain", false},
		{`\x00\xff`, "a\x00\xff", true},
		{`a.{3000}b`, "a" + strings.Repeat("x", 3000) + "b", true},
		// yara's `matches` looks at the first 4096 bytes only.
		{`yz`, strings.Repeat("a", 4094) + "yz", true},
		{`yz`, strings.Repeat("a", 4095) + "yz", false},
		{`a$`, strings.Repeat("a", 5000), false},
		{`a\b`, strings.Repeat("a", 5000), true},
		{`a\B`, strings.Repeat("a", 5000), true},
		{`x.*y`, "x" + strings.Repeat("a", 5000) + "y", false},
	}
	for _, tt := range tests {
		if got := MustCompile(tt.re, Flags{}).Match([]byte(tt.data)); got != tt.want {
			t.Errorf("/%s/.Match(%.20q): got %v, want %v", tt.re, tt.data, got, tt.want)
		}
	}
}

func TestPrefixes(t *testing.T) {
	tests := []struct {
		re    string
		flags Flags
		count int
		len   int
		want  string // lits joined by "|", "!" when not ok
	}{
		{`abc`, Flags{}, 4, 4, "abc"},
		{`abcdef`, Flags{}, 4, 4, "abcd"},
		{`ab|cd`, Flags{}, 4, 4, "ab|cd"},
		{`a?bc`, Flags{}, 4, 4, "abc|bc"},
		{`ab*c`, Flags{}, 4, 4, "a"},
		{`ab+c`, Flags{}, 4, 4, "ab"},
		{`(ab){2}`, Flags{}, 4, 4, "abab"},
		{`ab`, Flags{Nocase: true}, 8, 4, "AB|Ab|aB|ab"},
		{`abc`, Flags{Nocase: true}, 4, 4, "AB|Ab|aB|ab"},
		{`ab`, Flags{Wide: true}, 4, 4, "a\x00b\x00"},
		{`ab`, Flags{Wide: true}, 4, 3, "a\x00b"},
		{`\xE8.{4}\x5B`, Flags{}, 4, 4, "\xe8"},
		{`.abc`, Flags{}, 4, 4, "!"},
		{`a*bc`, Flags{}, 4, 4, "!"},
		{`[a-z]+`, Flags{}, 4, 4, "!"},
		{`^\bab`, Flags{}, 4, 4, "ab"},
		{`https?:\/\/`, Flags{}, 4, 4, "http"},
	}
	for _, tt := range tests {
		lits, ok := MustCompile(tt.re, tt.flags).Prefixes(tt.count, tt.len)
		got := "!"
		if ok {
			var ss []string
			for _, l := range lits {
				ss = append(ss, string(l))
			}
			got = strings.Join(ss, "|")
		}
		if got != tt.want {
			t.Errorf("/%s/ %+v Prefixes(%d, %d): got %q, want %q", tt.re, tt.flags, tt.count, tt.len, got, tt.want)
		}
	}
}

func TestFirstBytesAndAnchored(t *testing.T) {
	re := MustCompile(`(\bx|[Yz]?w)`, Flags{Nocase: true})
	var got []byte
	for c, ok := range re.FirstBytes() {
		if ok {
			got = append(got, byte(c))
		}
	}
	if want := "WXYZwxyz"; string(got) != want {
		t.Errorf("FirstBytes: got %q, want %q", got, want)
	}
	for _, tt := range []struct {
		re   string
		want bool
	}{{`^a`, true}, {`\b^a`, true}, {`^a|^b`, true}, {`^a|b`, false}, {`a^`, false}, {`(^a)+`, true}, {`(^a)*`, false}} {
		if got := MustCompile(tt.re, Flags{}).Anchored(); got != tt.want {
			t.Errorf("/%s/.Anchored(): got %v, want %v", tt.re, got, tt.want)
		}
	}
}

// TestConcurrentUse runs one Regexp from several goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	re := MustCompile(`a(b|bc)+?d`, Flags{Nocase: true})
	data := []byte(strings.Repeat("xabcbcd aBCd abd ", 50))
	want := matchesAt(re, data)
	errs := make(chan string, 4)
	for range 4 {
		go func() {
			got := ""
			for range 20 {
				got = matchesAt(re, data)
				re.Match(data)
			}
			errs <- got
		}()
	}
	for range 4 {
		if got := <-errs; got != want {
			t.Errorf("concurrent MatchAt: got %q, want %q", got, want)
		}
	}
}
