package parser

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"athena/internal/yara/ast"
)

// condPrelude comes before every condition case; the case's strings and
// condition go into rule t.
const condPrelude = `import "pe"
import "math"
rule r0 { condition: true }
rule r1 { condition: true }
rule other { condition: true }
`

type condCase struct {
	name string
	strs string // strings section body, if any
	cond string
	want string // sexpr of the condition
}

func (c condCase) source() string {
	src := condPrelude + "rule t {\n"
	if c.strs != "" {
		src += "strings:\n" + c.strs + "\n"
	}
	return src + "condition:\n" + c.cond + "\n}\n"
}

const abc = `$a = "a" $b1 = "b" $b2 = "c"`

var condCases = []condCase{
	{"true", "", "true", "true"},
	{"false", "", "false", "false"},
	{"int as bool", "", "1", "1"},
	{"regex as bool", "", "/abc/", "/abc/"},
	{"and binds tighter than or", "", "true or false and true", "(or true (and false true))"},
	{"or is left associative", "", "true or false or true", "(or (or true false) true)"},
	{"not binds tighter than and", "", "not true and false", "(and (not true) false)"},
	{"not takes a comparison", "", "not 1 == 2", "(not (== 1 2))"},
	{"defined", "", "defined pe.number_of_sections", "(defined (. pe number_of_sections))"},
	{"not not", "", "not not true", "(not (not true))"},
	{"parenthesised bool", "", "(true or false) and true", "(and (or true false) true)"},
	{"mul before add", "", "1 + 2 * 3 == 7", "(== (+ 1 (* 2 3)) 7)"},
	{"sub left assoc", "", "10 - 2 - 3 == 5", "(== (- (- 10 2) 3) 5)"},
	{"div and mod", "", `7 \ 2 % 2 == 1`, `(== (% (\ 7 2) 2) 1)`},
	{"parenthesised primary", "", "(1 + 2) * 3 == 9", "(== (* (+ 1 2) 3) 9)"},
	{"shift below add", "", "1 << 2 + 1 == 8", "(== (<< 1 (+ 2 1)) 8)"},
	{"bitwise order", "", "1 | 2 ^ 3 & 4 == 3", "(== (| 1 (^ 2 (& 3 4))) 3)"},
	{"bitwise not and minus", "", "~1 == -2 and - -1 == 1", "(and (== (~ 1) (- 2)) (== (- (- 1)) 1))"},
	{"comparison ops", "", "1 < 2 and 1 <= 2 and 2 > 1 and 2 >= 1 and 1 != 2",
		"(and (and (and (and (< 1 2) (<= 1 2)) (> 2 1)) (>= 2 1)) (!= 1 2))"},
	{"string ops", "", `"ab" contains "a" and "ab" icontains "A" and "ab" startswith "a" and "ab" istartswith "A"`,
		`(and (and (and (contains "ab" "a") (icontains "ab" "A")) (startswith "ab" "a")) (istartswith "ab" "A"))`},
	{"string ops 2", "", `"ab" endswith "b" and "ab" iendswith "B" and "ab" iequals "AB" and "ab" matches /a.?/is`,
		`(and (and (and (endswith "ab" "b") (iendswith "ab" "B")) (iequals "ab" "AB")) (matches "ab" /a.?/is))`},
	{"hex octal and sizes", "", "0x1F + 0o17 + 2KB + 1MB == 1",
		"(== (+ (+ (+ 31 15) 2048) 1048576) 1)"},
	{"max int", "", "0x7FFFFFFFFFFFFFFF == 9223372036854775807", "(== 9223372036854775807 9223372036854775807)"},
	{"float", "", "math.entropy(0, filesize) >= 7.5", "(>= (call (. math entropy) 0 filesize) 7.5)"},
	{"text escapes", "", `"\"\\\t\n\r\x41" == "x"`, `(== "\"\\\t\n\rA" "x")`},
	{"filesize and entrypoint", "", "filesize > 10 and entrypoint == 0", "(and (> filesize 10) (== entrypoint 0))"},
	{"data reads", "", "uint16(0) == 0x5A4D and int8(1) < 0 and uint32be(filesize - 4) == 1 and int16be(2) == int32(4)",
		"(and (and (and (== (uint16 0) 23117) (< (int8 1) 0)) (== (uint32be (- filesize 4)) 1)) (== (int16be 2) (int32 4)))"},
	{"more data reads", "", "uint8(0) == uint8be(0) and uint16be(0) == int16(0) and uint32(0) == int32be(0) and int8be(0) == 0",
		"(and (and (and (== (uint8 0) (uint8be 0)) (== (uint16be 0) (int16 0))) (== (uint32 0) (int32be 0))) (== (int8be 0) 0))"},
	{"string match", abc, "$a and $b1 and $b2", "(and (and $a $b1) $b2)"},
	{"string at and in", abc, "$a at 0 and $b1 in (0..filesize) and $b2 at 1 + 2",
		"(and (and (at $a 0) (in $b1 0 filesize)) (at $b2 (+ 1 2)))"},
	{"count offset length", abc, "#a == 1 and @b1 == 0 and @b2[2] > !a and !a[1] == 1",
		"(and (and (and (== #a 1) (== @b1 0)) (> (@b2 2) !a)) (== (!a 1) 1))"},
	{"count in range", abc, "#a in (0..100) == 2 and $b1 and $b2", "(and (and (== (#a in 0 100) 2) $b1) $b2)"},
	{"them", abc, "all of them", "(of all them)"},
	{"any none", abc, "any of ($a, $b*) and none of ($b1, $b2)", "(and (of any ($a $b*)) (of none ($b1 $b2)))"},
	{"number of", abc, "2 of them", "(of 2 them)"},
	{"expression of", abc, "1 + 1 of them", "(of (+ 1 1) them)"},
	{"percent of", abc, "50% of them", "(of (% 50) them)"},
	{"percent is still mod", abc, "5 % 2 of them", "(of (% 5 2) them)"},
	{"all wildcard", abc, "all of ($*)", "(of all ($*))"},
	{"of in range", abc, "any of them in (0..10)", "(of any them in 0 10)"},
	{"rule set", "", "any of (r0, r1) and all of (r*)", "(and (of any (rules r0 r1)) (of all (rules r*)))"},
	{"for of", abc, "for any of ($a, $b*) : ($ at 0 and # > 1 and @ > 0 and ! == 1)",
		"(for any of ($a $b*) (and (and (and (at $ 0) (> # 1)) (> @ 0)) (== ! 1)))"},
	{"for of indexed", abc, "for all of them : (@[1] == 0 and ![1] == 1 and $ in (0..1) and # in (0..2) > 0)",
		"(for all of them (and (and (and (== (@ 1) 0) (== (! 1) 1)) (in $ 0 1)) (> (# in 0 2) 0)))"},
	{"for N of", abc, "for 2 of them : ($)", "(for 2 of them $)"},
	{"for none of", abc, "for none of them : ($)", "(for none of them $)"},
	{"for in range", "", "for any i in (1..3) : (i > 1)", "(for any (i) in (range 1 3) (> i 1))"},
	{"for all in list", "", "for all x in (1, 2, 3) : (x > 0)", "(for all (x) in (list 1 2 3) (> x 0))"},
	{"for N in", "", "for 2 i in (0..pe.number_of_sections - 1) : (pe.sections[i].raw_data_size > 0)",
		"(for 2 (i) in (range 0 (- (. pe number_of_sections) 1)) (> (. ([] (. pe sections) i) raw_data_size) 0))"},
	{"for in array", "", "for any s in pe.sections : (s.name == \".text\")",
		"(for any (s) in (. pe sections) (== (. s name) \".text\"))"},
	{"for k v in dict", "", "for any k, v in pe.version_info : (k == \"CompanyName\" and v contains \"x\")",
		"(for any (k v) in (. pe version_info) (and (== k \"CompanyName\") (contains v \"x\")))"},
	{"for none in", "", "for none i in (1..2) : (i == 3)", "(for none (i) in (range 1 2) (== i 3))"},
	{"dictionary index", "", `pe.version_info["CompanyName"] == "x"`, `(== ([] (. pe version_info) "CompanyName") "x")`},
	{"call with args", "", `pe.exports("Foo") and pe.imports("kernel32.dll", "Sleep")`,
		`(and (call (. pe exports) "Foo") (call (. pe imports) "kernel32.dll" "Sleep"))`},
	{"call with regex", "", `pe.imports(/kernel32/i, /Sleep/)`, `(call (. pe imports) /kernel32/i /Sleep/)`},
	{"rule reference", "", "r0 and not r1", "(and r0 (not r1))"},
	{"for in inside for of", abc, "for any of them : (for any i in (1..2) : ($ at i))",
		"(for any of them (for any (i) in (range 1 2) (at $ i)))"},
	{"of inside for of", abc, "for any of them : (any of them)", "(for any of them (of any them))"},
	{"one item list", "", "for any i in (1) : (i == 1)", "(for any (i) in (list 1) (== i 1))"},
	{"not arithmetic", "", "not 1 + 1", "(not (+ 1 1))"},
	{"defined paren bool", "", "defined (true)", "(defined true)"},
	{"paren string", abc, "($a) and #b1 and @b2", "(and (and $a #b1) @b2)"},
	{"minus float", "", "-1.5 < 0", "(< (- 1.5) 0)"},
	{"non-ascii in text and comment", "", "\"\xc3\xa9\" == \"x\" // \xc3\xa9", "(== \"\xc3\xa9\" \"x\")"},
	{"leading zero decimal", "", "010 == 10", "(== 10 10)"},
	{"deep parentheses", "", strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), "1"},
	{"deep not", "", strings.Repeat("not ", 300) + "true", strings.Repeat("(not ", 300) + "true" + strings.Repeat(")", 300)},
	{"sibling loops reuse a variable", "", "for any i in (1..2) : (i == 1) and for all i in (1..2) : (i > 0)",
		"(and (for any (i) in (range 1 2) (== i 1)) (for all (i) in (range 1 2) (> i 0)))"},
	{"not string at", abc, "not $a at 0 and $b1 and $b2", "(and (and (not (at $a 0)) $b1) $b2)"},
	{"count in plus", abc, "#a in (0..1) + 1 == 2 and $b1 and $b2", "(and (and (== (+ (#a in 0 1) 1) 2) $b1) $b2)"},
	{"bitwise not of minus", "", "~ - 1 == 0", "(== (~ (- 1)) 0)"},
	{"percent 100", abc, "100% of them", "(of (% 100) them)"},
	{"literal tab in text", "", "\"a\tb\" == \"x\"", "(== \"a\\tb\" \"x\")"},
	{"comments", "", "true // a comment\n /* block\n comment */ and false", "(and true false)"},
	{"module field comparison", "", "pe.is_dll() or pe.machine == pe.MACHINE_I386",
		"(or (call (. pe is_dll)) (== (. pe machine) (. pe MACHINE_I386)))"},
}

