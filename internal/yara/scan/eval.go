package scan

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"athena/internal/yara/object"
	"athena/internal/yara/plan"
)

type vkind uint8

const (
	vUndef vkind = iota
	vInt         // also booleans, 0 or 1
	vFloat
	vStr
	vObj // a module value, or a regexp argument
)

// value is a condition value; yara's undefined is vUndef.
type value struct {
	k vkind
	i int64
	f float64
	s []byte
	o any
}

var undef = value{}

func boolV(b bool) value {
	if b {
		return value{k: vInt, i: 1}
	}
	return value{k: vInt}
}

func intV(i int64) value { return value{k: vInt, i: i} }

// truth is v in a boolean context; ok is false when v is undefined.
func (v value) truth() (b, ok bool) {
	switch v.k {
	case vInt:
		return v.i != 0, true
	case vFloat:
		return v.f != 0, true
	case vStr:
		return len(v.s) > 0, true
	case vObj:
		return true, true
	}
	return false, false
}

func (v value) isTrue() bool { b, _ := v.truth(); return b }

func (v value) float() float64 {
	if v.k == vFloat {
		return v.f
	}
	return float64(v.i)
}

func fromObject(o object.Value) value {
	switch o := o.(type) {
	case nil:
		return undef
	case int64:
		return intV(o)
	case bool:
		return boolV(o)
	case float64:
		return value{k: vFloat, f: o}
	case []byte:
		return value{k: vStr, s: o}
	case string:
		return value{k: vStr, s: []byte(o)}
	}
	return value{k: vObj, o: o}
}

func toObject(v value) object.Value {
	switch v.k {
	case vInt:
		return v.i
	case vFloat:
		return v.f
	case vStr:
		return v.s
	case vObj:
		return v.o
	}
	return nil
}

type evalFn func(c *evalContext) value

// ruleEval is a rule's compiled condition.
type ruleEval struct {
	cond evalFn
	vars int
	// needsMatch: the condition cannot hold unless some string of the
	// rule matched, so a rule whose strings found nothing is false without
	// evaluating it (most rules on most files).
	needsMatch bool
}

// evalContext is one evaluation of the rules: at the end of a file (final)
// or during it, for early rules.
type evalContext struct {
	s     *Scanner
	size  int64 // -1 when unknown
	final bool
	// state is 0 not evaluated, 1 true, 2 false, 3 being evaluated.
	state      []uint8
	vars       []value
	cur        []int // current strings of the for ... of loops
	mods       map[string]value
	globalFail bool
}

func (s *Scanner) newContext(size int64, final bool) *evalContext {
	c := &evalContext{s: s, size: size, final: final, state: make([]uint8, len(s.p.RuleList))}
	if final {
		for ri := range s.p.RuleList {
			if s.p.RuleList[ri].Global && !c.ruleValue(ri) {
				c.globalFail = true
			}
		}
	}
	return c
}

func (c *evalContext) ruleValue(ri int) bool {
	if c.globalFail {
		return false
	}
	switch c.state[ri] {
	case 1:
		return true
	case 2, 3:
		return false
	}
	c.state[ri] = 3
	re := c.s.rules[ri]
	if re.needsMatch && !c.s.anyMatch(ri) {
		c.state[ri] = 2
		return false
	}
	saved := c.vars
	c.vars = make([]value, re.vars)
	v := re.cond(c).isTrue()
	c.vars = saved
	if v {
		c.state[ri] = 1
	} else {
		c.state[ri] = 2
	}
	return v
}

func (c *evalContext) module(name string) value {
	if v, ok := c.mods[name]; ok {
		return v
	}
	if c.mods == nil {
		c.mods = map[string]value{}
	}
	v := undef
	for _, m := range c.s.mods {
		if m.Name == name {
			v = c.loadModule(m)
			break
		}
	}
	c.mods[name] = v
	return v
}

// loadModule builds module m's value for the file, once per evaluation.
func (c *evalContext) loadModule(m *object.Module) value {
	if v, ok := c.mods["\x00"+m.Name]; ok {
		return v
	}
	if c.mods == nil {
		c.mods = map[string]value{}
	}
	size := c.size
	if size < 0 {
		size = c.s.pos
	}
	v := fromObject(m.Load(&object.Input{Data: c.s.head, Size: size}))
	c.mods["\x00"+m.Name] = v
	return v
}

