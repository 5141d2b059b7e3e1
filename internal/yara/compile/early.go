package compile

import "athena/internal/yara/plan"

// early reports whether rule r may be passed to the early callback as soon
// as it is true: its condition only grows truer as string matches arrive
// (no not, no filesize, no data, no modules, no counts compared downwards),
// and no global rule could still make it false.
func (c *compiler) early(r *plan.Rule) bool {
	if r.Private || r.Global {
		return false
	}
	return c.monotone(r.Cond)
}

func isConst(n *plan.Node) bool {
	return n != nil && (n.Op == plan.OpInt || n.Op == plan.OpBool)
}

func (c *compiler) monotone(n *plan.Node) bool {
	if n == nil {
		return false
	}
	switch n.Op {
	case plan.OpBool:
		return true
	case plan.OpAnd, plan.OpOr:
		return c.monotone(n.Args[0]) && c.monotone(n.Args[1])
	case plan.OpStrMatch:
		return n.Int >= 0
	case plan.OpStrAt:
		return n.Int >= 0 && isConst(n.Args[0])
	case plan.OpStrIn:
		return n.Int >= 0 && isConst(n.Args[0]) && isConst(n.Args[1])
	case plan.OpGt, plan.OpGe:
		// #a >= N, #a > N
		x, y := n.Args[0], n.Args[1]
		return x.Op == plan.OpStrCount && x.Int >= 0 && (len(x.Args) == 0 || isConst(x.Args[0]) && isConst(x.Args[1])) && isConst(y)
	case plan.OpRule:
		return c.monotoneRule(int(n.Int))
	case plan.OpOf:
		if n.Int == plan.QuantNone || n.Int == plan.QuantPercent || n.Args[3] != nil {
			return false
		}
		if n.Int == plan.QuantExpr && !isConst(n.Args[0]) {
			return false
		}
		if n.Args[1] != nil && !(isConst(n.Args[1]) && isConst(n.Args[2])) {
			return false
		}
		if string(n.Str) == "rules" {
			for _, ri := range n.Items {
				if !c.monotoneRule(ri) {
					return false
				}
			}
		}
		return true
	}
	return false
}

// monotoneRule reports whether a referenced rule's truth only grows: an
// early rule, or a private one with a monotone condition.
func (c *compiler) monotoneRule(ri int) bool {
	r := &c.p.RuleList[ri]
	if r.Early {
		return true
	}
	if !r.Private || ri == c.ruleIdx || c.visiting[ri] {
		return false
	}
	if c.visiting == nil {
		c.visiting = map[int]bool{}
	}
	c.visiting[ri] = true
	defer delete(c.visiting, ri)
	return c.monotone(r.Cond)
}
