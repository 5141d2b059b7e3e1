package compile

import (
	"math"
	"path"
	"strings"

	"athena/internal/yara/ast"
	"athena/internal/yara/object"
	"athena/internal/yara/plan"
)

// kind is the static type of an expression.
type kind int

const (
	tBad kind = iota // an error was already reported
	tBool
	tInt
	tFloat
	tString
	tRegex
	tObj // a module struct, array, dictionary or function
)

type typ struct {
	k   kind
	obj *object.Type
}

func (t typ) String() string {
	switch t.k {
	case tBool:
		return "boolean"
	case tInt:
		return "integer"
	case tFloat:
		return "float"
	case tString:
		return "string"
	case tRegex:
		return "regexp"
	case tObj:
		return t.obj.Kind.String()
	}
	return "invalid"
}

func (t typ) boolish() bool {
	switch t.k {
	case tBad, tBool, tInt, tFloat, tString:
		return true
	}
	return false
}

func (t typ) numeric() bool { return t.k == tInt || t.k == tFloat || t.k == tBad }

// fromObject is the static type of a module value of type ot.
func fromObject(ot *object.Type) typ {
	switch ot.Kind {
	case object.Int:
		return typ{k: tInt}
	case object.Float:
		return typ{k: tFloat}
	case object.String:
		return typ{k: tString}
	}
	return typ{k: tObj, obj: ot}
}

var (
	boolT   = typ{k: tBool}
	intT    = typ{k: tInt}
	floatT  = typ{k: tFloat}
	stringT = typ{k: tString}
	badT    = typ{k: tBad}
)

func node(op plan.Op, args ...*plan.Node) *plan.Node { return &plan.Node{Op: op, Args: args} }

var binOps = map[string]plan.Op{
	"and": plan.OpAnd, "or": plan.OpOr,
	"<": plan.OpLt, "<=": plan.OpLe, ">": plan.OpGt, ">=": plan.OpGe, "==": plan.OpEq, "!=": plan.OpNe,
	"+": plan.OpAdd, "-": plan.OpSub, "*": plan.OpMul, "\\": plan.OpDiv, "%": plan.OpMod,
	"&": plan.OpBitAnd, "|": plan.OpBitOr, "^": plan.OpBitXor, "<<": plan.OpShl, ">>": plan.OpShr,
	"contains": plan.OpContains, "icontains": plan.OpIContains,
	"startswith": plan.OpStartsWith, "istartswith": plan.OpIStartsWith,
	"endswith": plan.OpEndsWith, "iendswith": plan.OpIEndsWith,
	"iequals": plan.OpIEquals, "matches": plan.OpMatches,
}