func (s *Scanner) newRuleEval(ri int) (*ruleEval, error) {
	r := &s.p.RuleList[ri]
	b := &builder{s: s, first: r.First}
	f, err := b.build(r.Cond)
	if err != nil {
		return nil, fmt.Errorf("scan: rule %s: %w", r.Name, err)
	}
	return &ruleEval{cond: f, vars: r.Vars, needsMatch: needsMatch(r.Cond)}, nil
}

// anyMatch reports whether some string of rule ri has a match.
func (s *Scanner) anyMatch(ri int) bool {
	r := &s.p.RuleList[ri]
	for si := r.First; si < r.First+r.Count; si++ {
		if len(s.matches[si]) > 0 {
			return true
		}
	}
	return false
}

// needsMatch reports whether condition n is certainly not true (false or
// undefined) when none of its rule's strings matched. It errs on the side
// of false: only the forms below are recognised.
func needsMatch(n *plan.Node) bool {
	if n == nil {
		return false
	}
	constInt := func(m *plan.Node) (int64, bool) {
		if m != nil && m.Op == plan.OpInt {
			return m.Int, true
		}
		return 0, false
	}
	switch n.Op {
	case plan.OpAnd:
		return needsMatch(n.Args[0]) || needsMatch(n.Args[1])
	case plan.OpOr:
		return needsMatch(n.Args[0]) && needsMatch(n.Args[1])
	case plan.OpStrMatch, plan.OpStrAt, plan.OpStrIn:
		return n.Int >= 0 // not the current string of a for ... of
	case plan.OpOf:
		if string(n.Str) == "rules" || len(n.Items) == 0 {
			return false
		}
		switch n.Int {
		case plan.QuantAny, plan.QuantAll:
			return true
		case plan.QuantExpr, plan.QuantPercent:
			k, ok := constInt(n.Args[0])
			return ok && k >= 1
		}
	case plan.OpGt, plan.OpGe, plan.OpEq, plan.OpLt, plan.OpLe:
		// #a compared with a constant: with no match #a is 0.
		a, b, op := n.Args[0], n.Args[1], n.Op
		if a.Op != plan.OpStrCount {
			a, b = b, a
			op = map[plan.Op]plan.Op{plan.OpGt: plan.OpLt, plan.OpGe: plan.OpLe, plan.OpLt: plan.OpGt, plan.OpLe: plan.OpGe, plan.OpEq: plan.OpEq}[op]
		}
		k, ok := constInt(b)
		if a.Op != plan.OpStrCount || a.Int < 0 || !ok {
			return false
		}
		switch op {
		case plan.OpGt:
			return k >= 0
		case plan.OpGe, plan.OpEq:
			return k >= 1
		}
	}
	return false
}

type builder struct {
	s     *Scanner
	first int
}

