// Package compile type-checks a parsed YARA rule set and turns it into a
// plan.Plan: strings with their modifiers, and conditions as expression
// trees whose every name (string, rule, module field, loop variable) is
// resolved to an index.
package compile

import (
	"fmt"
	"strings"

	"athena/internal/yara/ast"
	"athena/internal/yara/object"
	"athena/internal/yara/plan"
)

// Options configure Compile. Globals and externals are out of scope for now.
type Options struct{}

// Compile type-checks rs and builds its plan. Errors are an ast.ErrorList,
// each "file:line:col: message", in source order.
func Compile(rs *ast.RuleSet, opts Options) (*plan.Plan, error) {
	c := &compiler{
		p:       &plan.Plan{},
		rules:   map[string]int{},
		modules: map[string]*object.Module{},
	}
	for _, im := range rs.Imports {
		m, ok := lookupModule(im.Module)
		if !ok {
			c.errorf(im.Pos, "unknown module %q", im.Module)
			continue
		}
		if _, dup := c.modules[im.Module]; !dup {
			c.modules[im.Module] = m
			c.p.Imports = append(c.p.Imports, im.Module)
		}
	}
	for _, r := range rs.Rules {
		c.rule(r)
	}
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	// A global rule anywhere can turn every rule false at the end.
	for _, r := range c.p.RuleList {
		if r.Global {
			for i := range c.p.RuleList {
				c.p.RuleList[i].Early = false
			}
			break
		}
	}
	return c.p, nil
}

type compiler struct {
	p       *plan.Plan
	errs    ast.ErrorList
	rules   map[string]int
	modules map[string]*object.Module

	// Per rule.
	rule_  *ast.Rule
	strIDs map[string]int
	used   []bool
	// refs counts each string's references, and at its `$a at N`
	// references with a constant N, to find the Fixed strings.
	refs    []int
	at      []atRefs
	scopes  []map[string]variable
	vars    int
	forOf   int // depth of `for ... of` bodies
	ruleIdx int
	// visiting are the rules whose monotony is being decided.
	visiting map[int]bool
}

type variable struct {
	slot int
	t    typ
}