// expr compiles e. It returns a nil node only after reporting an error.
func (c *compiler) expr(e ast.Expr) (*plan.Node, typ) {
	switch e := e.(type) {
	case *ast.BoolLit:
		n := node(plan.OpBool)
		if e.Value {
			n.Int = 1
		}
		return n, boolT
	case *ast.IntLit:
		return &plan.Node{Op: plan.OpInt, Int: e.Value}, intT
	case *ast.FloatLit:
		return &plan.Node{Op: plan.OpFloat, Float: e.Value}, floatT
	case *ast.StringLit:
		return &plan.Node{Op: plan.OpString, Str: append([]byte{}, e.Value...)}, stringT
	case *ast.RegexLit:
		return c.regexLit(e.Pos, e.Regex), typ{k: tRegex}
	case *ast.Filesize:
		return node(plan.OpFilesize), intT
	case *ast.Entrypoint:
		return node(plan.OpEntrypoint), intT
	case *ast.Ident:
		return c.ident(e)
	case *ast.Field:
		x, t := c.expr(e.X)
		if x == nil {
			return nil, badT
		}
		if t.k != tObj || t.obj.Kind != object.Struct {
			c.errorf(e.Pos, "%s has no field %q", t, e.Name)
			return nil, badT
		}
		ft, ok := t.obj.Fields[e.Name]
		if !ok {
			c.errorf(e.Pos, "unknown field %q", e.Name)
			return nil, badT
		}
		return &plan.Node{Op: plan.OpField, Args: []*plan.Node{x}, Str: []byte(e.Name)}, fromObject(ft)
	case *ast.Index:
		x, t := c.expr(e.X)
		i, it := c.expr(e.Index)
		if x == nil || i == nil {
			return nil, badT
		}
		if t.k != tObj || (t.obj.Kind != object.Array && t.obj.Kind != object.Dict) {
			c.errorf(e.Pos, "%s cannot be indexed", t)
			return nil, badT
		}
		if t.obj.Kind == object.Array && it.k != tInt || t.obj.Kind == object.Dict && it.k != tString {
			c.errorf(e.Index.Position(), "wrong index type %s for %s", it, t)
			return nil, badT
		}
		return node(plan.OpIndex, x, i), fromObject(t.obj.Elem)
	case *ast.Call:
		return c.call(e)
	case *ast.Unary:
		x, t := c.expr(e.X)
		if x == nil {
			return nil, badT
		}
		switch e.Op {
		case "not":
			if !t.boolish() {
				c.errorf(e.Pos, "cannot negate a %s", t)
			}
			return node(plan.OpNot, x), boolT
		case "defined":
			return node(plan.OpDefined, x), boolT
		case "-":
			if !t.numeric() {
				c.errorf(e.Pos, "wrong type %s for -", t)
			}
			if x.Op == plan.OpInt {
				if x.Int == math.MinInt64 {
					c.errorf(e.Pos, "integer overflow")
				}
				return &plan.Node{Op: plan.OpInt, Int: -x.Int}, intT
			}
			return node(plan.OpNeg, x), t
		case "~":
			if t.k != tInt && t.k != tBad {
				c.errorf(e.Pos, "wrong type %s for ~", t)
			}
			return node(plan.OpBitNot, x), intT
		}
		c.errorf(e.Pos, "unknown operator %q", e.Op)
		return nil, badT
	case *ast.Binary:
		return c.binary(e)
	case *ast.StringMatch:
		i, ok := c.stringRef(e.Pos, e.ID)
		if !ok {
			return nil, badT
		}
		return &plan.Node{Op: plan.OpStrMatch, Int: i}, boolT
	case *ast.StringCount:
		i, ok := c.stringRef(e.Pos, e.ID)
		if !ok {
			return nil, badT
		}
		n := &plan.Node{Op: plan.OpStrCount, Int: i}
		if e.In != nil {
			lo, hi, ok := c.rng(*e.In)
			if !ok {
				return nil, badT
			}
			n.Args = []*plan.Node{lo, hi}
		}
		return n, intT
	case *ast.StringOffset:
		return c.strIndexed(plan.OpStrOffset, e.Pos, e.ID, e.Index)
	case *ast.StringLength:
		return c.strIndexed(plan.OpStrLength, e.Pos, e.ID, e.Index)
	case *ast.StringAt:
		i, ok := c.stringRef(e.Pos, e.ID)
		o, ok2 := c.intExpr(e.Offset)
		if !ok || !ok2 {
			return nil, badT
		}
		c.noteAt(i, o)
		return &plan.Node{Op: plan.OpStrAt, Int: i, Args: []*plan.Node{o}}, boolT
	case *ast.StringIn:
		i, ok := c.stringRef(e.Pos, e.ID)
		lo, hi, ok2 := c.rng(e.Range)
		if !ok || !ok2 {
			return nil, badT
		}
		return &plan.Node{Op: plan.OpStrIn, Int: i, Args: []*plan.Node{lo, hi}}, boolT
	case *ast.DataRead:
		o, ok := c.intExpr(e.Offset)
		if !ok {
			return nil, badT
		}
		v := int64(e.Size)
		if e.Signed {
			v |= plan.ReadSigned
		}
		if e.BigEndian {
			v |= plan.ReadBigEndian
		}
		return &plan.Node{Op: plan.OpRead, Int: v, Args: []*plan.Node{o}}, intT
	case *ast.Of:
		return c.of(e)
	case *ast.ForOf:
		n, t := c.of(&ast.Of{Pos: e.Pos, Quant: e.Quant, Set: e.Set})
		if n == nil {
			return nil, badT
		}
		if len(n.Items) > 0 && string(n.Str) == "rules" {
			c.errorf(e.Pos, "for ... of needs strings, not rules")
			return nil, badT
		}
		c.forOf++
		body, bt := c.expr(e.Body)
		c.forOf--
		if body == nil {
			return nil, badT
		}
		if !bt.boolish() {
			c.errorf(e.Body.Position(), "loop body is a %s", bt)
		}
		n.Op = plan.OpForOf
		n.Args = append(n.Args, body)
		return n, t
	case *ast.ForIn:
		return c.forIn(e)
	}
	c.errorf(e.Position(), "unsupported expression")
	return nil, badT
}