func parseCond(t *testing.T, src string) ast.Expr {
	t.Helper()
	rs, err := Parse("t.yar", []byte(src), Options{})
	if err != nil {
		t.Fatalf("Parse: %v\nsource:\n%s", err, src)
	}
	return rs.Rules[len(rs.Rules)-1].Condition
}

func TestConditions(t *testing.T) {
	for _, c := range condCases {
		t.Run(c.name, func(t *testing.T) {
			got := sexprExpr(parseCond(t, c.source()))
			if got != c.want {
				t.Errorf("condition %q\n got: %s\nwant: %s", c.cond, got, c.want)
			}
		})
	}
}

// ruleCases are whole sources and their printed trees.
var ruleCases = []struct {
	name, src, want string
	yaraSkip        string // why /usr/bin/yara (4.2.3) cannot check it
}{
	{name: "minimal", src: "rule a { condition: true }", want: "(rule a true)"},
	{name: "flags tags meta",
		src:  `private global rule a : t1 t2 { meta: s = "v\x41" n = 42 neg = -7 h = -0x10 b = true f = false condition: true }`,
		want: `(rule a global private (tags t1 t2) (meta s "vA") (meta n 42) (meta neg -7) (meta h -16) (meta b true) (meta f false) true)`},
	{name: "global then private", src: "global private rule a { condition: true }", want: "(rule a global private true)"},
	{name: "imports", src: "import \"pe\"\nimport \"math\"\nrule a { condition: true }",
		want: "(import \"pe\")\n(import \"math\")\n(rule a true)"},
	{name: "text modifiers",
		src:  `rule a { strings: $a = "x" nocase wide ascii fullword private $b = "y" xor $c = "z" xor(7) $d = "w" xor(1-0x10) wide condition: any of them }`,
		want: `(rule a ($a="x" nocase wide ascii fullword private) ($b="y" xor(0-255)) ($c="z" xor(7-7)) ($d="w" wide xor(1-16)) (of any them))`},
	{name: "base64",
		src:  `rule a { strings: $a = "xyz" base64 $b = "xyz" base64wide wide $c = "xyz" base64("!@#$%^&*(){}[].,|ABCDEFGHIJ\x09LMNOPQRSTUVWXYZabcdefghijklmnopqrstu") condition: any of them }`,
		want: `(rule a ($a="xyz" base64) ($b="xyz" wide base64wide) ($c="xyz" base64("!@#$%^&*(){}[].,|ABCDEFGHIJ\tLMNOPQRSTUVWXYZabcdefghijklmnopqrstu")) (of any them))`},
	{name: "hex strings",
		src: `rule a { strings:
			$a = { 4D 5a ?? 0? ?f [2] [2-4] [3-] [-] 00 }
			$b = { ( 01 | 02 03 | ( 04 | 05 ) ) 06 [1-2] ( 07 [1-3] 08 | 09 ) }
			$c = { AA // comment
			  /* block */ BB } private
			$d = {AABB}
			$e = { 00 [0-0] [1] [ 1 - 2 ] [0-] ( 01 [200] 02 | 03 ) [1-] ( 04 | 05 ) [99999999999] 06 }
		condition: any of them }`,
		want: `(rule a ($a={4D 5A ?? 0? ?F [2-2] [2-4] [3-] [0-] 00}) ($b={(01|02 03|(04|05)) 06 [1-2] (07 [1-3] 08|09)}) ($c={AA BB} private) ($d={AA BB}) ($e={00 [0-0] [1-1] [1-2] [0-] (01 [200-200] 02|03) [1-] (04|05) [2147483647-2147483647] 06}) (of any them))`},
	{name: "hex not", src: `rule a { strings: $a = { 4D ~00 ~?5 } condition: $a }`,
		want: `(rule a ($a={4D ~00 ~?5}) $a)`, yaraSkip: "~ in hex strings is YARA 4.3"},
	{name: "regexes",
		src:  `rule a { strings: $a = /ab\/c[0-9]+/is nocase wide ascii fullword private $b = /x/ condition: $a or $b }`,
		want: `(rule a ($a=/ab\/c[0-9]+/is nocase wide ascii fullword private) ($b=/x/) (or $a $b))`},
	{name: "anonymous strings", src: `rule a { strings: $ = "x" $ = "y" condition: all of them }`,
		want: `(rule a ($="x") ($="y") (of all them))`},
	{name: "of at", src: `rule a { strings: $a = "x" condition: any of ($a) at 0 }`,
		want: `(rule a ($a="x") (of any ($a) at 0))`, yaraSkip: "`of ... at` is YARA 4.3"},
	{name: "128-byte identifier", src: "rule " + strings.Repeat("a", 128) + " { condition: true }",
		want: "(rule " + strings.Repeat("a", 128) + " true)"},
	{name: "repeated flags, imports and meta keys",
		src:  `import "pe" import "pe" private private rule a { meta: x = "a" x = "b" condition: true }`,
		want: "(import \"pe\")\n(import \"pe\")\n(rule a private (meta x \"a\") (meta x \"b\") true)"},
	{name: "empty source", src: "", want: ""},
	{name: "only comments", src: "// nothing\n/* here */", want: ""},
	{name: "multiline", src: "rule a\n{\n  meta:\n    author = \"me\"\n  strings:\n    $a = \"x\"\n  condition:\n    $a\n}\nrule b { condition: a }",
		want: "(rule a (meta author \"me\") ($a=\"x\") $a)\n(rule b a)"},
}

