package scan_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"athena/internal/yara/compile"
	"athena/internal/yara/parser"
	"athena/internal/yara/plan"
	"athena/internal/yara/scan"
)

// yaraCase is a rule set, a file and the rules that match it. Each case is
// checked against /usr/bin/yara (the reference), then our scanner must
// print exactly what `yara -s` prints, whatever the chunk sizes.
type yaraCase struct {
	name  string
	rules string
	data  string
	want  []string // matching rules
}

// compileRules parses and compiles src.
func compileRules(t testing.TB, src string) *plan.Plan {
	t.Helper()
	rs, err := parser.Parse("test.yar", []byte(src), parser.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	p, err := compile.Compile(rs, compile.Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

// runYara runs the reference; it returns yara -s's output.
func runYara(t *testing.T, dir, rules, data string) string {
	t.Helper()
	if _, err := exec.LookPath("yara"); err != nil {
		t.Fatal("yara is a test dependency (make deps installs it)")
	}
	rf := filepath.Join(dir, "r.yar")
	df := filepath.Join(dir, "d")
	if err := os.WriteFile(rf, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(df, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("yara", "-s", "-w", rf, df).Output()
	if err != nil {
		t.Fatalf("yara: %v", err)
	}
	return strings.ReplaceAll(string(out), df, "FILE")
}

// format prints matches like yara -s.
func format(ms []scan.RuleMatch) string {
	var b []byte
	for _, m := range ms {
		b = fmt.Appendf(b, "%s FILE\n", m.Rule)
		for _, s := range m.Strings {
			b = append(s.AppendYara(b), '\n')
		}
	}
	return string(b)
}

func ruleNames(out string) []string {
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if l != "" && !strings.HasPrefix(l, "0x") {
			names = append(names, strings.TrimSuffix(l, " FILE"))
		}
	}
	return names
}

// scanChunks scans data in chunks of n bytes (0: whole).
func scanChunks(s *scan.Scanner, data []byte, n int, size int64) []scan.RuleMatch {
	s.Begin(size, nil)
	if n <= 0 {
		n = len(data) + 1
	}
	for i := 0; i < len(data); i += n {
		s.Write(data[i:min(len(data), i+n)])
	}
	return s.Finish()
}

func checkCases(t *testing.T, cases []yaraCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := runYara(t, t.TempDir(), tc.rules, tc.data)
			if got := ruleNames(ref); !slices.Equal(got, tc.want) {
				t.Fatalf("yara matched %q, the table says %q", got, tc.want)
			}
			p, err := plan.Decode(compileRules(t, tc.rules).Encode())
			if err != nil {
				t.Fatal(err)
			}
			s, err := scan.New(p, scan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{0, 1, 7, 4096} {
				for _, size := range []int64{-1, int64(len(tc.data))} {
					got := format(scanChunks(s, []byte(tc.data), n, size))
					if got != ref {
						t.Fatalf("chunks of %d, size %d:\ngot:\n%s\nyara:\n%s", n, size, got, ref)
					}
				}
			}
		})
	}
}

func TestStrings(t *testing.T) {
	checkCases(t, []yaraCase{
		{"overlapping", `rule r { strings: $a = "aa" condition: $a }`, "aaaa", []string{"r"}},
		{"no match", `rule r { strings: $a = "ab" condition: $a }`, "aaaa", nil},
		{"nocase wide ascii", `rule r { strings: $a = "abc" nocase wide ascii condition: $a }`,
			"xx ABC abc a\x00b\x00C\x00 AbC", []string{"r"}},
		{"wide only", `rule r { strings: $a = "abc" wide condition: $a }`, "abc a\x00b\x00c\x00", []string{"r"}},
		{"fullword", `rule r { strings: $a = "xyz" fullword condition: $a }`, "_xyz_ 9xyz xyz9 xyz", []string{"r"}},
		{"fullword wide", `rule r { strings: $a = "xyz" fullword wide condition: #a == 1 }`,
			"x\x00y\x00z\x00 Q\x00x\x00y\x00z\x00 x\x00y\x00z\x00A\x00", []string{"r"}},
		{"fullword at ends", `rule r { strings: $a = "ab" fullword condition: #a == 2 }`, "ab ab", []string{"r"}},
		{"xor", `rule r { strings: $a = "xyz" xor condition: $a }`, "xyz z{x \x7f~}", []string{"r"}},
		{"xor range", `rule r { strings: $a = "xyz" xor(1-3) condition: $a }`, "xyz z{x {zy", []string{"r"}},
		{"xor wide", `rule r { strings: $a = "ab" xor(2) wide condition: $a }`, "c\x02`\x02", []string{"r"}},
		{"base64", `rule r { strings: $a = "This program cannot" base64 condition: $a }`,
			"VGhpcyBwcm9ncmFtIGNhbm5vdA== xVGhpcyBwcm9ncmFtIGNhbm5vd zVGhpcyBwcm9ncmFtIGNhbm5vdA QQVRoaXMgcHJvZ3JhbSBjYW5ub3Q", []string{"r"}},
		{"base64wide", `rule r { strings: $a = "This program" base64wide condition: $a }`,
			"V\x00G\x00h\x00p\x00c\x00y\x00B\x00w\x00c\x00m\x009\x00n\x00c\x00m\x00F\x00t\x00", []string{"r"}},
		{"private", `rule r { strings: $a = "ab" private $b = "cd" condition: $a and $b }`, "abcd", []string{"r"}},
		{"hex", `rule r { strings: $a = { 01 02 ?3 [1-2] 0? } condition: $a }`, "\x01\x02\x03\x04\x05\x01\x02\x13\x00\x00\x09", []string{"r"}},
		{"hex shortest jump", `rule r { strings: $a = { 01 [0-3] 0? } condition: $a }`, "\x01\x02\x03\x04\x05", []string{"r"}},
		{"hex alternatives", `rule r { strings: $a = { 01 [0-2] ( 03 | 02 03 04 ) } condition: $a }`, "\x01\x02\x03\x04", []string{"r"}},
		{"hex overlapping", `rule r { strings: $a = { 41 41 [0-8] 41 } condition: $a }`, "AAAAAA", []string{"r"}},
		{"hex leading wildcard", `rule r { strings: $a = { ?? 42 43 } condition: $a }`, "ABC", []string{"r"}},
		{"hex chain", `rule a { strings: $a = { 41 [0-400] 44 } condition: !a[1] == 304 and !a[2] == 302 and !a[3] == 4 }
rule b { strings: $a = { 41 [250-] 44 } condition: !a[1] == 304 and !a[2] == 302 and #a == 2 }
rule c { strings: $a = { 41 ?? [0-400] 44 79 } condition: !a[1] == 305 and !a[2] == 303 }
rule d { strings: $a = { 41 [10-300] 44 [1] 44 } condition: !a[1] == 304 and #a == 1 }`,
			"AxA" + strings.Repeat(".", 300) + "DyD" + strings.Repeat(".", 10) + "A..D", []string{"a", "b", "c", "d"}},
		{"regexp", `rule r { strings: $a = /ab+c/ $b = /x[0-9]{2,4}y/ nocase $c = /^abc/ condition: any of them }`, "abbbc abc X123Y x1y x12345y", []string{"r"}},
		{"regexp wide fullword", `rule r { strings: $a = /ab+c/ wide ascii fullword condition: $a }`, "xabbc abc a\x00b\x00c\x00 a\x00b\x00c\x00d\x00", []string{"r"}},
		{"regexp anchors", `rule r { strings: $a = /^ab/ $b = /yz$/ $c = /\bcd\b/ condition: #a == 1 and #b == 1 and #c == 1 }`, "ab ab cd cde xyz", []string{"r"}},
		{"regexp greedy", `rule r { strings: $a = /a.*b/ $b = /a.*?b/ $c = /a[^b]+/ condition: all of them }`, "a1b2b a99", []string{"r"}},
		{"matches", `rule r { condition: "abc" matches /B/i and not ("abc" matches /^b/) }`, "", []string{"r"}},
		{"hex fixed atom", `rule r { strings: $a = { ?? ?? 42 43 44 [1-2] 45 } $b = { ?? 41 [2] 42 43 } $c = { 4? [1] 43 44 } condition: all of them }`, "xyBCD.E ABCD A..BC", []string{"r"}},
		{"anonymous", `rule r { strings: $ = "ab" $ = "cd" condition: all of them }`, "abcd", []string{"r"}},
	})
}

// TestFixedOffset: a string used only as `$a at N` (one constant N) keeps
// only its match at N, as yara's -s shows; any other use keeps them all.
func TestFixedOffset(t *testing.T) {
	const data = "xxxxxabcxxabcxxabc"
	rule := func(cond string) string { return `rule r { strings: $a = "abc" condition: ` + cond + ` }` }
	checkCases(t, []yaraCase{
		{"at only", rule(`$a at 5`), data, []string{"r"}},
		{"at a folded constant", rule(`$a at (2+3)`), data, []string{"r"}},
		{"at and any", rule(`$a at 5 and any of them`), data, []string{"r"}},
		{"at two offsets", rule(`$a at 5 or $a at 10`), data, []string{"r"}},
		{"at and count", rule(`$a at 5 and #a > 1`), data, []string{"r"}},
		{"at and in", rule(`$a at 5 and $a in (0..100)`), data, []string{"r"}},
		{"at in a loop", rule(`for any of ($a) : ($ at 5)`), data, []string{"r"}},
		{"at the wrong offset", rule(`$a at 6`), data, nil},
		{"at a computed offset", rule(`$a at filesize - 3`), data, []string{"r"}},
	})
}

func TestConditions(t *testing.T) {
	data := "aaaa xyz MZ\x90\x00 \x01\x02\x03\x04 end"
	checkCases(t, []yaraCase{
		{"count and offsets", `rule r { strings: $a = "aa" condition: #a == 3 and @a[3] == 2 and @a == 0 and !a[1] == 2 }`, data, []string{"r"}},
		{"offset out of range", `rule r { strings: $a = "aa" condition: not (@a[4] == 0) }`, data, nil},
		{"at and in", `rule r { strings: $a = "xyz" condition: $a at 5 and $a in (0..5) and not $a in (6..100) and #a in (0..10) == 1 }`, data, []string{"r"}},
		{"filesize", `rule r { condition: filesize == 22 and filesize > 10KB - 10230 }`, data, []string{"r"}},
		{"reads", `rule r { condition: uint16(9) == 0x5A4D and uint16be(9) == 0x4D5A and uint8(11) == 0x90 and int8(11) == -112 and uint32(14) == 0x04030201 and uint32be(14) == 0x01020304 and int16(11) == 0x0090 and int32be(14) > 0 }`, data, []string{"r"}},
		{"read beyond", `rule r { condition: not (uint32(22) == 0) }`, data, nil},
		{"undefined and or", `rule a { condition: not (uint32(1000) == 0 and true) } rule b { condition: uint32(1000) == 0 or true } rule c { condition: not (uint32(1000) == 0 or false) } rule d { condition: not not (uint32(1000) == 0) }`, data, []string{"a", "b", "c"}},
		{"defined", `rule a { condition: not defined uint32(1000) and defined uint8(0) } rule b { condition: defined (1 \ (filesize - filesize)) }`, data, []string{"a"}},
		{"arithmetic", `rule r { condition: 7 \ 2 == 3 and -7 \ 2 == -3 and -7 % 3 == -1 and 1.0 \ 0 > 100 and 1 << 64 == 0 and 1 << 63 < 0 and -8 >> 1 == -4 and (2 + 3) * 4 == 20 and 5 ^ 3 == 6 and ~0 == -1 and 6 & 3 == 2 and 6 | 1 == 7 }`, data, []string{"r"}},
		{"floats", `rule r { condition: 1.5 + 1 == 2.5 and 3 \ 2.0 == 1.5 and 2 < 2.5 and -1.5 < 0 }`, data, []string{"r"}},
		{"division by zero", `rule a { condition: (1 \ (filesize - filesize)) == 0 or true } rule b { condition: not ((1 % (filesize - filesize)) == 0) }`, data, []string{"a"}},
		{"strings", `rule r { condition: "abc" contains "b" and "abc" icontains "B" and "abc" startswith "ab" and "ABC" istartswith "ab" and "abc" endswith "bc" and "abc" iendswith "BC" and "abc" iequals "ABC" and "abc" == "abc" and "abc" != "abd" and "abc" < "abd" }`, data, []string{"r"}},
		{"string truth", `rule a { condition: "abc" } rule b { condition: "" } rule c { condition: 1.5 } rule d { condition: 0 }`, data, []string{"a", "c"}},
		{"of", `rule r { strings: $a = "aa" $b = "xyz" $c = "nope" condition: 2 of them and any of ($a, $b) and not all of them and none of ($c) and 1 of ($a*) and not 3 of them }`, data, []string{"r"}},
		{"percent", `rule a { strings: $a = "aa" $b = "xyz" $c = "nope" condition: 66% of them } rule b { strings: $a = "aa" $b = "xyz" $c = "nope" condition: 67% of them } rule c { strings: $a = "aa" $b = "xyz" $c = "nope" condition: 34% of them } rule d { strings: $a = "aa" $b = "xyz" $c = "nope" condition: 34% of ($a, $c) and $b }`, data, []string{"a", "c", "d"}},
		{"of in", `rule b { strings: $a = "aa" $b = "xyz" condition: all of them in (0..10) } rule d { strings: $a = "aa" $b = "xyz" condition: all of them in (0..4) }`, data, []string{"b"}},
		{"for of", `rule r { strings: $a = "aa" $b = "xyz" condition: for all of them : ( # >= 1 and @ < 100 and ! > 1 ) and for any of ($a, $b) : ( $ at 5 ) and not for any of them : ( $ at 6 ) }`, data, []string{"r"}},
		{"for in range", `rule r { strings: $a = "aa" condition: for all i in (1..#a) : ( @a[i] == i - 1 ) and for any i in (1..3) : ( i == 2 ) and for 2 i in (1..3) : ( i > 1 ) and not for all i in (5..3) : ( true ) }`, data, []string{"r"}},
		{"for undefined", `rule a { condition: for any i in (1..3) : ( uint32(1000+i) == 0 ) or true } rule b { condition: not for all i in (1..3) : ( uint32(1000+i) == 0 ) } rule c { condition: not for none i in (1..3) : ( uint32(1000+i) == 0 ) }`, data, []string{"a", "b"}},
		{"for in list", `rule r { condition: for any x in (1, 2, 3) : ( x == 3 ) and not for any x in (1, 2) : ( x == 3 ) }`, data, []string{"r"}},
		{"rule references", `private rule p { strings: $a = "aa" condition: $a } rule q { condition: p } rule r { condition: not q } rule s { condition: any of (p, q*) }`, data, []string{"q", "s"}},
		{"global", `global rule g { condition: filesize > 100 } rule r { condition: true }`, data, nil},
		{"global true", `global rule g { condition: filesize > 1 } rule r { condition: true }`, data, []string{"g", "r"}},
		{"tags meta", `rule r : t1 t2 { meta: a = "x" b = 1 c = true condition: true }`, data, []string{"r"}},
		{"nested for", `rule r { strings: $a = "aa" condition: for any i in (1..2) : ( for any j in (1..2) : ( @a[i] + 1 == @a[j] ) ) }`, data, []string{"r"}},
		{"unsigned reads", `rule r { condition: uint32(14) | 0x80000000 > 0 and uint8(1000) + 1 != 1 or true }`, data, []string{"r"}},
	})
}

// TestDifferential compares random rules on random data with yara.
func TestDifferential(t *testing.T) {
	if _, err := exec.LookPath("yara"); err != nil {
		t.Fatal("yara is a test dependency (make deps installs it)")
	}
	dir := t.TempDir()
	compared, matched := 0, 0
	defer func() { t.Logf("compared %d rule sets with yara, %d matched something", compared, matched) }()
	seeds := uint64(200)
	if n, err := strconv.Atoi(os.Getenv("DIFF_SEEDS")); err == nil {
		seeds = uint64(n)
	}
	for seed := uint64(0); seed < seeds; seed++ {
		src := randomRules(seed)
		rs, err := parser.Parse("d.yar", []byte(src), parser.Options{})
		if err != nil {
			continue
		}
		p, err := compile.Compile(rs, compile.Options{})
		if err != nil {
			continue
		}
		s, err := scan.New(p, scan.Options{})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		data := randomData(seed)
		rf := filepath.Join(dir, "r.yar")
		df := filepath.Join(dir, "d")
		os.WriteFile(rf, []byte(src), 0o644)
		os.WriteFile(df, data, 0o644)
		out, err := exec.Command("yara", "-s", "-w", rf, df).CombinedOutput()
		if err != nil {
			continue // yara refuses some rules we accept (e.g. 4.3 syntax)
		}
		ref := strings.ReplaceAll(string(out), df, "FILE")
		compared++
		if ref != "" {
			matched++
		}
		if got := format(scanChunks(s, data, 5, -1)); got != ref {
			t.Errorf("seed %d:\nrules:\n%s\ndata %q\ngot:\n%s\nyara:\n%s", seed, src, data, got, ref)
		}
	}
}