func (c *compiler) regexLit(pos ast.Pos, r ast.Regex) *plan.Node {
	var f plan.Flags
	if r.Nocase {
		f |= plan.RegexNocase
	}
	if r.DotAll {
		f |= plan.RegexDotAll
	}
	if err := checkRegex(r.Source, r.Nocase, r.DotAll, false); err != nil {
		c.errorf(pos, "invalid regular expression: %v", err)
	}
	return &plan.Node{Op: plan.OpRegex, Str: []byte(r.Source), Int: int64(f)}
}

func (c *compiler) intExpr(e ast.Expr) (*plan.Node, bool) {
	n, t := c.expr(e)
	if n == nil {
		return nil, false
	}
	if t.k != tInt {
		c.errorf(e.Position(), "wrong type: %s, want integer", t)
		return nil, false
	}
	return n, true
}

func (c *compiler) rng(r ast.Range) (lo, hi *plan.Node, ok bool) {
	lo, ok1 := c.intExpr(r.Lo)
	hi, ok2 := c.intExpr(r.Hi)
	return lo, hi, ok1 && ok2
}

func (c *compiler) ident(e *ast.Ident) (*plan.Node, typ) {
	for i := len(c.scopes) - 1; i >= 0; i-- {
		if v, ok := c.scopes[i][e.Name]; ok {
			return &plan.Node{Op: plan.OpVar, Int: int64(v.slot)}, v.t
		}
	}
	if ri, ok := c.rules[e.Name]; ok {
		return &plan.Node{Op: plan.OpRule, Int: int64(ri)}, boolT
	}
	if m, ok := c.modules[e.Name]; ok {
		return &plan.Node{Op: plan.OpModule, Str: []byte(e.Name)}, typ{k: tObj, obj: m.Type}
	}
	c.errorf(e.Pos, "undefined identifier %q", e.Name)
	return nil, badT
}

// stringRef resolves a string identifier; "$" is the current string of a
// `for ... of` loop (index -1).
func (c *compiler) stringRef(pos ast.Pos, id string) (int64, bool) {
	if id == "$" {
		if c.forOf == 0 {
			c.errorf(pos, "$ outside of a for ... of loop")
			return 0, false
		}
		return -1, true
	}
	i, ok := c.strIDs[id]
	if !ok {
		c.errorf(pos, "undefined string identifier %q", id)
		return 0, false
	}
	c.used[i] = true
	c.refs[i]++
	return int64(i), true
}

// atRefs are a string's `$a at N` references with a constant N: how many,
// the first N, and whether they all name it.
type atRefs struct {
	n    int
	off  int64
	same bool
}

// noteAt records a `$a at offset` reference of string i.
func (c *compiler) noteAt(i int64, offset *plan.Node) {
	if i < 0 || offset.Op != plan.OpInt {
		return
	}
	a := &c.at[i]
	switch {
	case a.n == 0:
		a.off, a.same = offset.Int, true
	case a.off != offset.Int:
		a.same = false
	}
	a.n++
}

func (c *compiler) strIndexed(op plan.Op, pos ast.Pos, id string, index ast.Expr) (*plan.Node, typ) {
	i, ok := c.stringRef(pos, id)
	if !ok {
		return nil, badT
	}
	n := &plan.Node{Op: op, Int: i}
	if index != nil {
		x, ok := c.intExpr(index)
		if !ok {
			return nil, badT
		}
		n.Args = []*plan.Node{x}
	}
	return n, intT
}

