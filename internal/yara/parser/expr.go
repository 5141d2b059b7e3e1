package parser

import (
	"fmt"

	"athena/internal/yara/ast"
)

// YARA's grammar splits expressions in two: boolean ones (true, $a, for,
// of, comparisons, and/or/not) and primary ones (numbers, strings,
// identifiers, arithmetic). Arithmetic and comparisons take only primary
// operands, so `true == true` and `$a + 1` are syntax errors, while and, or
// and not take either. The parser tracks the class of each subexpression.
type class int

const (
	classPrimary class = iota
	classBool
)

// binaryLevels are the primary binary operators, loosest first.
var binaryLevels = [][]string{
	{"|"},
	{"^"},
	{"&"},
	{"<<", ">>"},
	{"+", "-"},
	{"*", "\\", "%"},
}

// comparisons take two primary operands and give a boolean.
var comparisons = map[string]bool{
	"<": true, "<=": true, ">": true, ">=": true, "==": true, "!=": true,
	"contains": true, "icontains": true, "startswith": true, "istartswith": true,
	"endswith": true, "iendswith": true, "iequals": true,
}

var dataReads = map[string]ast.DataRead{
	"int8": {Size: 1, Signed: true}, "int16": {Size: 2, Signed: true}, "int32": {Size: 4, Signed: true},
	"uint8": {Size: 1}, "uint16": {Size: 2}, "uint32": {Size: 4},
	"int8be": {Size: 1, Signed: true, BigEndian: true}, "int16be": {Size: 2, Signed: true, BigEndian: true},
	"int32be": {Size: 4, Signed: true, BigEndian: true},
	"uint8be": {Size: 1, BigEndian: true}, "uint16be": {Size: 2, BigEndian: true}, "uint32be": {Size: 4, BigEndian: true},
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxExprDepth {
		p.errorAt(p.tok.pos, "expression nested too deeply")
		panic(bailout{})
	}
}

func (p *parser) leave() { p.depth-- }

// expr parses a boolean expression: or is loosest, then and, then not.
func (p *parser) expr() ast.Expr {
	x, _ := p.orExpr()
	return x
}

func (p *parser) orExpr() (ast.Expr, class) {
	x, c := p.andExpr()
	for p.is("or") {
		op := p.tok
		p.next()
		y, _ := p.andExpr()
		x, c = &ast.Binary{Pos: op.pos, Op: "or", X: x, Y: y}, classBool
	}
	return x, c
}

func (p *parser) andExpr() (ast.Expr, class) {
	x, c := p.notExpr()
	for p.is("and") {
		op := p.tok
		p.next()
		y, _ := p.notExpr()
		x, c = &ast.Binary{Pos: op.pos, Op: "and", X: x, Y: y}, classBool
	}
	return x, c
}

func (p *parser) notExpr() (ast.Expr, class) {
	if p.is("not") || p.is("defined") {
		p.enter()
		defer p.leave()
		op := p.tok
		p.next()
		x, _ := p.notExpr()
		return &ast.Unary{Pos: op.pos, Op: op.text, X: x}, classBool
	}
	return p.boolAtom()
}

// boolAtom parses the expressions that are boolean by form, or a primary
// expression with an optional comparison or `of` after it.
func (p *parser) boolAtom() (ast.Expr, class) {
	t := p.tok
	switch {
	case p.is("true") || p.is("false"):
		p.next()
		return &ast.BoolLit{Pos: t.pos, Value: t.text == "true"}, classBool
	case t.kind == kStrID:
		p.next()
		p.useString(t.pos, t.text)
		switch {
		case p.is("at"):
			p.next()
			return &ast.StringAt{Pos: t.pos, ID: t.text, Offset: p.primary()}, classBool
		case p.is("in"):
			p.next()
			return &ast.StringIn{Pos: t.pos, ID: t.text, Range: p.rangeExpr()}, classBool
		}
		return &ast.StringMatch{Pos: t.pos, ID: t.text}, classBool
	case p.is("for"):
		return p.forExpr(), classBool
	case p.is("all") || p.is("any") || p.is("none"):
		q := p.quantifier()
		return p.of(t.pos, q), classBool
	}
	x, c := p.binary(0)
	if c != classPrimary {
		return x, c
	}
	switch op := p.tok; {
	case op.kind == kKeyword && op.text == "matches":
		p.next()
		re := p.expectKind(kRegex, "regular expression")
		return &ast.Binary{Pos: op.pos, Op: "matches", X: x, Y: &ast.RegexLit{Pos: re.pos, Regex: re.re}}, classBool
	case (op.kind == kKeyword || op.kind == kPunct) && comparisons[op.text]:
		p.next()
		y := p.primary()
		return &ast.Binary{Pos: op.pos, Op: op.text, X: x, Y: y}, classBool
	case p.is("of"):
		return p.of(t.pos, ast.Quantifier{Kind: ast.QuantExpr, N: x}), classBool
	case p.is("%"):
		// binary stops before `% of`.
		if n, ok := x.(*ast.IntLit); ok && (n.Value < 1 || n.Value > 100) {
			p.errorAt(n.Pos, "percentage must be between 1 and 100 (inclusive)")
		}
		p.next()
		return p.of(t.pos, ast.Quantifier{Kind: ast.QuantPercent, N: x}), classBool
	}
	return x, classPrimary
}

