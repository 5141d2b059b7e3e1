package scan

import (
	"bytes"
	"testing"

	"athena/internal/yara/plan"
)

// TestWindowStaysSmall checks that a long file scanned in chunks leaves
// the window and the data kept for conditions bounded.
func TestWindowStaysSmall(t *testing.T) {
	p := &plan.Plan{
		Strings: []plan.String{
			{ID: "$a", Kind: plan.Text, Flags: plan.ASCII, Text: []byte("needle")},
			{ID: "$h", Kind: plan.Hex, Flags: plan.ASCII, Hex: []plan.HexToken{
				{Kind: plan.HexByte, Value: 'N', Mask: 0xFF}, {Kind: plan.HexJump, Min: 0, Max: -1}, {Kind: plan.HexByte, Value: 'D', Mask: 0xFF}}},
		},
		RuleList: []plan.Rule{{Name: "r", Count: 2, Cond: &plan.Node{
			Op: plan.OpAnd, Args: []*plan.Node{
				{Op: plan.OpStrMatch, Int: 0},
				{Op: plan.OpOr, Args: []*plan.Node{
					{Op: plan.OpGt, Args: []*plan.Node{{Op: plan.OpRead, Int: 1, Args: []*plan.Node{{Op: plan.OpFilesize}}}, {Op: plan.OpInt, Int: -1}}},
					{Op: plan.OpBool, Int: 1},
				}},
			}}}},
	}
	s, err := New(p, Options{MaxData: 4096})
	if err != nil {
		t.Fatal(err)
	}
	s.Begin(-1, nil)
	chunk := bytes.Repeat([]byte("..needle.N.D.."), 4096)
	for range 60 { // 3.4 MB
		s.Write(chunk)
		if len(s.win) > 4*len(chunk)+64<<10 {
			t.Fatalf("window holds %d bytes", len(s.win))
		}
	}
	if len(s.head) > 4096 {
		t.Fatalf("kept %d bytes of data, MaxData is 4096", len(s.head))
	}
	if ms := s.Finish(); len(ms) != 1 || len(ms[0].Strings) == 0 {
		t.Fatalf("Finish: %d rules", len(ms))
	}
}