func (c *compiler) binary(e *ast.Binary) (*plan.Node, typ) {
	op, ok := binOps[e.Op]
	if !ok {
		c.errorf(e.Pos, "unknown operator %q", e.Op)
		return nil, badT
	}
	x, xt := c.expr(e.X)
	var y *plan.Node
	var yt typ
	if op == plan.OpMatches {
		if r, ok := e.Y.(*ast.RegexLit); ok {
			y, yt = c.regexLit(r.Pos, r.Regex), typ{k: tRegex}
		} else {
			c.errorf(e.Y.Position(), "matches needs a regular expression")
			return nil, badT
		}
	} else {
		y, yt = c.expr(e.Y)
	}
	if x == nil || y == nil {
		return nil, badT
	}
	n := node(op, x, y)
	if xt.k == tBad || yt.k == tBad {
		return n, badT
	}
	switch op {
	case plan.OpAnd, plan.OpOr:
		if !xt.boolish() || !yt.boolish() {
			c.errorf(e.Pos, "wrong types for %s: %s and %s", e.Op, xt, yt)
		}
		return n, boolT
	case plan.OpLt, plan.OpLe, plan.OpGt, plan.OpGe, plan.OpEq, plan.OpNe:
		if !(xt.numeric() && yt.numeric() || xt.k == tString && yt.k == tString ||
			xt.k == tBool && yt.k == tBool) {
			c.errorf(e.Pos, "cannot compare %s and %s", xt, yt)
		}
		return n, boolT
	case plan.OpAdd, plan.OpSub, plan.OpMul, plan.OpDiv:
		if !xt.numeric() || !yt.numeric() {
			c.errorf(e.Pos, "wrong types for %s: %s and %s", e.Op, xt, yt)
			return n, badT
		}
		if f, ok := c.fold(e, op, x, y); ok {
			return f, intT
		}
		if xt.k == tFloat || yt.k == tFloat {
			return n, floatT
		}
		return n, intT
	case plan.OpMod, plan.OpBitAnd, plan.OpBitOr, plan.OpBitXor, plan.OpShl, plan.OpShr:
		if xt.k != tInt || yt.k != tInt {
			c.errorf(e.Pos, "wrong types for %s: %s and %s", e.Op, xt, yt)
		}
		if f, ok := c.fold(e, op, x, y); ok {
			return f, intT
		}
		return n, intT
	case plan.OpMatches:
		if xt.k != tString {
			c.errorf(e.Pos, "matches needs a string, not %s", xt)
		}
		return n, boolT
	default: // string operators
		if xt.k != tString || yt.k != tString {
			c.errorf(e.Pos, "%s needs strings, not %s and %s", e.Op, xt, yt)
		}
		return n, boolT
	}
}

func (c *compiler) call(e *ast.Call) (*plan.Node, typ) {
	fn, ft := c.expr(e.Fn)
	if fn == nil {
		return nil, badT
	}
	if ft.k != tObj || ft.obj.Kind != object.Func {
		c.errorf(e.Pos, "%s is not a function", ft)
		return nil, badT
	}
	args := []*plan.Node{fn}
	var kinds []typ
	for _, a := range e.Args {
		var n *plan.Node
		var t typ
		if r, ok := a.(*ast.RegexLit); ok {
			n, t = c.regexLit(r.Pos, r.Regex), typ{k: tRegex}
		} else {
			n, t = c.expr(a)
		}
		if n == nil {
			return nil, badT
		}
		args = append(args, n)
		kinds = append(kinds, t)
	}
	for oi, sig := range ft.obj.Overloads {
		if len(sig.Args) != len(kinds) {
			continue
		}
		ok := true
		for i, k := range sig.Args {
			switch k {
			case object.Int:
				ok = ok && (kinds[i].k == tInt || kinds[i].k == tBool)
			case object.Float:
				ok = ok && (kinds[i].k == tFloat || kinds[i].k == tInt)
			case object.String:
				ok = ok && kinds[i].k == tString
			case object.Regex:
				ok = ok && kinds[i].k == tRegex
			default:
				ok = false
			}
		}
		if ok {
			for i, k := range sig.Args {
				if k == object.Float && kinds[i].k == tInt {
					// Pass an integer as a float: x + 0.0.
					args[i+1] = node(plan.OpAdd, args[i+1], &plan.Node{Op: plan.OpFloat})
				}
			}
			return &plan.Node{Op: plan.OpCall, Args: args, Int: int64(oi)}, fromObject(sig.Ret)
		}
	}
	c.errorf(e.Pos, "no overload of the function takes these arguments")
	return nil, badT
}