func TestRules(t *testing.T) {
	for _, c := range ruleCases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := Parse("t.yar", []byte(c.src), Options{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := strings.TrimSpace(sexpr(rs)); got != c.want {
				t.Errorf("\n got: %s\nwant: %s", got, c.want)
			}
		})
	}
}

// errorCases are sources the parser must reject, with the first error's
// position and a substring of its message.
var errorCases = []struct {
	name, src string
	line, col int
	msg       string
	yaraSkip  string
}{
	{"duplicate rule", "rule a { condition: true }\nrule a { condition: true }", 2, 6, `duplicated identifier "a"`, ""},
	{"duplicate string", `rule a { strings: $a = "x" $a = "y" condition: $a }`, 1, 28, `duplicated string identifier "$a"`, ""},
	{"duplicate tag", `rule a : x y x { condition: true }`, 1, 14, `duplicated tag identifier "x"`, ""},
	{"undefined string", `rule a { strings: $a = "x" condition: $a and $b }`, 1, 46, `undefined string "$b"`, ""},
	{"undefined count", `rule a { strings: $a = "x" condition: $a and #b == 1 }`, 1, 46, `undefined string "$b"`, ""},
	{"undefined offset", `rule a { strings: $a = "x" condition: $a and @b == 1 }`, 1, 46, `undefined string "$b"`, ""},
	{"undefined length", `rule a { strings: $a = "x" condition: $a and !b[1] == 1 }`, 1, 46, `undefined string "$b"`, ""},
	{"wildcard matches nothing", `rule a { strings: $a = "x" condition: $a and any of ($b*) }`, 1, 54, `undefined string "$b*"`, ""},
	{"them without strings", `rule a { condition: any of them }`, 1, 28, `undefined string "$*"`, ""},
	{"unreferenced string", `rule a { strings: $a = "x" $b = "y" condition: $a }`, 1, 28, `unreferenced string "$b"`, ""},
	{"unreferenced anonymous", `rule a { strings: $ = "x" condition: true }`, 1, 19, `unreferenced string "$"`, ""},
	{"anonymous outside for of", `rule a { strings: $a = "x" condition: $a and $ }`, 1, 46, "wrong use of anonymous string", ""},
	{"anonymous count outside", `rule a { strings: $a = "x" condition: $a and # == 1 }`, 1, 46, "wrong use of anonymous string", ""},
	{"anonymous in for in", `rule a { strings: $a = "x" condition: $a and for any i in (1..2) : ($) }`, 1, 69, "wrong use of anonymous string", ""},
	{"xor nocase", `rule a { strings: $a = "x" xor nocase condition: $a }`, 1, 32, "invalid modifier combination: xor nocase", ""},
	{"base64 nocase", `rule a { strings: $a = "x" base64 nocase condition: $a }`, 1, 35, "invalid modifier combination: base64 nocase", ""},
	{"base64 xor", `rule a { strings: $a = "x" xor base64 condition: $a }`, 1, 32, "invalid modifier combination: base64 xor", ""},
	{"base64 fullword", `rule a { strings: $a = "x" base64 fullword condition: $a }`, 1, 35, "invalid modifier combination: base64 fullword", ""},
	{"base64wide nocase", `rule a { strings: $a = "x" base64wide nocase condition: $a }`, 1, 39, "invalid modifier combination: base64wide nocase", ""},
	{"hex nocase", `rule a { strings: $a = { 00 } nocase condition: $a }`, 1, 31, `modifier "nocase" not allowed on hex strings`, ""},
	{"hex xor", `rule a { strings: $a = { 00 } xor condition: $a }`, 1, 31, `modifier "xor" not allowed on hex strings`, ""},
	{"regex xor", `rule a { strings: $a = /x/ xor condition: $a }`, 1, 28, `modifier "xor" not allowed on regular expressions`, ""},
	{"regex base64", `rule a { strings: $a = /x/ base64 condition: $a }`, 1, 28, `modifier "base64" not allowed on regular expressions`, ""},
	{"duplicate modifier", `rule a { strings: $a = "x" wide wide condition: $a }`, 1, 33, "duplicated modifier", ""},
	{"xor out of range", `rule a { strings: $a = "x" xor(256) condition: $a }`, 1, 32, "invalid xor range", ""},
	{"xor reversed", `rule a { strings: $a = "x" xor(3-2) condition: $a }`, 1, 32, "xor lower bound exceeds upper bound", ""},
	{"xor upper too big", `rule a { strings: $a = "x" xor(1-256) condition: $a }`, 1, 34, "upper bound for xor range exceeded", ""},
	{"xor negative", `rule a { strings: $a = "x" xor(-1) condition: $a }`, 1, 32, "syntax error", ""},
	{"base64 alphabet length", `rule a { strings: $a = "x" base64("abc") condition: $a }`, 1, 35, "length of base64 alphabet must be 64", ""},
	{"empty text string", `rule a { strings: $a = "" condition: $a }`, 1, 19, `empty string "$a"`, ""},
	{"empty hex string", `rule a { strings: $a = { } condition: $a }`, 1, 26, `invalid hex string "$a": syntax error`, ""},
	{"hex starts with jump", `rule a { strings: $a = { [1] 00 } condition: $a }`, 1, 26, `invalid hex string "$a": syntax error`, ""},
	{"hex ends with jump", `rule a { strings: $a = { 00 [1] } condition: $a }`, 1, 29, `invalid hex string "$a": syntax error`, ""},
	{"alternative starts with jump", `rule a { strings: $a = { 00 ( [1] 01 | 02 ) } condition: $a }`, 1, 31, `invalid hex string "$a": syntax error`, ""},
	{"empty alternative", `rule a { strings: $a = { 00 ( 01 | ) } condition: $a }`, 1, 36, `invalid hex string "$a": syntax error`, ""},
	{"unbounded jump in alternative", `rule a { strings: $a = { 00 ( 01 [1-] 02 | 03 ) } condition: $a }`, 1, 34,
		"unbounded jumps not allowed inside alternation (|)", ""},
	{"jump over 200 in alternative", `rule a { strings: $a = { 00 ( 01 [1-201] 02 | 03 ) } condition: $a }`, 1, 34,
		"jumps over 200 not allowed inside alternation (|)", ""},
	{"nested unbounded jump", `rule a { strings: $a = { 00 ( 01 ( 02 [-] 03 | 04 ) | 05 ) } condition: $a }`, 1, 39,
		"unbounded jumps not allowed inside alternation (|)", ""},
	{"jump without min", `rule a { strings: $a = { 00 [-5] 01 } condition: $a }`, 1, 29, "syntax error", ""},
	{"nested for of", `rule a { strings: $a = "x" condition: for any of them : (for any i in (1..2) : (for all of them : ($))) }`, 1, 81,
		"'for <quantifier> of <string set>' loops can't be nested", ""},
	{"regex flags order", `rule a { strings: $a = /x/si condition: $a }`, 1, 28, "syntax error", ""},
	{"trailing comma in set", `rule a { strings: $a = "x" condition: any of ($a,) }`, 1, 50, "syntax error", ""},
	{"range in list", `rule a { condition: for any i in (1, 2..3) : (true) }`, 1, 39, "syntax error", ""},
	{"string at in parens", `rule a { strings: $a = "x" condition: ($a) at 1 }`, 1, 44, "syntax error", ""},
	{"minus bool", `rule a { condition: -true }`, 1, 22, "syntax error", ""},
	{"escaped newline", "rule a { condition: \"abc\\\n\" == \"x\" }", 1, 25, "illegal escape sequence", ""},
	{"rule set in range", `rule b { condition: true } rule a { condition: any of (b) in (0..1) }`, 1, 59, "syntax error", ""},
	{"rule set in for", `rule b { condition: true } rule a { condition: for any of (b) : (true) }`, 1, 63, "syntax error", ""},
	{"percent over 100", `rule a { strings: $a = "x" condition: 101% of them }`, 1, 39, "percentage must be between 1 and 100", ""},
	{"percent zero", `rule a { strings: $a = "x" condition: 0% of them }`, 1, 39, "percentage must be between 1 and 100", ""},
	{"non-ascii", "rule a { condition: true } \xc3\xa9", 1, 28, "non-ascii character", ""},
	{"identifier too long", "rule " + strings.Repeat("a", 129) + " { condition: true }", 1, 6, "identifier too long", ""},
	{"bad octal", `rule a { condition: 0o8 }`, 1, 22, "syntax error", ""},
	{"lower-case size suffix", `rule a { condition: 1kb == 1024 }`, 1, 22, "syntax error", ""},
	{"two base64 alphabets", `rule a { strings: $a = "x" base64("` + strings.Repeat("a", 64) + `") base64wide("` + strings.Repeat("b", 64) + `") condition: $a }`,
		1, 114, "can not specify multiple alphabets", ""},
	{"too deep", "rule a { condition: " + strings.Repeat("(", 1001) + "1" + strings.Repeat(")", 1001) + " }", 1, 1021,
		"expression nested too deeply", "yara nests deeper"},
	{"duplicated loop variable", `rule a { condition: for any i in (1..2) : (for any i in (1..2) : (i == 1)) }`, 1, 52,
		`duplicated loop identifier "i"`, ""},
	{"duplicated variable in one loop", `rule a { condition: for any k, k in (1..2) : (true) }`, 1, 32, `duplicated loop identifier "k"`, ""},
	{"keyword as loop variable", `rule a { condition: for any filesize in (1..2) : (true) }`, 1, 29, "syntax error", ""},
	{"extra brace", `rule a { condition: true } }`, 1, 28, "syntax error", ""},
	{"string at compared", `rule a { strings: $a = "x" condition: $a at 1 + 2 == 3 }`, 1, 51, "syntax error", ""},
	{"offset indexed twice", `rule a { strings: $a = "x" condition: @a[1] [2] == 2 }`, 1, 45, "syntax error", ""},
	{"chained comparison", `rule a { condition: 1 < 2 < 3 }`, 1, 27, "syntax error", ""},
	{"reversed jump", `rule a { strings: $a = { 00 [3-2] 01 } condition: $a }`, 1, 29, "invalid jump range", ""},
	{"zero jump", `rule a { strings: $a = { 00 [0] 01 } condition: $a }`, 1, 29, "invalid jump length", ""},
	{"odd hex digits", `rule a { strings: $a = { 00 0 } condition: $a }`, 1, 29, "uneven number of digits", ""},
	{"bad hex char", `rule a { strings: $a = { 00 GG } condition: $a }`, 1, 29, `invalid hex string "$a": syntax error`, ""},
	{"unterminated hex", "rule a { strings: $a = { 00 01", 1, 24, "unterminated hex string", ""},
	{"not any", `rule a { strings: $a = { ~?? } condition: $a }`, 1, 26, "~?? is not allowed", "~ in hex strings is YARA 4.3"},
	{"illegal escape", `rule a { strings: $a = "\a" condition: $a }`, 1, 25, "illegal escape sequence", ""},
	{"bad hex escape", `rule a { condition: "\xZZ" == "" }`, 1, 22, "illegal escape sequence", ""},
	{"unterminated string", "rule a { strings: $a = \"abc\n condition: $a }", 1, 24, "unterminated string", ""},
	{"unterminated regex", "rule a { strings: $a = /abc\n condition: $a }", 1, 24, "unterminated regular expression", ""},
	{"unterminated comment", "rule a { /* condition: true }", 1, 10, "unterminated comment", ""},
	{"integer overflow", `rule a { condition: 99999999999999999999 }`, 1, 21, `integer overflow in "99999999999999999999"`, ""},
	{"hex overflow", `rule a { condition: 0xFFFFFFFFFFFFFFFF }`, 1, 21, "integer overflow", ""},
	{"suffix overflow", `rule a { condition: 9007199254740992KB }`, 1, 21, "integer overflow", ""},
	{"keyword as rule name", `rule condition { condition: true }`, 1, 6, "syntax error", ""},
	{"missing condition", `rule a { strings: $a = "x" }`, 1, 28, "syntax error", ""},
	{"bool compared", `rule a { condition: true == true }`, 1, 26, "syntax error", ""},
	{"comparison chained", `rule a { condition: (1 == 2) == true }`, 1, 30, "syntax error", ""},
	{"string plus one", `rule a { strings: $a = "x" condition: $a + 1 }`, 1, 42, "syntax error", ""},
	{"wildcard outside set", `rule a { strings: $a = "x" condition: $a and $a* }`, 1, 46, "syntax error", ""},
	{"at without offset", `rule a { strings: $a = "x" condition: $a at }`, 1, 45, "syntax error", ""},
	{"percent in for", `rule a { strings: $a = "x" condition: for 50% of them : ($) }`, 1, 45, "syntax error", ""},
	{"matches non regex", `rule a { condition: "a" matches "a" }`, 1, 33, "syntax error", ""},
	{"mixed set", `rule b { condition: true } rule a { strings: $a = "x" condition: any of ($a, b) }`, 1, 78, "syntax error", ""},
	{"unexpected character", "rule a { condition: true ` }", 1, 26, "syntax error", ""},
	{"junk at top level", `condition: true`, 1, 1, "syntax error", ""},
	{"meta float", `rule a { meta: x = 1.5 condition: true }`, 1, 20, "syntax error", ""},
	{"empty strings section", `rule a { strings: condition: true }`, 1, 19, "syntax error", ""},
	{"include disabled", `include "x.yar" rule a { condition: true }`, 1, 9, "includes are disabled", "yara resolves includes"},
}

