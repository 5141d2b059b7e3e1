package compile

import (
	"errors"
	"strings"
	"testing"

	"athena/internal/yara/ast"
	"athena/internal/yara/parser"
	"athena/internal/yara/plan"
)

func compileSrc(t *testing.T, src string) (*plan.Plan, error) {
	t.Helper()
	rs, err := parser.Parse("t.yar", []byte(src), parser.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return Compile(rs, Options{})
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"undefined rule", `rule r { condition: nope }`, `undefined identifier "nope"`},
		{"later rule", `rule r { condition: s } rule s { condition: true }`, `undefined identifier "s"`},
		{"string compared to int", `rule r { condition: "a" == 1 }`, `cannot compare string and integer`},
		{"overflow", `rule r { condition: 0x7FFFFFFFFFFFFFFF + 1 > 0 }`, `integer overflow`},
		{"division by zero", `rule r { condition: 1 \ 0 == 0 }`, `division by zero`},
		{"negative shift", `rule r { condition: 1 << -1 == 0 }`, `negative shift count`},
		{"unknown module", `import "nope" rule r { condition: true }`, `unknown module "nope"`},
		{"unknown field", `import "math" rule r { condition: math.nope == 1 }`, `unknown field "nope"`},
		{"bad arguments", `import "math" rule r { condition: math.entropy(1.5) > 1 }`, `no overload`},
		{"bad regexp", `rule r { strings: $a = /a(/ condition: $a }`, `invalid regular expression`},
		// The ascii form fits the regexp program limit, the wide one does not.
		{"wide regexp too complex", `rule r { strings: $a = /(abcdef){30000}/ wide condition: $a }`, `too complex`},
		{"mod on floats", `rule r { condition: 1.5 % 2 == 1 }`, `wrong types for %`},
		{"loop variables", `rule r { condition: for any i, j in (1..2) : ( i == j ) }`, `wrong number of loop variables`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileSrc(t, tc.src)
			var list ast.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("err = %v, want an ast.ErrorList", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestEarlyFlag(t *testing.T) {
	p, err := compileSrc(t, `
rule a { strings: $a = "x" condition: $a }
rule b { strings: $a = "x" condition: #a >= 2 and $a at 4 }
rule c { strings: $a = "x" condition: not $a }
rule d { strings: $a = "x" condition: $a and filesize > 1 }
rule e { strings: $a = "x" $b = "y" condition: any of them or 2 of ($a, $b) }
rule f { condition: a and e }
rule g { strings: $a = "x" condition: #a == 1 }
rule h { strings: $a = "x" condition: uint8(0) == 1 and $a }
private rule i { strings: $a = "x" condition: $a }
rule j { condition: i }
private rule k { condition: k and j }
rule l { condition: k }
`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"a": true, "b": true, "e": true, "f": true, "j": true}
	for _, r := range p.RuleList {
		if r.Early != want[r.Name] {
			t.Errorf("rule %s: Early = %v, want %v", r.Name, r.Early, want[r.Name])
		}
	}
}

func TestEarlyGlobalLater(t *testing.T) {
	p, err := compileSrc(t, `rule a { strings: $a = "x" condition: $a } global rule g { condition: filesize > 1 }`)
	if err != nil {
		t.Fatal(err)
	}
	if p.RuleList[0].Early {
		t.Fatal("rule a is early although a global rule may still make it false")
	}
}

func TestFolding(t *testing.T) {
	p, err := compileSrc(t, `rule r { condition: (2 + 3) * 4 - -1 == 21 }`)
	if err != nil {
		t.Fatal(err)
	}
	c := p.RuleList[0].Cond
	if c.Op != plan.OpEq || c.Args[0].Op != plan.OpInt || c.Args[0].Int != 21 {
		t.Fatalf("condition not folded: %+v", c.Args[0])
	}
}