func quantOf(q ast.QuantKind) int64 {
	switch q {
	case ast.QuantAll:
		return plan.QuantAll
	case ast.QuantAny:
		return plan.QuantAny
	case ast.QuantNone:
		return plan.QuantNone
	case ast.QuantExpr:
		return plan.QuantExpr
	}
	return plan.QuantPercent
}

func (c *compiler) quant(q ast.Quantifier) (*plan.Node, bool) {
	if q.Kind != ast.QuantExpr && q.Kind != ast.QuantPercent {
		return nil, true
	}
	return c.intExpr(q.N)
}

// of compiles `Quant of Set` with its optional `in` or `at`; Args are
// [N, lo, hi, at].
func (c *compiler) of(e *ast.Of) (*plan.Node, typ) {
	n := &plan.Node{Op: plan.OpOf, Int: quantOf(e.Quant.Kind), Args: make([]*plan.Node, 4)}
	qn, ok := c.quant(e.Quant)
	if !ok {
		return nil, badT
	}
	n.Args[0] = qn
	switch {
	case e.Set.Them:
		if len(c.rule_.Strings) == 0 {
			c.errorf(e.Pos, "no strings to match with them")
			return nil, badT
		}
		for i := range c.rule_.Strings {
			n.Items = append(n.Items, i)
			c.used[i] = true
			c.refs[i]++
		}
	case len(e.Set.Strings) > 0:
		for _, pat := range e.Set.Strings {
			found := false
			for i, s := range c.rule_.Strings {
				if s.ID == pat || strings.HasSuffix(pat, "*") && strings.HasPrefix(s.ID, strings.TrimSuffix(pat, "*")) {
					n.Items = append(n.Items, i)
					c.used[i] = true
					c.refs[i]++
					found = true
				}
			}
			if !found {
				c.errorf(e.Pos, "undefined string identifier %q", pat)
				return nil, badT
			}
		}
	default:
		n.Str = []byte("rules")
		for _, pat := range e.Set.Rules {
			found := false
			for ri := 0; ri < c.ruleIdx; ri++ {
				name := c.p.RuleList[ri].Name
				if ok, _ := path.Match(pat, name); ok && strings.HasSuffix(pat, "*") || name == pat {
					n.Items = append(n.Items, ri)
					found = true
				}
			}
			if !found {
				c.errorf(e.Pos, "undefined identifier %q", pat)
				return nil, badT
			}
		}
	}
	if e.In != nil {
		lo, hi, ok := c.rng(*e.In)
		if !ok {
			return nil, badT
		}
		n.Args[1], n.Args[2] = lo, hi
	}
	if e.At != nil {
		at, ok := c.intExpr(e.At)
		if !ok {
			return nil, badT
		}
		n.Args[3] = at
	}
	return n, boolT
}