func TestErrors(t *testing.T) {
	for _, c := range errorCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.yar", []byte(c.src), Options{})
			var list ast.ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("Parse: got %v, want an ast.ErrorList", err)
			}
			e := list[0]
			if e.Pos.File != "t.yar" || e.Pos.Line != c.line || e.Pos.Col != c.col || !strings.Contains(e.Msg, c.msg) {
				t.Errorf("first error: got %v, want t.yar:%d:%d: ...%s...", e, c.line, c.col, c.msg)
			}
		})
	}
}

func TestMultipleErrors(t *testing.T) {
	src := "rule a { condition: 1 + }\nrule b { strings: $a = \"x\" condition: $b }\nrule c { condition: true }\nrule c { condition: ( }\n"
	rs, err := Parse("m.yar", []byte(src), Options{})
	var list ast.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Parse: got %v, want an ast.ErrorList", err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Pos.String())
	}
	want := []string{"m.yar:1:25", "m.yar:2:19", "m.yar:2:39", "m.yar:4:6", "m.yar:4:23"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("error positions: got %v, want %v\n%v", got, want, list)
	}
	if len(rs.Rules) != 2 || rs.Rules[0].Name != "b" || rs.Rules[1].Name != "c" {
		t.Errorf("partial rule set: got %s", sexpr(rs))
	}
}