func (b *builder) build(n *plan.Node) (evalFn, error) {
	if n == nil {
		return nil, fmt.Errorf("missing operand")
	}
	args := make([]evalFn, len(n.Args))
	for i, a := range n.Args {
		if a == nil || a.Op == plan.OpRegex {
			continue
		}
		f, err := b.build(a)
		if err != nil {
			return nil, err
		}
		args[i] = f
	}
	arg := func(i int) evalFn {
		if i < len(args) {
			return args[i]
		}
		return nil
	}
	x, y := arg(0), arg(1)
	switch n.Op {
	case plan.OpBool, plan.OpInt:
		v := intV(n.Int)
		return func(*evalContext) value { return v }, nil
	case plan.OpFloat:
		v := value{k: vFloat, f: n.Float}
		return func(*evalContext) value { return v }, nil
	case plan.OpString:
		v := value{k: vStr, s: n.Str}
		return func(*evalContext) value { return v }, nil
	case plan.OpRegex:
		m, err := compileMatcher(string(n.Str), plan.Flags(n.Int)&plan.RegexNocase != 0, plan.Flags(n.Int)&plan.RegexDotAll != 0)
		if err != nil {
			return nil, err
		}
		v := value{k: vObj, o: object.Matcher(m)}
		return func(*evalContext) value { return v }, nil
	case plan.OpFilesize:
		return func(c *evalContext) value {
			if c.size < 0 {
				return undef
			}
			return intV(c.size)
		}, nil
	case plan.OpEntrypoint:
		// The deprecated keyword is the pe module's entry point.
		pe, ok := lookupModule("pe")
		if !ok {
			return func(*evalContext) value { return undef }, nil
		}
		return func(c *evalContext) value {
			if c.size < 0 {
				return undef
			}
			v := c.loadModule(pe)
			if f, ok := v.o.(object.Fields); ok && v.k == vObj {
				return fromObject(f["entry_point"])
			}
			return undef
		}, nil
	case plan.OpRule:
		ri := int(n.Int)
		return func(c *evalContext) value { return boolV(c.ruleValue(ri)) }, nil
	case plan.OpModule:
		name := string(n.Str)
		return func(c *evalContext) value { return c.module(name) }, nil
	case plan.OpField:
		name := string(n.Str)
		return func(c *evalContext) value {
			v := x(c)
			if f, ok := v.o.(object.Fields); ok && v.k == vObj {
				return fromObject(f[name])
			}
			return undef
		}, nil
	case plan.OpIndex:
		return func(c *evalContext) value {
			v, i := x(c), y(c)
			if v.k != vObj {
				return undef
			}
			switch o := v.o.(type) {
			case []object.Value:
				if i.k == vInt && i.i >= 0 && i.i < int64(len(o)) {
					return fromObject(o[i.i])
				}
			case map[string]object.Value:
				if i.k == vStr {
					return fromObject(o[string(i.s)])
				}
			}
			return undef
		}, nil
	case plan.OpCall:
		overload := int(n.Int)
		params := make([]evalFn, len(n.Args)-1)
		for i, a := range n.Args[1:] {
			if a.Op == plan.OpRegex {
				rf, err := b.build(a)
				if err != nil {
					return nil, err
				}
				params[i] = rf
				continue
			}
			params[i] = args[i+1]
		}
		return func(c *evalContext) value {
			fv := x(c)
			fs, ok := fv.o.(object.Funcs)
			if fv.k != vObj || !ok || overload >= len(fs) {
				return undef
			}
			in := make([]object.Value, len(params))
			for i, p := range params {
				in[i] = toObject(p(c))
			}
			return fromObject(fs[overload](in))
		}, nil
	case plan.OpVar:
		slot := int(n.Int)
		return func(c *evalContext) value { return c.vars[slot] }, nil
	case plan.OpNot:
		return func(c *evalContext) value {
			t, ok := x(c).truth()
			if !ok {
				return undef
			}
			return boolV(!t)
		}, nil
	case plan.OpNeg:
		return func(c *evalContext) value {
			v := x(c)
			switch v.k {
			case vInt:
				return intV(-v.i)
			case vFloat:
				return value{k: vFloat, f: -v.f}
			}
			return undef
		}, nil
	case plan.OpBitNot:
		return func(c *evalContext) value {
			v := x(c)
			if v.k != vInt {
				return undef
			}
			return intV(^v.i)
		}, nil
	case plan.OpDefined:
		return func(c *evalContext) value { return boolV(x(c).k != vUndef) }, nil
	case plan.OpAnd:
		return func(c *evalContext) value { return boolV(x(c).isTrue() && y(c).isTrue()) }, nil
	case plan.OpOr:
		return func(c *evalContext) value { return boolV(x(c).isTrue() || y(c).isTrue()) }, nil
	case plan.OpLt, plan.OpLe, plan.OpGt, plan.OpGe, plan.OpEq, plan.OpNe:
		op := n.Op
		return func(c *evalContext) value { return compare(op, x(c), y(c)) }, nil
	case plan.OpAdd, plan.OpSub, plan.OpMul, plan.OpDiv, plan.OpMod,
		plan.OpBitAnd, plan.OpBitOr, plan.OpBitXor, plan.OpShl, plan.OpShr:
		op := n.Op
		return func(c *evalContext) value { return arith(op, x(c), y(c)) }, nil
	case plan.OpContains, plan.OpIContains, plan.OpStartsWith, plan.OpIStartsWith,
		plan.OpEndsWith, plan.OpIEndsWith, plan.OpIEquals:
		op := n.Op
		return func(c *evalContext) value {
			a, b := x(c), y(c)
			if a.k != vStr || b.k != vStr {
				return undef
			}
			return boolV(stringOp(op, a.s, b.s))
		}, nil
	case plan.OpMatches:
		rn := n.Args[1]
		m, err := compileMatcher(string(rn.Str), plan.Flags(rn.Int)&plan.RegexNocase != 0, plan.Flags(rn.Int)&plan.RegexDotAll != 0)
		if err != nil {
			return nil, err
		}
		return func(c *evalContext) value {
			a := x(c)
			if a.k != vStr {
				return undef
			}
			// yara never matches an empty subject, not even /^$/.
			return boolV(len(a.s) > 0 && m.Match(a.s))
		}, nil
	case plan.OpStrMatch, plan.OpStrCount, plan.OpStrOffset, plan.OpStrLength, plan.OpStrAt, plan.OpStrIn:
		return b.stringOp(n, x, y)
	case plan.OpRead:
		size := int(n.Int &^ (plan.ReadSigned | plan.ReadBigEndian))
		signed := n.Int&plan.ReadSigned != 0
		be := n.Int&plan.ReadBigEndian != 0
		return func(c *evalContext) value {
			o := x(c)
			head := c.s.head
			if o.k != vInt || o.i < 0 || o.i > int64(len(head)-size) {
				return undef
			}
			d := head[o.i : o.i+int64(size)]
			var u uint64
			switch size {
			case 1:
				u = uint64(d[0])
				if signed {
					u = uint64(int64(int8(d[0])))
				}
			case 2:
				v := binary.LittleEndian.Uint16(d)
				if be {
					v = binary.BigEndian.Uint16(d)
				}
				u = uint64(v)
				if signed {
					u = uint64(int64(int16(v)))
				}
			case 4:
				v := binary.LittleEndian.Uint32(d)
				if be {
					v = binary.BigEndian.Uint32(d)
				}
				u = uint64(v)
				if signed {
					u = uint64(int64(int32(v)))
				}
			}
			return intV(int64(u))
		}, nil
	case plan.OpOf, plan.OpForOf:
		return b.of(n, args)
	case plan.OpForIn:
		return b.forIn(n, args)
	}
	return nil, fmt.Errorf("unknown operation %d", n.Op)
}

