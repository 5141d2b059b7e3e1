package plan

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func samplePlan() *Plan {
	return &Plan{
		Imports: []string{"math"},
		Strings: []String{
			{ID: "$a", Kind: Text, Flags: Nocase | ASCII | Wide, Text: []byte("abc")},
			{ID: "$b", Kind: Hex, Flags: ASCII, Hex: []HexToken{
				{Kind: HexByte, Value: 0x4D, Mask: 0xFF},
				{Kind: HexJump, Min: 1, Max: -1},
				{Kind: HexAlt, Alts: [][]HexToken{{{Kind: HexByte, Value: 1, Mask: 0xF0, Not: true}}, nil}},
			}},
			{ID: "$", Kind: Text, Flags: Base64 | Xor, Text: []byte("xyz"), XorMin: 1, XorMax: 9, Alphabet: bytes.Repeat([]byte("ab"), 32)},
			{ID: "$r", Kind: Regex, Flags: RegexNocase, Text: []byte("a.c")},
		},
		RuleList: []Rule{
			{Name: "one", Tags: []string{"t"}, Meta: []Meta{{"s", "x"}, {"i", int64(-4)}, {"b", true}},
				Count: 2, Early: true, Cond: &Node{Op: OpOf, Int: QuantAny, Items: []int{0, 1}, Args: []*Node{nil, nil, nil, nil}}},
			{Name: "two", Global: true, Private: true, First: 2, Count: 2, Vars: 1,
				Cond: &Node{Op: OpAnd, Args: []*Node{
					{Op: OpRule, Int: 0},
					{Op: OpForIn, Int: QuantAll, Str: []byte("range"), Items: []int{0}, Args: []*Node{
						nil,
						{Op: OpEq, Args: []*Node{{Op: OpVar}, {Op: OpFloat, Float: 1.5}}},
						{Op: OpInt, Int: 1}, {Op: OpStrCount, Int: 1},
					}},
				}}},
		},
		Atoms: &Atoms{Forms: 20, List: []Atom{{Form: 0, Bytes: []byte("abc")}, {Form: 7, Off: 2, Bytes: []byte("eXyz")}}, Slow: []int{19}},
	}
}

func TestRoundTrip(t *testing.T) {
	p := samplePlan()
	b := p.Encode()
	if !bytes.Equal(b, p.Encode()) {
		t.Fatal("Encode is not deterministic")
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(), b) {
		t.Fatal("decoded plan encodes differently")
	}
	if !reflect.DeepEqual(got.Strings[1].Hex[2], p.Strings[1].Hex[2]) || !reflect.DeepEqual(got.RuleList[0].Meta, p.RuleList[0].Meta) ||
		got.RuleList[1].Cond.Args[1].Args[1].Args[1].Float != 1.5 {
		t.Fatalf("round trip:\ngot  %+v\nwant %+v", got, p)
	}
	if !reflect.DeepEqual(got.Atoms, p.Atoms) {
		t.Fatalf("atoms: got %+v, want %+v", got.Atoms, p.Atoms)
	}
	if got.Rules() != 2 {
		t.Fatalf("Rules() = %d, want 2", got.Rules())
	}
}

func TestDecodeRejects(t *testing.T) {
	good := samplePlan().Encode()
	badRule := samplePlan()
	badRule.RuleList[0].Cond = &Node{Op: OpRule, Int: 1} // a later rule
	badString := samplePlan()
	badString.RuleList[0].Cond = &Node{Op: OpStrMatch, Int: 2}
	badVar := samplePlan()
	badVar.RuleList[1].Vars = 0
	badAtom := samplePlan()
	badAtom.Atoms.List[1].Form = 20
	longAtom := samplePlan()
	longAtom.Atoms.List[0].Bytes = []byte("abcde")
	badSlow := samplePlan()
	badSlow.Atoms.Slow = []int{20}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"magic", []byte("XXXX\x01")},
		{"version", append([]byte("YPLN\x09"), good[5:]...)},
		{"truncated", good[:len(good)-3]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"later rule", badRule.Encode()},
		{"string index", badString.Encode()},
		{"variable slot", badVar.Encode()},
		{"atom form", badAtom.Encode()},
		{"atom length", longAtom.Encode()},
		{"slow form", badSlow.Encode()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.b); !errors.Is(err, ErrFormat) {
				t.Fatalf("Decode: %v, want ErrFormat", err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(samplePlan().Encode())
	f.Add([]byte("YPLN\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to bytes that decode to the same plan.
		b2 := p.Encode()
		p2, err := Decode(b2)
		if err != nil {
			t.Fatalf("re-encoded plan does not decode: %v", err)
		}
		if !bytes.Equal(p2.Encode(), b2) {
			t.Fatal("re-encoding is not stable")
		}
	})
}