// TestLexerErrorsAlone checks that an error the lexer reports is not
// followed by the syntax errors it causes.
func TestLexerErrorsAlone(t *testing.T) {
	for _, src := range []string{
		"rule a { strings: $a = \"abc\n condition: $a }",
		"rule a { strings: $a = /abc\n condition: $a }",
		"rule a { condition: true } /* x",
		"rule a { condition: /x",
		"/x",
		"rule a { condition: \"\\q\" == \"\" }",
		"rule a { condition: 99999999999999999999 }",
		"rule a { condition: true } \xff",
		"\xff rule a { condition: true }",
	} {
		_, err := Parse("t.yar", []byte(src), Options{})
		var list ast.ErrorList
		if !errors.As(err, &list) || len(list) != 1 {
			t.Errorf("Parse(%q): got %v, want exactly one error", src, err)
		}
	}
}

func TestIncludes(t *testing.T) {
	files := map[string]string{
		"main.yar":       "include \"lib/a.yar\"\nrule main { condition: a }",
		"lib/a.yar":      "import \"pe\"\ninclude \"b.yar\"\nrule a { condition: b }",
		"lib/b.yar":      "rule b { condition: true }",
		"loop.yar":       "include \"loop2.yar\"",
		"loop2.yar":      "rule x { condition: true }\ninclude \"loop.yar\"",
		"bad.yar":        "include \"lib/broken.yar\"",
		"lib/broken.yar": "rule broken { condition: ( }",
	}
	include := func(from, path string) (string, []byte, error) {
		name := filepath.Join(filepath.Dir(from), path)
		src, ok := files[name]
		if !ok {
			return "", nil, os.ErrNotExist
		}
		return name, []byte(src), nil
	}
	tests := []struct {
		file, want, errs string
	}{
		{"main.yar", "(import \"pe\")\n(rule b true)\n(rule a b)\n(rule main a)\n", ""},
		{"loop.yar", "(rule x true)\n", "loop2.yar:2:9: includes circular reference"},
		{"bad.yar", "", "lib/broken.yar:1:28: syntax error"},
		{"missing.yar", "", "missing.yar:1:9: can't open include file: nope.yar"},
	}
	files["missing.yar"] = `include "nope.yar"`
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			rs, err := Parse(tc.file, []byte(files[tc.file]), Options{Include: include})
			if got := sexpr(rs); got != tc.want {
				t.Errorf("tree: got\n%swant\n%s", got, tc.want)
			}
			switch {
			case tc.errs == "" && err != nil:
				t.Errorf("Parse: %v", err)
			case tc.errs != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.errs)):
				t.Errorf("Parse error: got %v, want prefix %q", err, tc.errs)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.yar", "include \"sub/a.yar\"\nrule main { condition: a }")
	write("sub/a.yar", "include \"b.yar\"\nrule a { condition: b }")
	write("sub/b.yar", "rule b { condition: ( }")
	_, err := ParseFile(filepath.Join(dir, "main.yar"))
	want := filepath.Join(dir, "sub", "b.yar") + ":1:23: syntax error"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("ParseFile: got %v, want prefix %q", err, want)
	}
	write("sub/b.yar", "rule b { condition: true }")
	rs, err := ParseFile(filepath.Join(dir, "main.yar"))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	if got, want := sexpr(rs), "(rule b true)\n(rule a b)\n(rule main a)\n"; got != want {
		t.Errorf("ParseFile: got\n%swant\n%s", got, want)
	}
	if _, err := ParseFile(filepath.Join(dir, "absent.yar")); err == nil {
		t.Errorf("ParseFile of a missing file: got nil error")
	}
}

