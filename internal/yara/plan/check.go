package plan

import "fmt"

// check validates the condition of rule ri: the operands each operation
// needs are present and every index it holds is in range.
func (d *decoder) check(p *Plan, ri int, n *Node) {
	r := &p.RuleList[ri]
	var walk func(n *Node, inFor bool)
	walk = func(n *Node, inFor bool) {
		if n == nil || d.err != nil {
			return
		}
		bad := func(what string) { d.fail(fmt.Sprintf("rule %d: %s", ri, what)) }
		need := func(k int) {
			if len(n.Args) < k {
				bad("missing operand")
				return
			}
			for _, a := range n.Args[:k] {
				if a == nil {
					bad("missing operand")
				}
			}
		}
		strIndex := func() {
			if n.Int == -1 && inFor {
				return
			}
			if n.Int < 0 || n.Int >= int64(r.Count) {
				bad("string index")
			}
		}
		switch n.Op {
		case OpRule:
			if n.Int < 0 || n.Int > int64(ri) {
				bad("rule index")
			}
		case OpField:
			need(1)
		case OpIndex:
			need(2)
		case OpCall:
			need(1)
			for _, a := range n.Args {
				if a == nil {
					bad("missing operand")
				}
			}
		case OpVar:
			if n.Int < 0 || n.Int >= int64(r.Vars) {
				bad("variable slot")
			}
		case OpNot, OpNeg, OpBitNot, OpDefined:
			need(1)
		case OpAnd, OpOr, OpLt, OpLe, OpGt, OpGe, OpEq, OpNe, OpAdd, OpSub, OpMul,
			OpDiv, OpMod, OpBitAnd, OpBitOr, OpBitXor, OpShl, OpShr, OpContains,
			OpIContains, OpStartsWith, OpIStartsWith, OpEndsWith, OpIEndsWith, OpIEquals:
			need(2)
		case OpMatches:
			need(2)
			if d.err == nil && n.Args[1].Op != OpRegex {
				bad("matches without a regexp")
			}
		case OpStrMatch, OpStrOffset, OpStrLength:
			strIndex()
		case OpStrCount:
			strIndex()
			if len(n.Args) != 0 {
				need(2)
			}
		case OpStrAt:
			strIndex()
			need(1)
		case OpStrIn:
			strIndex()
			need(2)
		case OpRead:
			need(1)
			if sz := n.Int &^ (ReadSigned | ReadBigEndian); sz != 1 && sz != 2 && sz != 4 {
				bad("read size")
			}
		case OpOf, OpForOf:
			if n.Op == OpForOf && (len(n.Args) != 5 || n.Args[4] == nil) || n.Op == OpOf && len(n.Args) != 4 {
				bad("missing operand")
				return
			}
			if (n.Args[1] == nil) != (n.Args[2] == nil) {
				bad("range")
			}
			if n.Int < QuantAll || n.Int > QuantPercent {
				bad("quantifier")
			}
			if n.Int >= QuantExpr && (len(n.Args) == 0 || n.Args[0] == nil) {
				bad("quantifier count")
			}
			limit := r.Count
			if string(n.Str) == "rules" {
				limit = ri
			}
			for _, it := range n.Items {
				if it >= limit {
					bad("set item")
				}
			}
		case OpForIn:
			if len(n.Args) < 2 || n.Args[1] == nil {
				bad("missing operand")
				return
			}
			for _, a := range n.Args[2:] {
				if a == nil {
					bad("missing operand")
				}
			}
			if n.Int < QuantAll || n.Int > QuantPercent {
				bad("quantifier")
			}
			if n.Int >= QuantExpr && n.Args[0] == nil {
				bad("quantifier count")
			}
			for _, it := range n.Items {
				if it >= r.Vars {
					bad("variable slot")
				}
			}
			switch string(n.Str) {
			case "range":
				if len(n.Args) != 4 || len(n.Items) != 1 {
					bad("range loop")
				}
			case "expr":
				if len(n.Args) != 3 || len(n.Items) < 1 || len(n.Items) > 2 {
					bad("loop")
				}
			case "list":
				if len(n.Items) != 1 {
					bad("list loop")
				}
			default:
				bad("iterable")
			}
		}
		for i, a := range n.Args {
			walk(a, inFor || (n.Op == OpForOf && i == 4))
		}
	}
	walk(n, false)
}