func compare(op plan.Op, a, b value) value {
	if a.k == vUndef || b.k == vUndef {
		return undef
	}
	var cmp int
	switch {
	case a.k == vStr && b.k == vStr:
		cmp = bytes.Compare(a.s, b.s)
	case a.k == vInt && b.k == vInt:
		switch {
		case a.i < b.i:
			cmp = -1
		case a.i > b.i:
			cmp = 1
		}
	case (a.k == vInt || a.k == vFloat) && (b.k == vInt || b.k == vFloat):
		x, y := a.float(), b.float()
		switch {
		case x < y:
			cmp = -1
		case x > y:
			cmp = 1
		case x != y: // NaN
			return boolV(op == plan.OpNe)
		}
	default:
		return undef
	}
	if (a.k == vFloat || b.k == vFloat) && (op == plan.OpEq || op == plan.OpNe) {
		// yara compares floats for equality within DBL_EPSILON.
		eq := math.Abs(a.float()-b.float()) < 2.220446049250313e-16
		return boolV(eq == (op == plan.OpEq))
	}
	switch op {
	case plan.OpLt:
		return boolV(cmp < 0)
	case plan.OpLe:
		return boolV(cmp <= 0)
	case plan.OpGt:
		return boolV(cmp > 0)
	case plan.OpGe:
		return boolV(cmp >= 0)
	case plan.OpEq:
		return boolV(cmp == 0)
	}
	return boolV(cmp != 0)
}

func arith(op plan.Op, a, b value) value {
	if a.k == vInt && b.k == vInt {
		x, y := a.i, b.i
		switch op {
		case plan.OpAdd:
			return intV(x + y)
		case plan.OpSub:
			return intV(x - y)
		case plan.OpMul:
			return intV(x * y)
		case plan.OpDiv:
			if y == 0 || x == math.MinInt64 && y == -1 {
				return undef
			}
			return intV(x / y)
		case plan.OpMod:
			if y == 0 || x == math.MinInt64 && y == -1 {
				return undef
			}
			return intV(x % y)
		case plan.OpBitAnd:
			return intV(x & y)
		case plan.OpBitOr:
			return intV(x | y)
		case plan.OpBitXor:
			return intV(x ^ y)
		case plan.OpShl:
			if y < 0 {
				return undef
			}
			if y >= 64 {
				return intV(0)
			}
			return intV(x << y)
		case plan.OpShr:
			if y < 0 {
				return undef
			}
			if y >= 64 {
				return intV(0)
			}
			return intV(x >> y)
		}
		return undef
	}
	if (a.k != vInt && a.k != vFloat) || (b.k != vInt && b.k != vFloat) {
		return undef
	}
	x, y := a.float(), b.float()
	switch op {
	case plan.OpAdd:
		return value{k: vFloat, f: x + y}
	case plan.OpSub:
		return value{k: vFloat, f: x - y}
	case plan.OpMul:
		return value{k: vFloat, f: x * y}
	case plan.OpDiv:
		return value{k: vFloat, f: x / y}
	}
	return undef
}