func TestPositions(t *testing.T) {
	src := "rule a {\n strings:\n  $a = \"x\"\n condition:\n  $a and\n  pe.x(1) + 2 == 3\n}"
	rs, err := Parse("p.yar", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rs.Rules[0]
	and := r.Condition.(*ast.Binary)
	eq := and.Y.(*ast.Binary)
	add := eq.X.(*ast.Binary)
	call := add.X.(*ast.Call)
	for _, c := range []struct {
		name string
		got  ast.Pos
		line int
		col  int
	}{
		{"rule", r.Pos, 1, 1},
		{"string", r.Strings[0].Pos, 3, 3},
		{"and", and.Pos, 5, 6},
		{"$a", and.X.Position(), 5, 3},
		{"==", eq.Pos, 6, 15},
		{"+", add.Pos, 6, 11},
		{"call", call.Pos, 6, 7},
		{"field", call.Fn.Position(), 6, 6},
		{"ident", call.Fn.(*ast.Field).X.Position(), 6, 3},
	} {
		if c.got.Line != c.line || c.got.Col != c.col || c.got.File != "p.yar" {
			t.Errorf("%s: got %v, want p.yar:%d:%d", c.name, c.got, c.line, c.col)
		}
	}
}

// TestAgainstYara runs /usr/bin/yara on every case and checks that it
// accepts exactly the sources the parser accepts.
func TestAgainstYara(t *testing.T) {
	yara, err := exec.LookPath("yara")
	if err != nil {
		t.Fatal("yara is a test dependency (make deps installs it): ", err)
	}
	type check struct {
		name, src, skip string
		valid           bool
	}
	var checks []check
	for _, c := range condCases {
		checks = append(checks, check{"cond/" + c.name, c.source(), "", true})
	}
	for _, c := range ruleCases {
		checks = append(checks, check{"rule/" + c.name, c.src, c.yaraSkip, true})
	}
	for _, c := range errorCases {
		checks = append(checks, check{"error/" + c.name, c.src, c.yaraSkip, false})
	}
	dir := t.TempDir()
	for i, c := range checks {
		if c.skip != "" {
			continue // a YARA 4.3 feature: yara 4.2 cannot judge it; the parser tests do
		}
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("r%d.yar", i))
			if err := os.WriteFile(path, []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(yara, path, os.DevNull).CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("running yara: %v", err)
			}
			if yaraOK := err == nil; yaraOK != c.valid {
				t.Errorf("yara accepts: %v, parser accepts: %v\nyara says: %s\nsource:\n%s", yaraOK, c.valid, out, c.src)
			}
		})
	}
}
