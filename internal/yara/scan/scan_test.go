package scan_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"athena/internal/yara/compile"
	"athena/internal/yara/parser"
	"athena/internal/yara/plan"
	"athena/internal/yara/scan"
)

func TestEarly(t *testing.T) {
	const rules = `
rule plain { strings: $a = "abc" condition: $a }
rule count { strings: $a = "x" condition: #a >= 3 }
rule sized { strings: $a = "abc" condition: $a and filesize > 0 }
rule negated { strings: $a = "abc" $b = "zzz" condition: $a and not $b }
rule quant { strings: $a = "abc" $b = "x" condition: all of them }
rule ref { condition: plain and quant }
`
	p := compileRules(t, rules)
	s, err := scan.New(p, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	chunks := []string{"..ab", "c..x", "x.", "x", "...."}
	fired := map[string]int{} // rule -> index of the Write that fired it
	write := 0
	s.Begin(-1, func(m scan.RuleMatch) {
		if _, dup := fired[m.Rule]; dup {
			t.Errorf("rule %s fired twice", m.Rule)
		}
		fired[m.Rule] = write
	})
	for i, c := range chunks {
		write = i
		s.Write([]byte(c))
	}
	ms := s.Finish()
	// A match is seen once the 3 bytes after its atom's start arrived (or at
	// Finish): "x" at offset 7 is seen in Write 3, the one at 10 in Write 4.
	want := map[string]int{"plain": 1, "count": 4, "quant": 3, "ref": 3}
	if fmt.Sprint(fired) != fmt.Sprint(want) {
		t.Fatalf("early rules fired at writes %v, want %v", fired, want)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Rule)
		if _, ok := want[m.Rule]; ok != m.Early {
			t.Errorf("rule %s: Early = %v, want %v", m.Rule, m.Early, ok)
		}
	}
	if !slices.Equal(names, []string{"plain", "count", "sized", "negated", "quant", "ref"}) {
		t.Fatalf("Finish: %v", names)
	}
}