func stringOp(op plan.Op, a, b []byte) bool {
	switch op {
	case plan.OpContains:
		return bytes.Contains(a, b)
	case plan.OpIContains:
		return bytes.Contains(lowerAll(a), lowerAll(b))
	case plan.OpStartsWith:
		return bytes.HasPrefix(a, b)
	case plan.OpIStartsWith:
		return bytes.HasPrefix(lowerAll(a), lowerAll(b))
	case plan.OpEndsWith:
		return bytes.HasSuffix(a, b)
	case plan.OpIEndsWith:
		return bytes.HasSuffix(lowerAll(a), lowerAll(b))
	}
	return bytes.Equal(lowerAll(a), lowerAll(b))
}

func lowerAll(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = lower(c)
	}
	return out
}

// str resolves a string operand: its index in the rule, or -1 for the
// current string of the innermost for ... of.
func (c *evalContext) str(first int, idx int64) []match {
	if idx < 0 {
		if len(c.cur) == 0 {
			return nil
		}
		return c.s.matches[c.cur[len(c.cur)-1]]
	}
	return c.s.matches[first+int(idx)]
}

func (b *builder) stringOp(n *plan.Node, x, y evalFn) (evalFn, error) {
	first, idx := b.first, n.Int
	switch n.Op {
	case plan.OpStrMatch:
		return func(c *evalContext) value { return boolV(len(c.str(first, idx)) > 0) }, nil
	case plan.OpStrCount:
		if x == nil {
			return func(c *evalContext) value { return intV(int64(len(c.str(first, idx)))) }, nil
		}
		return func(c *evalContext) value {
			lo, hi := x(c), y(c)
			if lo.k != vInt || hi.k != vInt {
				return undef
			}
			k := 0
			for _, m := range c.str(first, idx) {
				if m.off >= lo.i && m.off <= hi.i {
					k++
				}
			}
			return intV(int64(k))
		}, nil
	case plan.OpStrOffset, plan.OpStrLength:
		length := n.Op == plan.OpStrLength
		return func(c *evalContext) value {
			i := int64(1)
			if x != nil {
				v := x(c)
				if v.k != vInt {
					return undef
				}
				i = v.i
			}
			ms := c.str(first, idx)
			if i < 1 || i > int64(len(ms)) {
				return undef
			}
			if length {
				return intV(int64(ms[i-1].n))
			}
			return intV(ms[i-1].off)
		}, nil
	case plan.OpStrAt:
		return func(c *evalContext) value {
			o := x(c)
			if o.k != vInt {
				return boolV(false)
			}
			return boolV(matchAt(c.str(first, idx), o.i))
		}, nil
	}
	// OpStrIn
	return func(c *evalContext) value {
		lo, hi := x(c), y(c)
		if lo.k != vInt || hi.k != vInt {
			return boolV(false)
		}
		return boolV(matchIn(c.str(first, idx), lo.i, hi.i))
	}, nil
}

func matchAt(ms []match, off int64) bool {
	for _, m := range ms {
		if m.off == off {
			return true
		}
		if m.off > off {
			break
		}
	}
	return false
}

func matchIn(ms []match, lo, hi int64) bool {
	for _, m := range ms {
		if m.off > hi {
			break
		}
		if m.off >= lo {
			return true
		}
	}
	return false
}

// quantNeed returns how many of total items must be true, and whether the
// quantifier is "none" (then exactly zero).
func quantNeed(kind int64, n value, total int) (need int64, ok bool) {
	switch kind {
	case plan.QuantAll:
		return int64(total), true
	case plan.QuantAny:
		return 1, true
	case plan.QuantNone:
		return 0, true
	case plan.QuantExpr:
		if n.k != vInt {
			return 0, false
		}
		return n.i, true
	}
	if n.k != vInt {
		return 0, false
	}
	// N% of total, rounded up.
	return (n.i*int64(total) + 99) / 100, true
}

// satisfied says whether count true items out of total meet the quantifier.
func satisfied(kind int64, need, count int64, total int) bool {
	if kind == plan.QuantNone || kind == plan.QuantExpr && need <= 0 {
		return count == 0
	}
	if total == 0 {
		return false
	}
	return count >= need
}