func (c *compiler) forIn(e *ast.ForIn) (*plan.Node, typ) {
	n := &plan.Node{Op: plan.OpForIn, Int: quantOf(e.Quant.Kind), Args: make([]*plan.Node, 2)}
	qn, ok := c.quant(e.Quant)
	if !ok {
		return nil, badT
	}
	n.Args[0] = qn
	var vt []typ
	iter := e.Iter
	switch it := iter.(type) {
	case ast.RangeIter:
		iter = &it
	case ast.ListIter:
		iter = &it
	case ast.ExprIter:
		iter = &it
	}
	switch it := iter.(type) {
	case *ast.RangeIter:
		lo, hi, ok := c.rng(it.Range)
		if !ok {
			return nil, badT
		}
		n.Str = []byte("range")
		n.Args = append(n.Args, lo, hi)
		vt = []typ{intT}
	case *ast.ListIter:
		n.Str = []byte("list")
		var et typ
		for i, x := range it.Items {
			xn, t := c.expr(x)
			if xn == nil {
				return nil, badT
			}
			if t.k != tInt && t.k != tString || i > 0 && t.k != et.k {
				c.errorf(x.Position(), "list items must all be integers or all strings")
				return nil, badT
			}
			et = t
			n.Args = append(n.Args, xn)
		}
		vt = []typ{et}
	case *ast.ExprIter:
		xn, t := c.expr(it.X)
		if xn == nil {
			return nil, badT
		}
		n.Str = []byte("expr")
		n.Args = append(n.Args, xn)
		switch {
		case t.k == tObj && t.obj.Kind == object.Array:
			vt = []typ{fromObject(t.obj.Elem)}
		case t.k == tObj && t.obj.Kind == object.Dict:
			vt = []typ{stringT, fromObject(t.obj.Elem)}
		default:
			c.errorf(it.X.Position(), "cannot iterate over a %s", t)
			return nil, badT
		}
	default:
		c.errorf(e.Pos, "unsupported iterable")
		return nil, badT
	}
	if len(e.Vars) != len(vt) {
		c.errorf(e.Pos, "wrong number of loop variables: %d, want %d", len(e.Vars), len(vt))
		return nil, badT
	}
	scope := map[string]variable{}
	for i, name := range e.Vars {
		scope[name] = variable{slot: c.vars, t: vt[i]}
		n.Items = append(n.Items, c.vars)
		c.vars++
	}
	c.scopes = append(c.scopes, scope)
	body, bt := c.expr(e.Body)
	c.scopes = c.scopes[:len(c.scopes)-1]
	if body == nil {
		return nil, badT
	}
	if !bt.boolish() {
		c.errorf(e.Body.Position(), "loop body is a %s", bt)
	}
	n.Args[1] = body
	return n, boolT
}

// fold computes an operation on two integer constants, as yara does at
// compile time: overflow, division by zero and negative shifts are errors.
func (c *compiler) fold(e *ast.Binary, op plan.Op, x, y *plan.Node) (*plan.Node, bool) {
	if x.Op != plan.OpInt || y.Op != plan.OpInt {
		return nil, false
	}
	a, b := x.Int, y.Int
	var r int64
	overflow := false
	switch op {
	case plan.OpAdd:
		r = a + b
		overflow = (a >= 0) == (b >= 0) && (r >= 0) != (a >= 0)
	case plan.OpSub:
		r = a - b
		overflow = (a >= 0) != (b >= 0) && (r >= 0) != (a >= 0)
	case plan.OpMul:
		r = a * b
		overflow = a != 0 && (r/a != b || a == -1 && b == math.MinInt64)
	case plan.OpDiv, plan.OpMod:
		if b == 0 {
			c.errorf(e.Pos, "division by zero")
			return nil, false
		}
		if a == math.MinInt64 && b == -1 {
			return nil, false
		}
		if op == plan.OpDiv {
			r = a / b
		} else {
			r = a % b
		}
	case plan.OpShl, plan.OpShr:
		if b < 0 {
			c.errorf(e.Pos, "negative shift count")
			return nil, false
		}
		switch {
		case b >= 64:
			r = 0
		case op == plan.OpShl:
			r = a << b
		default:
			r = a >> b
		}
	case plan.OpBitAnd:
		r = a & b
	case plan.OpBitOr:
		r = a | b
	case plan.OpBitXor:
		r = a ^ b
	default:
		return nil, false
	}
	if overflow {
		c.errorf(e.Pos, "integer overflow in %q", e.Op)
		return nil, false
	}
	return &plan.Node{Op: plan.OpInt, Int: r}, true
}