func TestEarlyGlobal(t *testing.T) {
	p := compileRules(t, `global rule g { condition: filesize > 10 } rule r { strings: $a = "abc" condition: $a }`)
	s, err := scan.New(p, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Begin(-1, func(m scan.RuleMatch) { t.Errorf("rule %s fired early under a global rule", m.Rule) })
	s.Write([]byte("abc"))
	if ms := s.Finish(); len(ms) != 0 {
		t.Fatalf("Finish: %v, want nothing (the global rule is false)", ms)
	}
}

// TestWindowBounded scans a large file in small chunks with a small
// MaxData and checks that matches far apart are all found.
func TestWindowBounded(t *testing.T) {
	p := compileRules(t, `rule r { strings: $a = "needle" $h = { 4E 45 [2-4] 44 } condition: #a == 64 and #h == 64 and uint8(0) == 0x2E and not defined uint8(2000) }`)
	s, err := scan.New(p, scan.Options{MaxData: 1024})
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for range 64 {
		data = append(data, bytes.Repeat([]byte("."), 100_000)...)
		data = append(data, "needle NE..D"...)
	}
	ms := scanChunks(s, data, 4093, -1)
	if len(ms) != 1 {
		t.Fatalf("got %v, want rule r", ms)
	}
}

// TestChunkInvariance compares random data scanned whole and in random
// chunks, with rules whose matches often cross chunk boundaries.
func TestChunkInvariance(t *testing.T) {
	p := compileRules(t, `
rule a { strings: $a = "abab" $b = "ba" nocase wide ascii $c = { 61 [1-3] 62 ( 61 | 62 63 ) } $d = "ab" fullword condition: any of them }
rule b { strings: $x = "abc" xor(0-3) $y = "YWJj" condition: any of them }`)
	s, err := scan.New(p, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		data := make([]byte, rng.IntN(3000))
		for j := range data {
			data[j] = "abcAB \x00\x01"[rng.IntN(8)]
		}
		want := fmt.Sprint(scanChunks(s, data, 0, -1))
		s.Begin(int64(len(data)), nil)
		for off := 0; off < len(data); {
			n := min(len(data)-off, 1+rng.IntN(50))
			s.Write(data[off : off+n])
			off += n
		}
		if got := fmt.Sprint(s.Finish()); got != want {
			t.Fatalf("case %d: chunked scan differs:\n%s\nwhole:\n%s", i, got, want)
		}
	}
}

// FuzzScan compiles small random rules and scans random data: nothing may
// panic, and chunking must not change the result.
func FuzzScan(f *testing.F) {
	f.Add(uint64(1), []byte("abcabc\x00a\x00b"), uint8(3))
	f.Add(uint64(7), []byte("MZ\x90\x00PE\x00\x00"), uint8(1))
	f.Fuzz(func(t *testing.T, seed uint64, data []byte, chunk uint8) {
		src := randomRules(seed)
		rs, err := parser.Parse("fuzz.yar", []byte(src), parser.Options{})
		if err != nil {
			return
		}
		p, err := compile.Compile(rs, compile.Options{})
		if err != nil {
			return
		}
		s, err := scan.New(p, scan.Options{MaxData: 64})
		if err != nil {
			return
		}
		want := fmt.Sprint(scanChunks(s, data, 0, -1))
		if got := fmt.Sprint(scanChunks(s, data, int(chunk%16)+1, -1)); got != want {
			t.Fatalf("rules:\n%s\nchunked:\n%s\nwhole:\n%s", src, got, want)
		}
	})
}

// randomRules builds a small rule set from a grammar driven by seed.
func randomRules(seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var b strings.Builder
	for r := range 1 + rng.IntN(3) {
		fmt.Fprintf(&b, "%srule r%d {\n strings:\n", pick("", "", "private ", "global "), r)
		n := 1 + rng.IntN(3)
		for i := range n {
			switch rng.IntN(4) {
			case 3:
				fmt.Fprintf(&b, "  $s%d = /%s/ %s\n", i, pick("ab+c", "a.c", "^MZ", "[a-c]{2,3}", "a|bc", "x?y*z", "\\bab\\b", "a$"),
					pick("", "nocase", "wide", "wide ascii", "fullword", "private"))
			case 0:
				fmt.Fprintf(&b, "  $s%d = %q %s\n", i, pick("a", "ab", "abc", "MZ", "\x00a"),
					pick("", "nocase", "wide", "wide ascii", "fullword", "xor", "xor(1-2)", "private"))
			case 1:
				fmt.Fprintf(&b, "  $s%d = { %s }\n", i, pick("61 62", "61 ?? 63", "4D [0-2] 5A", "( 61 | 62 ) 62", "?? 61", "6? [1-] 62",
					"61 [0-3] ( 62 | 63 ) ?? 61", "?? ?? 62 62", "5A ?? [1-2] 61", "61 [300-] 62", "62 ( 61 [1] 62 | 63 ) 61"))
			default:
				fmt.Fprintf(&b, "  $s%d = %q base64\n", i, pick("abc", "MZ\x90"))
			}
		}
		cond := []string{"any of them", "all of them", "#s0 > 1", "$s0 at 0", "@s0[1] < 5",
			"for any i in (0..2) : ( uint8(i) == 0x61 )", "not $s0", "filesize < 10", "!s0[1] == 2",
			fmt.Sprintf("$s%d in (1..4)", n-1), "uint32be(1) \\ (filesize - 5) > 0", "1 of ($s*)",
			"for all of them : ( # < 3 )", "for any i in (1..#s0) : ( @s0[i] % 2 == 0 )", "#s0 in (2..20) == 1", "50% of them"}
		fmt.Fprintf(&b, " condition:\n  %s %s %s\n}\n", pick(cond...), pick("and", "or"), pick(cond...))
	}
	return b.String()
}

// randomData is a short file made of the bytes randomRules' strings use.
func randomData(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 3))
	const alphabet = "aabbcMZ\x90\x00 _xyzABYWJjTVq"
	data := make([]byte, rng.IntN(64))
	for i := range data {
		data[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return data
}

// FuzzPlanBytes feeds arbitrary plan bytes to Decode, New and a scan: a
// guest receives plans over the wire, so nothing may panic.
func FuzzPlanBytes(f *testing.F) {
	for _, seed := range []uint64{1, 2, 3, 5, 8} {
		rs, err := parser.Parse("f.yar", []byte(randomRules(seed)), parser.Options{})
		if err != nil {
			continue
		}
		if p, err := compile.Compile(rs, compile.Options{}); err == nil {
			f.Add(p.Encode())
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := plan.Decode(b)
		if err != nil {
			return
		}
		s, err := scan.New(p, scan.Options{MaxData: 32})
		if err != nil {
			return
		}
		scanChunks(s, []byte("abcabc MZ\x90\x00 a\x00b\x00 YWJj"), 3, -1)
	})
}

// TestHugeLoop checks that a loop over a huge range stops as soon as its
// outcome is known instead of building the range (yara itself runs on).
func TestHugeLoop(t *testing.T) {
	p := compileRules(t, `rule r { condition: for any i in (0..9223372036854775806) : ( i == 5 ) and not for all i in (-5..9223372036854775806) : ( i < 0 ) and for 3 i in (1..9223372036854775806) : ( i > 0 ) }`)
	s, err := scan.New(p, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ms := scanChunks(s, nil, 0, -1); len(ms) != 1 {
		t.Fatalf("got %v, want rule r", ms)
	}
}

// TestPlanAtoms: a plan carrying the host's atom choice scans exactly as
// one without, and atoms made for other forms are ignored.
func TestPlanAtoms(t *testing.T) {
	src := genRules(300, true)
	p := compileRules(t, src)
	data := mixedData(1 << 20)
	words := regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(src, -1)
	for i, k := 0, 0; i+64 < len(data) && k < len(words); i, k = i+4099, k+3 { // plant some of the rules' text strings
		copy(data[i:], words[k][1])
	}
	plain, err := scan.New(p, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ms := scanChunks(plain, data, 1000, -1)
	if len(ms) < 5 {
		t.Fatalf("only %d rules match the test data", len(ms))
	}
	want := fmt.Sprint(ms)
	atoms, err := scan.ChooseAtoms(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*plan.Atoms{atoms, {Forms: atoms.Forms + 1}} {
		q := *p
		q.Atoms = a
		s, err := scan.New(&q, scan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(scanChunks(s, data, 1000, -1)); got != want {
			t.Fatalf("with plan atoms (forms %d): %s\nwithout: %s", a.Forms, got, want)
		}
	}
}
