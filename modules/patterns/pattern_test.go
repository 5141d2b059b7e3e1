package patterns

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"athena/internal/core"
)

// format spells p as a canonical hex pattern.
func format(p pattern) string {
	var tokens []string
	for k, s := range p.segs {
		if k > 0 {
			g := p.gaps[k-1]
			if g.min == g.max {
				tokens = append(tokens, fmt.Sprintf("[%d]", g.min))
			} else {
				tokens = append(tokens, fmt.Sprintf("[%d-%d]", g.min, g.max))
			}
		}
		for i, v := range s.val {
			tokens = append(tokens, formatNibble(v>>4, s.mask[i]>>4)+formatNibble(v&0xF, s.mask[i]&0xF))
		}
	}
	return strings.Join(tokens, " ")
}

func formatNibble(v, m byte) string {
	if m == 0 {
		return "?"
	}
	return fmt.Sprintf("%X", v)
}

func TestParseHex(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    string // canonical form
		anchor  string
		wantMax int
	}{
		{"bytes", "4D 5A", "4D 5A", "MZ", 2},
		{"no spaces, lower case", "4d5a??", "4D 5A ??", "MZ", 3},
		{"other whitespace", "\t41\n42\r ", "41 42", "AB", 2},
		{"nibbles", "4? ?A 41 42 ?? 43", "4? ?A 41 42 ?? 43", "AB", 6},
		{"first anchor on a tie", "41 ?? 42", "41 ?? 42", "A", 3},
		{"anchor after a jump", "41 [2-4] 42 43", "41 [2-4] 42 43", "BC", 7},
		{"exact jump", "41 [3] 42", "41 [3] 42", "A", 5},
		{"zero jump", "41 [0] 42 43", "41 [0] 42 43", "BC", 3},
		{"largest jump", "41 [0-255] 42", "41 [0-255] 42", "A", 257},
		{"two jumps", "41 [1-2] 42 42 [3] 43", "41 [1-2] 42 42 [3] 43", "BB", 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePattern(Rule{Name: "x", Pattern: tt.src, Hex: true})
			if err != nil {
				t.Fatalf("parse %q: %v", tt.src, err)
			}
			if got := format(p); got != tt.want {
				t.Errorf("parse %q = %q, want %q", tt.src, got, tt.want)
			}
			if got := string(p.anchor()); got != tt.anchor {
				t.Errorf("anchor of %q = %q, want %q", tt.src, got, tt.anchor)
			}
			if p.maxLen != tt.wantMax {
				t.Errorf("maxLen of %q = %d, want %d", tt.src, p.maxLen, tt.wantMax)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		hex  bool
		want string
	}{
		{"empty hex", "  ", true, `patterns: rule "x": empty pattern`},
		{"empty literal", "", false, `patterns: rule "x": empty pattern`},
		{"bad character", "4D 5A XX", true, `patterns: rule "x": col 7: unexpected 'X'`},
		{"half byte at end", "4D 5", true, `patterns: rule "x": col 4: incomplete byte "5"`},
		{"half byte", "4D 5 A", true, `patterns: rule "x": col 5: unexpected ' ', want a hex digit or '?'`},
		{"leading jump", "[2] 41", true, `patterns: rule "x": col 1: pattern starts with a jump`},
		{"trailing jump", "41 [2]", true, `patterns: rule "x": col 4: pattern ends with a jump`},
		{"jump after jump", "41 [2] [3] 42", true, `patterns: rule "x": col 8: jump follows a jump`},
		{"reversed jump", "41 [4-2] 42", true, `patterns: rule "x": col 4: jump [4-2] has min greater than max`},
		{"jump too long", "41 [256] 42", true, `patterns: rule "x": col 5: jump bound greater than 255`},
		{"unbounded jump", "41 [2-] 42", true, `patterns: rule "x": col 7: unbounded jumps are not supported`},
		{"jump without number", "41 [x] 42", true, `patterns: rule "x": col 5: want a jump bound (a decimal number)`},
		{"unclosed jump", "41 [2 42", true, `patterns: rule "x": col 6: want ']' to close the jump at col 4`},
		{"jump at end of input", "41 [2-3", true, `patterns: rule "x": col 8: want ']' to close the jump at col 4`},
		{"no fixed byte", "?? 4? ?1", true, `patterns: rule "x": pattern has no fixed byte to anchor on`},
		{"hex too long", "41 [255] 41 [255] 41 [255] 41 [255] 41", true,
			`patterns: rule "x": pattern may match 1025 bytes, more than 1024`},
		{"literal too long", strings.Repeat("a", MaxPatternLen+1), false,
			`patterns: rule "x": pattern may match 1025 bytes, more than 1024`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]Rule{{Name: "x", Pattern: tt.src, Hex: tt.hex}})
			if err == nil {
				t.Fatalf("Compile(%q) succeeded, want error %q", tt.src, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Compile(%q) error = %q, want %q", tt.src, got, tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Rule != "x" {
				t.Errorf("Compile(%q) error = %#v, want a *ParseError for rule x", tt.src, err)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	ok := Rule{Name: "a", Pattern: "abc"}
	tests := []struct {
		name  string
		rules []Rule
		want  string
	}{
		{"empty name", []Rule{ok, {Pattern: "x"}}, `patterns: rule 1: empty name`},
		{"duplicate name", []Rule{ok, ok}, `patterns: rule "a": duplicate name`},
		{"bad severity", []Rule{{Name: "s", Pattern: "x", Severity: core.Critical + 1}}, `patterns: rule "s": invalid severity 5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.rules)
			if err == nil {
				t.Fatalf("Compile succeeded, want error %q", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Compile error = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultRulesCompile(t *testing.T) {
	rules := DefaultRules()
	set, err := Compile(rules)
	if err != nil {
		t.Fatalf("Compile(DefaultRules()) = %v", err)
	}
	if got, want := len(set.rules)*MaxFindingsPerRule, 10000; got > want {
		t.Errorf("rules*MaxFindingsPerRule = %d, more than the host relays (%d)", got, want)
	}
	for _, r := range rules {
		if r.Description == "" {
			t.Errorf("rule %q has no description", r.Name)
		}
	}
}

// FuzzParseHex checks that the hex parser never panics, that it reports
// errors at a column inside the input, and that what it accepts is
// well-formed and survives a round trip through its canonical form.
func FuzzParseHex(f *testing.F) {
	for _, s := range []string{
		"4D 5A", "4d5a??", "4? ?A [2-4] 41 42", "41 [0-255] 42", "[1] 41", "41 [2-]",
		"41 [2] [3] 42", "?? ??", "41 [999999999999999999999] 42", "\t41\n",
		"49 45 58 [0-96] 46 72 6F 6D", "7F 45 4C 46 0? 0? 01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := parsePattern(Rule{Name: "f", Pattern: src, Hex: true})
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("parse %q: error %T, want *ParseError", src, err)
			}
			if pe.Col < 0 || pe.Col > len(src)+1 || pe.Msg == "" || pe.Rule != "f" {
				t.Fatalf("parse %q: bad error %#v", src, pe)
			}
			return
		}
		checkPattern(t, src, p)
		canon := format(p)
		q, err := parsePattern(Rule{Name: "f", Pattern: canon, Hex: true})
		if err != nil {
			t.Fatalf("parse %q: ok, but its canonical form %q: %v", src, canon, err)
		}
		if got := format(q); got != canon {
			t.Fatalf("round trip of %q: %q, want %q", src, got, canon)
		}
		if q.anchorSeg != p.anchorSeg || q.anchorOff != p.anchorOff || q.anchorLen != p.anchorLen || q.maxLen != p.maxLen {
			t.Fatalf("round trip of %q changed the anchor or length", src)
		}
	})
}

// checkPattern checks the invariants of a parsed pattern.
func checkPattern(t *testing.T, src string, p pattern) {
	t.Helper()
	if len(p.segs) != len(p.gaps)+1 {
		t.Fatalf("parse %q: %d segments, %d gaps", src, len(p.segs), len(p.gaps))
	}
	n := 0
	longest := 0
	for _, s := range p.segs {
		if len(s.val) == 0 || len(s.val) != len(s.mask) {
			t.Fatalf("parse %q: bad segment %+v", src, s)
		}
		n += len(s.val)
		run := 0
		for i, v := range s.val {
			if v&s.mask[i] != v {
				t.Fatalf("parse %q: value %#x not masked by %#x", src, v, s.mask[i])
			}
			if s.mask[i] == 0xFF {
				run++
				longest = max(longest, run)
			} else {
				run = 0
			}
		}
	}
	for _, g := range p.gaps {
		if g.min < 0 || g.min > g.max || g.max > MaxJump {
			t.Fatalf("parse %q: bad gap %+v", src, g)
		}
		n += g.max
	}
	if n != p.maxLen || p.maxLen > MaxPatternLen {
		t.Fatalf("parse %q: maxLen %d, want %d (at most %d)", src, p.maxLen, n, MaxPatternLen)
	}
	if p.anchorLen != longest || p.anchorLen == 0 {
		t.Fatalf("parse %q: anchor length %d, longest fixed run %d", src, p.anchorLen, longest)
	}
	for _, m := range p.segs[p.anchorSeg].mask[p.anchorOff : p.anchorOff+p.anchorLen] {
		if m != 0xFF {
			t.Fatalf("parse %q: anchor holds a wildcard", src)
		}
	}
}