func (c *compiler) errorf(pos ast.Pos, format string, args ...any) {
	c.errs = append(c.errs, &ast.Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func (c *compiler) rule(r *ast.Rule) {
	if _, dup := c.rules[r.Name]; dup {
		c.errorf(r.Pos, "duplicated identifier %q", r.Name)
		return
	}
	if _, clash := c.modules[r.Name]; clash {
		c.errorf(r.Pos, "duplicated identifier %q", r.Name)
		return
	}
	c.rule_ = r
	c.ruleIdx = len(c.p.RuleList)
	c.strIDs = map[string]int{}
	c.used = make([]bool, len(r.Strings))
	c.refs = make([]int, len(r.Strings))
	c.at = make([]atRefs, len(r.Strings))
	c.scopes = nil
	c.vars = 0
	c.forOf = 0

	pr := plan.Rule{
		Name:    r.Name,
		Tags:    append([]string(nil), r.Tags...),
		Global:  r.Global,
		Private: r.Private,
		First:   len(c.p.Strings),
		Count:   len(r.Strings),
	}
	for _, m := range r.Meta {
		pr.Meta = append(pr.Meta, plan.Meta{Key: m.Key, Value: m.Value})
	}
	for i, s := range r.Strings {
		if s.ID != "$" {
			if _, dup := c.strIDs[s.ID]; dup {
				c.errorf(s.Pos, "duplicated string identifier %q", s.ID)
			}
			c.strIDs[s.ID] = i
		}
		c.p.Strings = append(c.p.Strings, c.str(s))
	}
	// A rule may name itself (it is false there, as in yara).
	c.rules[r.Name] = c.ruleIdx
	c.p.RuleList = append(c.p.RuleList, plan.Rule{Name: r.Name})
	cond, t := c.expr(r.Condition)
	c.p.RuleList = c.p.RuleList[:c.ruleIdx]
	if cond != nil && !t.boolish() {
		c.errorf(r.Condition.Position(), "condition is a %s, not a boolean", t)
	}
	for i, s := range r.Strings {
		if !c.used[i] && !strings.HasPrefix(s.ID, "$_") {
			c.errorf(s.Pos, "unreferenced string %q", s.ID)
		}
	}
	for i := range r.Strings {
		if a := c.at[i]; a.n > 0 && a.n == c.refs[i] && a.same {
			ps := &c.p.Strings[pr.First+i]
			ps.Flags |= plan.Fixed
			ps.At = a.off
		}
	}
	pr.Cond = cond
	pr.Vars = c.vars
	c.rules[r.Name] = c.ruleIdx
	c.p.RuleList = append(c.p.RuleList, pr)
	c.p.RuleList[c.ruleIdx].Early = c.early(&c.p.RuleList[c.ruleIdx])
}

func (c *compiler) str(s *ast.String) plan.String {
	ps := plan.String{ID: s.ID}
	m := s.Mods
	var f plan.Flags
	set := func(on bool, flag plan.Flags) {
		if on {
			f |= flag
		}
	}
	set(m.Nocase, plan.Nocase)
	set(m.Wide, plan.Wide)
	set(m.ASCII || !m.Wide, plan.ASCII)
	set(m.Fullword, plan.Fullword)
	set(m.Private, plan.Private)
	set(m.Xor, plan.Xor)
	set(m.Base64, plan.Base64)
	set(m.Base64Wide, plan.Base64Wide)
	switch s.Kind {
	case ast.TextString:
		ps.Kind = plan.Text
		ps.Text = append([]byte{}, s.Text...)
		if len(s.Text) == 0 {
			c.errorf(s.Pos, "empty string %q", s.ID)
		}
		if m.Xor {
			ps.XorMin, ps.XorMax = byte(m.XorMin), byte(m.XorMax)
			if m.XorMin > m.XorMax || m.XorMax > 255 || m.XorMin < 0 {
				c.errorf(s.Pos, "invalid xor range")
			}
		}
		if m.Base64 || m.Base64Wide {
			if m.Base64Alphabet != nil {
				if len(m.Base64Alphabet) != 64 {
					c.errorf(s.Pos, "base64 alphabet must be 64 bytes")
				}
				ps.Alphabet = append([]byte{}, m.Base64Alphabet...)
			}
			if len(s.Text) < 3 {
				c.errorf(s.Pos, "base64 string %q must be at least 3 bytes", s.ID)
			}
		}
	case ast.HexString:
		ps.Kind = plan.Hex
		ps.Hex = hexTokens(s.Hex)
	case ast.RegexString:
		ps.Kind = plan.Regex
		ps.Text = []byte(s.Regex.Source)
		set(s.Regex.Nocase, plan.RegexNocase)
		set(s.Regex.DotAll, plan.RegexDotAll)
		if err := checkRegex(s.Regex.Source, s.Regex.Nocase || m.Nocase, s.Regex.DotAll, m.Wide); err != nil {
			c.errorf(s.Pos, "invalid regular expression in %q: %v", s.ID, err)
		}
	}
	ps.Flags = f
	return ps
}

func hexTokens(toks []ast.HexToken) []plan.HexToken {
	out := make([]plan.HexToken, 0, len(toks))
	for _, t := range toks {
		switch t := t.(type) {
		case ast.HexByte:
			out = append(out, plan.HexToken{Kind: plan.HexByte, Value: t.Value, Mask: t.Mask, Not: t.Not})
		case ast.HexJump:
			out = append(out, plan.HexToken{Kind: plan.HexJump, Min: t.Min, Max: t.Max})
		case ast.HexAlt:
			pt := plan.HexToken{Kind: plan.HexAlt}
			for _, a := range t.Alts {
				pt.Alts = append(pt.Alts, hexTokens(a))
			}
			out = append(out, pt)
		}
	}
	return out
}