func (b *builder) of(n *plan.Node, args []evalFn) (evalFn, error) {
	kind := n.Int
	qn := args[0]
	lo, hi, at := args[1], args[2], args[3]
	var body evalFn
	if n.Op == plan.OpForOf {
		body = args[4]
	}
	items := n.Items
	rules := string(n.Str) == "rules"
	first := b.first
	return func(c *evalContext) value {
		qv := undef
		if qn != nil {
			qv = qn(c)
		}
		need, ok := quantNeed(kind, qv, len(items))
		if !ok {
			return boolV(false)
		}
		var lov, hiv, atv value
		if lo != nil {
			lov, hiv = lo(c), hi(c)
		}
		if at != nil {
			atv = at(c)
		}
		count := int64(0)
		for _, it := range items {
			var t bool
			switch {
			case rules:
				t = c.ruleValue(it)
			case body != nil:
				c.cur = append(c.cur, first+it)
				t = body(c).isTrue()
				c.cur = c.cur[:len(c.cur)-1]
			case lo != nil:
				t = lov.k == vInt && hiv.k == vInt && matchIn(c.s.matches[first+it], lov.i, hiv.i)
			case at != nil:
				t = atv.k == vInt && matchAt(c.s.matches[first+it], atv.i)
			default:
				t = len(c.s.matches[first+it]) > 0
			}
			if t {
				count++
				if kind != plan.QuantNone && kind != plan.QuantAll && need > 0 && count >= need {
					return boolV(true)
				}
			}
		}
		return boolV(satisfied(kind, need, count, len(items)))
	}, nil
}

func (b *builder) forIn(n *plan.Node, args []evalFn) (evalFn, error) {
	kind := n.Int
	qn, body := args[0], args[1]
	slots := n.Items
	iterKind := string(n.Str)
	rest := args[2:]
	return func(c *evalContext) value {
		var items [][]value
		switch iterKind {
		case "range":
			lo, hi := rest[0](c), rest[1](c)
			if lo.k != vInt || hi.k != vInt || hi.i < lo.i {
				return boolV(false)
			}
			return c.forRange(kind, qn, body, slots[0], lo.i, hi.i)
		case "list":
			for _, f := range rest {
				items = append(items, []value{f(c)})
			}
		case "expr":
			v := rest[0](c)
			if v.k != vObj {
				return boolV(false)
			}
			switch o := v.o.(type) {
			case []object.Value:
				for _, e := range o {
					items = append(items, []value{fromObject(e)})
				}
			case map[string]object.Value:
				for k, e := range o {
					items = append(items, []value{{k: vStr, s: []byte(k)}, fromObject(e)})
				}
			default:
				return boolV(false)
			}
		}
		qv := undef
		if qn != nil {
			qv = qn(c)
		}
		need, ok := quantNeed(kind, qv, len(items))
		if !ok {
			return boolV(false)
		}
		count := int64(0)
		for _, it := range items {
			for i, slot := range slots {
				c.vars[slot] = it[i]
			}
			if body(c).isTrue() {
				count++
				if kind != plan.QuantNone && kind != plan.QuantAll && need > 0 && count >= need {
					return boolV(true)
				}
			} else if kind == plan.QuantAll {
				return boolV(false)
			}
		}
		return boolV(satisfied(kind, need, count, len(items)))
	}, nil
}

// forRange is `for Quant i in (lo..hi)`, walked without building the
// range.
func (c *evalContext) forRange(kind int64, qn, body evalFn, slot int, lo, hi int64) value {
	total := hi - lo + 1
	if total <= 0 { // overflow of a huge range
		return boolV(false)
	}
	qv := undef
	if qn != nil {
		qv = qn(c)
	}
	var need int64
	switch kind {
	case plan.QuantAll:
		need = total
	case plan.QuantAny:
		need = 1
	case plan.QuantExpr:
		if qv.k != vInt {
			return boolV(false)
		}
		need = qv.i
	case plan.QuantPercent:
		if qv.k != vInt {
			return boolV(false)
		}
		need = (qv.i*total + 99) / 100
	}
	count := int64(0)
	for i := lo; ; i++ {
		c.vars[slot] = intV(i)
		if body(c).isTrue() {
			count++
			if kind == plan.QuantNone {
				return boolV(false)
			}
			if kind != plan.QuantAll && need > 0 && count >= need {
				return boolV(true)
			}
		} else if kind == plan.QuantAll {
			return boolV(false)
		}
		if i == hi {
			break
		}
	}
	if kind == plan.QuantNone || kind == plan.QuantExpr && need <= 0 {
		return boolV(count == 0)
	}
	return boolV(count >= need)
}