// primary parses an expression that must be primary.
func (p *parser) primary() ast.Expr {
	t := p.tok
	x, c := p.binary(0)
	if c != classPrimary {
		p.syntaxError(t, "")
	}
	return x
}

// binary parses primary binary operators from binaryLevels[level] down.
func (p *parser) binary(level int) (ast.Expr, class) {
	if level == len(binaryLevels) {
		return p.unary()
	}
	x, c := p.binary(level + 1)
	for {
		op := p.tok
		if op.kind != kPunct || !contains(binaryLevels[level], op.text) {
			return x, c
		}
		if op.text == "%" {
			if n := p.peek(); n.kind == kKeyword && n.text == "of" {
				return x, c
			}
		}
		if c != classPrimary {
			p.syntaxError(op, "")
		}
		p.next()
		yt := p.tok
		y, yc := p.binary(level + 1)
		if yc != classPrimary {
			p.syntaxError(yt, "")
		}
		x = &ast.Binary{Pos: op.pos, Op: op.text, X: x, Y: y}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (p *parser) unary() (ast.Expr, class) {
	if p.is("-") || p.is("~") {
		p.enter()
		defer p.leave()
		op := p.tok
		p.next()
		return &ast.Unary{Pos: op.pos, Op: op.text, X: p.unaryOperand()}, classPrimary
	}
	return p.operand()
}

func (p *parser) unaryOperand() ast.Expr {
	t := p.tok
	x, c := p.unary()
	if c != classPrimary {
		p.syntaxError(t, "")
	}
	return x
}

// operand parses literals, string counts, offsets and lengths, data reads,
// identifier chains and parenthesised expressions.
func (p *parser) operand() (ast.Expr, class) {
	t := p.tok
	switch t.kind {
	case kInt:
		p.next()
		return &ast.IntLit{Pos: t.pos, Value: t.i}, classPrimary
	case kFloat:
		p.next()
		return &ast.FloatLit{Pos: t.pos, Value: t.f}, classPrimary
	case kText:
		p.next()
		return &ast.StringLit{Pos: t.pos, Value: t.b}, classPrimary
	case kRegex:
		p.next()
		return &ast.RegexLit{Pos: t.pos, Regex: t.re}, classPrimary
	case kStrCount:
		p.next()
		p.useString(t.pos, t.text)
		x := &ast.StringCount{Pos: t.pos, ID: t.text}
		if p.is("in") {
			p.next()
			r := p.rangeExpr()
			x.In = &r
		}
		return x, classPrimary
	case kStrOff, kStrLen:
		p.next()
		p.useString(t.pos, t.text)
		var index ast.Expr
		if p.is("[") {
			p.next()
			index = p.primary()
			p.expect("]")
		}
		if t.kind == kStrOff {
			return &ast.StringOffset{Pos: t.pos, ID: t.text, Index: index}, classPrimary
		}
		return &ast.StringLength{Pos: t.pos, ID: t.text, Index: index}, classPrimary
	case kIdent:
		return p.identifier(), classPrimary
	case kKeyword:
		switch t.text {
		case "filesize":
			p.next()
			return &ast.Filesize{Pos: t.pos}, classPrimary
		case "entrypoint":
			p.next()
			return &ast.Entrypoint{Pos: t.pos}, classPrimary
		}
		if d, ok := dataReads[t.text]; ok {
			p.next()
			p.expect("(")
			d.Pos, d.Offset = t.pos, p.primary()
			p.expect(")")
			return &d, classPrimary
		}
	case kPunct:
		if t.text == "(" {
			p.enter()
			defer p.leave()
			p.next()
			x, c := p.orExpr()
			p.expect(")")
			return x, c
		}
	}
	p.syntaxError(t, "")
	return nil, 0
}

// identifier parses name, then any .field, [index] and (args).
func (p *parser) identifier() ast.Expr {
	t := p.expectKind(kIdent, "identifier")
	var x ast.Expr = &ast.Ident{Pos: t.pos, Name: t.text}
	for {
		switch {
		case p.is("."):
			p.next()
			name := p.expectKind(kIdent, "identifier")
			x = &ast.Field{Pos: name.pos, X: x, Name: name.text}
		case p.is("["):
			op := p.tok
			p.enter()
			p.next()
			i := p.primary()
			p.expect("]")
			p.leave()
			x = &ast.Index{Pos: op.pos, X: x, Index: i}
		case p.is("("):
			op := p.tok
			p.enter()
			p.next()
			call := &ast.Call{Pos: op.pos, Fn: x}
			if !p.is(")") {
				call.Args = append(call.Args, p.expr())
				for p.is(",") {
					p.next()
					call.Args = append(call.Args, p.expr())
				}
			}
			p.expect(")")
			p.leave()
			x = call
		default:
			return x
		}
	}
}

// rangeExpr parses `(lo..hi)`.
func (p *parser) rangeExpr() ast.Range {
	p.expect("(")
	lo := p.primary()
	p.expect("..")
	hi := p.primary()
	p.expect(")")
	return ast.Range{Lo: lo, Hi: hi}
}

// quantifier parses all, any, none or a primary expression N (not N%,
// which only `of` takes and boolAtom handles).
func (p *parser) quantifier() ast.Quantifier {
	switch {
	case p.is("all"):
		p.next()
		return ast.Quantifier{Kind: ast.QuantAll}
	case p.is("any"):
		p.next()
		return ast.Quantifier{Kind: ast.QuantAny}
	case p.is("none"):
		p.next()
		return ast.Quantifier{Kind: ast.QuantNone}
	}
	return ast.Quantifier{Kind: ast.QuantExpr, N: p.primary()}
}

// of parses `of set [in range | at offset]`, the quantifier already read.
func (p *parser) of(pos ast.Pos, q ast.Quantifier) ast.Expr {
	p.expect("of")
	x := &ast.Of{Pos: pos, Quant: q, Set: p.set_()}
	switch {
	case p.is("in"):
		if len(x.Set.Rules) > 0 {
			p.syntaxError(p.tok, "")
		}
		p.next()
		r := p.rangeExpr()
		x.In = &r
	case p.is("at"):
		if len(x.Set.Rules) > 0 {
			p.syntaxError(p.tok, "")
		}
		p.next()
		x.At = p.primary()
	}
	return x
}

// set_ parses `them`, `($a, $b*)` or `(rule_a, rule_b*)`.
func (p *parser) set_() ast.Set {
	if p.is("them") {
		t := p.tok
		p.next()
		p.useString(t.pos, "$*")
		return ast.Set{Them: true}
	}
	p.expect("(")
	var s ast.Set
	for {
		t := p.tok
		switch {
		case (t.kind == kStrID || t.kind == kStrWild) && s.Rules == nil:
			p.next()
			p.useString(t.pos, t.text)
			s.Strings = append(s.Strings, t.text)
		case t.kind == kIdent && s.Strings == nil:
			p.next()
			name := t.text
			if p.is("*") && p.tok.pos.Line == t.pos.Line && p.tok.pos.Col == t.pos.Col+len(name) {
				p.next()
				name += "*"
			}
			s.Rules = append(s.Rules, name)
		default:
			p.syntaxError(t, "")
		}
		if !p.is(",") {
			break
		}
		p.next()
	}
	p.expect(")")
	return s
}

// forExpr parses `for quant of set : (body)` and
// `for quant vars in iterable : (body)`.
func (p *parser) forExpr() ast.Expr {
	pos := p.expect("for").pos
	q := p.quantifier()
	if p.is("of") {
		p.next()
		set := p.set_()
		if len(set.Rules) > 0 {
			p.syntaxError(p.tok, "")
		}
		if p.inForOf > 0 {
			p.errorAt(pos, "'for <quantifier> of <string set>' loops can't be nested")
		}
		p.expect(":")
		p.expect("(")
		p.inForOf++
		body := p.expr()
		p.inForOf--
		p.expect(")")
		return &ast.ForOf{Pos: pos, Quant: q, Set: set, Body: body}
	}
	x := &ast.ForIn{Pos: pos, Quant: q}
	outer := len(p.loopVars)
	for {
		v := p.expectKind(kIdent, "identifier")
		if contains(p.loopVars, v.text) {
			p.errorAt(v.pos, fmt.Sprintf("duplicated loop identifier %q", v.text))
		}
		x.Vars = append(x.Vars, v.text)
		p.loopVars = append(p.loopVars, v.text)
		if !p.is(",") {
			break
		}
		p.next()
	}
	p.expect("in")
	x.Iter = p.iterable()
	p.expect(":")
	p.expect("(")
	x.Body = p.expr()
	p.expect(")")
	p.loopVars = p.loopVars[:outer]
	return x
}

// iterable parses `(lo..hi)`, `(e1, e2, ...)` or an identifier chain.
func (p *parser) iterable() ast.Iterable {
	if !p.is("(") {
		return ast.ExprIter{X: p.identifier()}
	}
	p.next()
	first := p.primary()
	if p.is("..") {
		p.next()
		hi := p.primary()
		p.expect(")")
		return ast.RangeIter{Range: ast.Range{Lo: first, Hi: hi}}
	}
	items := []ast.Expr{first}
	for p.is(",") {
		p.next()
		items = append(items, p.primary())
	}
	p.expect(")")
	return ast.ListIter{Items: items}
}
