// Package parser reads YARA 4 rule sources into the syntax tree of package
// ast. Besides syntax it makes the checks that need nothing but the source:
// duplicate rules, strings and tags, undefined and unreferenced strings,
// string modifiers, hex string shape and literal ranges. Identifiers (rules,
// modules, loop variables) and types are left to the compiler.
//
// Positions: every node carries the position of its first token, except
// Binary and Unary (the operator), Field (the field name), Index and Call
// (the opening bracket) and the string forms (the $a, #a, @a or !a token).
// Errors point at the offending token.
//
// Parse and ParseFile are safe for concurrent use; each call has its own
// state.
package parser

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"athena/internal/yara/ast"
)

// Options configure Parse.
type Options struct {
	// Include resolves `include "path"` met in file `from`; it returns the
	// included file's name (used in positions) and source. Nil means
	// includes are an error ("includes are disabled").
	Include func(from, path string) (name string, src []byte, err error)
}

const (
	maxIncludeDepth = 16   // nested includes
	maxIncludes     = 1024 // includes in one Parse, so diamonds cannot explode
	maxExprDepth    = 1000 // nested expressions
)

// Parse parses one source named name. It always returns a rule set. On
// errors it also returns an ast.ErrorList holding every error it found, in
// source order within each rule; the rule set then lacks the rules whose
// syntax was broken.
func Parse(name string, src []byte, opts Options) (*ast.RuleSet, error) {
	p := &parser{
		opts:  opts,
		set:   &ast.RuleSet{},
		rules: map[string]bool{},
	}
	p.parseFile(name, src)
	if len(p.errs) > 0 {
		return p.set, ast.ErrorList(p.errs)
	}
	return p.set, nil
}

// ParseFile reads and parses the file at path. Includes are read from disk,
// relative to the directory of the file that includes them. A file it
// cannot read is a plain error, not an ast.ErrorList.
func ParseFile(path string) (*ast.RuleSet, error) {
	path = filepath.Clean(path)
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("parser: %w", err)
	}
	return Parse(path, src, Options{Include: includeFromDisk})
}

func includeFromDisk(from, path string) (string, []byte, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(from), path)
	}
	src, err := os.ReadFile(path)
	return filepath.Clean(path), src, err
}

// bailout unwinds a declaration after a syntax error.
type bailout struct{}

type parser struct {
	opts     Options
	set      *ast.RuleSet
	rules    map[string]bool
	errs     []*ast.Error
	lexErr   bool     // a lexer error was reported in this declaration
	includes []string // files being parsed, outermost first
	nInclude int      // includes done so far

	lex   lexer
	tok   token
	depth int // expression nesting

	// The rule being parsed.
	strs     map[string]*strInfo
	strOrder []*strInfo
	inForOf  int      // nesting of `for ... of` bodies
	loopVars []string // variables of the enclosing `for ... in` loops
}

type strInfo struct {
	s    *ast.String
	used bool
}

func (p *parser) errorAt(pos ast.Pos, msg string) {
	p.errs = append(p.errs, &ast.Error{Pos: pos, Msg: msg})
}

// syntaxError reports an unexpected token and abandons the declaration.
// It stays silent after a lexer error, which has explained the problem.
func (p *parser) syntaxError(t token, expecting string) {
	if !p.lexErr {
		msg := "syntax error, unexpected " + t.String()
		if expecting != "" {
			msg += ", expecting " + expecting
		}
		p.errorAt(t.pos, msg)
	}
	panic(bailout{})
}

func (p *parser) next() { p.tok = p.lex.next() }

// peek returns the token after the current one without consuming it.
func (p *parser) peek() token {
	saved, n, le := p.lex, len(p.errs), p.lexErr
	t := p.lex.next()
	p.lex, p.errs, p.lexErr = saved, p.errs[:n], le
	return t
}

// is says whether the current token is the keyword or punctuation s.
func (p *parser) is(s string) bool {
	return (p.tok.kind == kKeyword || p.tok.kind == kPunct) && p.tok.text == s
}

func (p *parser) expect(s string) token {
	t := p.tok
	if !p.is(s) {
		p.syntaxError(t, strconv.Quote(s))
	}
	p.next()
	return t
}

func (p *parser) expectKind(k tokKind, what string) token {
	t := p.tok
	if t.kind != k {
		p.syntaxError(t, what)
	}
	p.next()
	return t
}

// parseFile parses the declarations of one source, its own or included.
func (p *parser) parseFile(name string, src []byte) {
	p.includes = append(p.includes, name)
	p.lex = lexer{file: name, src: src, line: 1, col: 1, errs: &p.errs, lexErr: &p.lexErr}
	p.lexErr = false
	p.next()
	for p.tok.kind != kEOF {
		p.declaration()
	}
	p.includes = p.includes[:len(p.includes)-1]
}

// declaration parses one import, include or rule; after a syntax error it
// skips to the next declaration keyword.
func (p *parser) declaration() {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			p.depth, p.inForOf, p.loopVars = 0, 0, nil
			for p.tok.kind != kEOF && !(p.tok.kind == kKeyword &&
				(p.tok.text == "rule" || p.tok.text == "import" || p.tok.text == "include")) {
				p.next()
			}
		}
	}()
	p.lexErr = p.tok.bad
	switch {
	case p.is("import"):
		pos := p.tok.pos
		p.next()
		t := p.expectKind(kText, "text string")
		p.set.Imports = append(p.set.Imports, ast.Import{Pos: pos, Module: string(t.b)})
	case p.is("include"):
		p.next()
		t := p.expectKind(kText, "text string")
		p.include(t)
	case p.is("rule") || p.is("private") || p.is("global"):
		p.rule()
	default:
		p.syntaxError(p.tok, "rule, import or include")
	}
}

func (p *parser) include(t token) {
	if p.opts.Include == nil {
		p.errorAt(t.pos, "includes are disabled")
		return
	}
	if len(p.includes) > maxIncludeDepth {
		p.errorAt(t.pos, "too many levels of included rules")
		return
	}
	if p.nInclude++; p.nInclude > maxIncludes {
		p.errorAt(t.pos, "too many included files")
		return
	}
	path := string(t.b)
	name, src, err := p.opts.Include(p.includes[len(p.includes)-1], path)
	if err != nil {
		p.errorAt(t.pos, fmt.Sprintf("can't open include file: %s (%v)", path, err))
		return
	}
	for _, n := range p.includes {
		if n == name {
			p.errorAt(t.pos, "includes circular reference")
			return
		}
	}
	savedLex, savedTok := p.lex, p.tok
	p.parseFile(name, src)
	p.lex, p.tok = savedLex, savedTok
}

// rule parses `[private] [global] rule name [: tags] { ... }`.
func (p *parser) rule() {
	r := &ast.Rule{Pos: p.tok.pos}
	firstErr := len(p.errs)
	for p.is("private") || p.is("global") {
		if p.is("private") {
			r.Private = true
		} else {
			r.Global = true
		}
		p.next()
	}
	p.expect("rule")
	name := p.expectKind(kIdent, "identifier")
	r.Name = name.text
	if p.rules[r.Name] {
		p.errorAt(name.pos, fmt.Sprintf("duplicated identifier %q", r.Name))
	}
	p.rules[r.Name] = true
	if p.is(":") {
		p.next()
		seen := map[string]bool{}
		for p.tok.kind == kIdent {
			if seen[p.tok.text] {
				p.errorAt(p.tok.pos, fmt.Sprintf("duplicated tag identifier %q", p.tok.text))
			}
			seen[p.tok.text] = true
			r.Tags = append(r.Tags, p.tok.text)
			p.next()
		}
		if len(r.Tags) == 0 {
			p.syntaxError(p.tok, "identifier")
		}
	}
	p.expect("{")
	p.strs, p.strOrder, p.inForOf, p.loopVars = map[string]*strInfo{}, nil, 0, nil
	if p.is("meta") {
		p.next()
		p.expect(":")
		for p.tok.kind == kIdent {
			r.Meta = append(r.Meta, p.meta())
		}
	}
	if p.is("strings") {
		p.next()
		p.expect(":")
		for p.tok.kind == kStrID {
			r.Strings = append(r.Strings, p.stringDecl())
		}
		if len(r.Strings) == 0 {
			p.syntaxError(p.tok, "string identifier")
		}
	}
	p.expect("condition")
	p.expect(":")
	r.Condition = p.expr()
	p.expect("}")
	if !p.lexErr {
		for _, si := range p.strOrder {
			if !si.used {
				p.errorAt(si.s.Pos, fmt.Sprintf("unreferenced string %q", si.s.ID))
			}
		}
	}
	// Unreferenced strings are found last but come first in the source.
	sort.SliceStable(p.errs[firstErr:], func(i, j int) bool {
		a, b := p.errs[firstErr+i].Pos, p.errs[firstErr+j].Pos
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	p.set.Rules = append(p.set.Rules, r)
}

// meta parses `key = value`.
func (p *parser) meta() ast.Meta {
	m := ast.Meta{Key: p.tok.text}
	p.next()
	p.expect("=")
	t := p.tok
	switch {
	case t.kind == kText:
		m.Value = string(t.b)
	case t.kind == kInt:
		m.Value = t.i
	case p.is("-"):
		p.next()
		m.Value = -p.expectKind(kInt, "number").i
		return m
	case p.is("true") || p.is("false"):
		m.Value = t.text == "true"
	default:
		p.syntaxError(t, "meta value")
	}
	p.next()
	return m
}

// stringDecl parses `$id = value modifiers`.
func (p *parser) stringDecl() *ast.String {
	s := &ast.String{Pos: p.tok.pos, ID: p.tok.text}
	if p.tok.kind == kStrID && s.ID != "$" {
		if _, dup := p.strs[s.ID]; dup {
			p.errorAt(s.Pos, fmt.Sprintf("duplicated string identifier %q", s.ID))
		}
	}
	si := &strInfo{s: s}
	if s.ID != "$" {
		if _, dup := p.strs[s.ID]; !dup {
			p.strs[s.ID] = si
		}
	}
	p.strOrder = append(p.strOrder, si)
	p.next()
	if !p.is("=") {
		p.syntaxError(p.tok, `"="`)
	}
	// The value is scanned here: a '{' after '=' opens a hex string, which
	// the ordinary lexer does not know.
	p.lex.skipSpace()
	if p.lex.peekByte(0) == '{' {
		s.Kind = ast.HexString
		s.Hex = p.hexString(s.ID)
		p.next()
	} else {
		p.next()
		switch p.tok.kind {
		case kText:
			s.Kind = ast.TextString
			s.Text = p.tok.b
			if len(s.Text) == 0 && p.tok.i == 1 {
				p.errorAt(s.Pos, fmt.Sprintf("empty string %q", s.ID))
			}
		case kRegex:
			s.Kind = ast.RegexString
			s.Regex = p.tok.re
			if s.Regex.Source == "" {
				p.errorAt(p.tok.pos, "empty regular expression")
			}
		default:
			p.syntaxError(p.tok, "text string, hex string or regular expression")
		}
		p.next()
	}
	p.modifiers(s)
	return s
}

// modifierNames are the string modifier keywords.
var modifierNames = map[string]bool{
	"nocase": true, "wide": true, "ascii": true, "fullword": true, "private": true,
	"xor": true, "base64": true, "base64wide": true,
}

// modifiers parses a string's modifiers and checks they fit its kind and
// each other.
func (p *parser) modifiers(s *ast.String) {
	m := &s.Mods
	seen := map[string]ast.Pos{}
	var order []string
	for p.tok.kind == kKeyword && modifierNames[p.tok.text] {
		t := p.tok
		if _, dup := seen[t.text]; dup {
			p.errorAt(t.pos, "duplicated modifier")
		}
		seen[t.text] = t.pos
		order = append(order, t.text)
		p.next()
		switch t.text {
		case "nocase":
			m.Nocase = true
		case "wide":
			m.Wide = true
		case "ascii":
			m.ASCII = true
		case "fullword":
			m.Fullword = true
		case "private":
			m.Private = true
		case "xor":
			m.Xor, m.XorMin, m.XorMax = true, 0, 255
			if p.is("(") {
				p.xorRange(m)
			}
		case "base64", "base64wide":
			if t.text == "base64" {
				m.Base64 = true
			} else {
				m.Base64Wide = true
			}
			if p.is("(") {
				p.next()
				a := p.expectKind(kText, "text string")
				p.expect(")")
				if len(a.b) != 64 {
					p.errorAt(a.pos, "length of base64 alphabet must be 64")
				} else if m.Base64Alphabet != nil && string(m.Base64Alphabet) != string(a.b) {
					p.errorAt(a.pos, "can not specify multiple alphabets")
				} else {
					m.Base64Alphabet = a.b
				}
			}
		}
	}
	switch s.Kind {
	case ast.HexString:
		for _, name := range order {
			if name != "private" {
				p.errorAt(seen[name], fmt.Sprintf("modifier %q not allowed on hex strings", name))
			}
		}
	case ast.RegexString:
		for _, name := range order {
			if name == "xor" || name == "base64" || name == "base64wide" {
				p.errorAt(seen[name], fmt.Sprintf("modifier %q not allowed on regular expressions", name))
			}
		}
	default:
		conflicts := [][2]string{
			{"xor", "nocase"},
			{"base64", "nocase"}, {"base64", "xor"}, {"base64", "fullword"},
			{"base64wide", "nocase"}, {"base64wide", "xor"}, {"base64wide", "fullword"},
		}
		for _, c := range conflicts {
			pa, okA := seen[c[0]]
			pb, okB := seen[c[1]]
			if okA && okB {
				at := pa
				if pb.Line > pa.Line || pb.Line == pa.Line && pb.Col > pa.Col {
					at = pb
				}
				p.errorAt(at, "invalid modifier combination: "+c[0]+" "+c[1])
				break
			}
		}
	}
}

// xorRange parses `(n)` or `(lo-hi)` after xor.
func (p *parser) xorRange(m *ast.Modifiers) {
	p.next()
	lo := p.expectKind(kInt, "number")
	if p.is(")") {
		p.next()
		if lo.i < 0 || lo.i > 255 {
			p.errorAt(lo.pos, "invalid xor range")
			return
		}
		m.XorMin, m.XorMax = int(lo.i), int(lo.i)
		return
	}
	p.expect("-")
	hi := p.expectKind(kInt, "number")
	p.expect(")")
	switch {
	case lo.i > 255:
		p.errorAt(lo.pos, "lower bound for xor range exceeded (max: 255)")
	case hi.i > 255:
		p.errorAt(hi.pos, "upper bound for xor range exceeded (max: 255)")
	case lo.i > hi.i:
		p.errorAt(lo.pos, "xor lower bound exceeds upper bound")
	default:
		m.XorMin, m.XorMax = int(lo.i), int(hi.i)
	}
}

// useString marks the strings a reference names as used, reporting
// references to none. id is "$name", "$prefix*" or "$" (anonymous).
func (p *parser) useString(pos ast.Pos, id string) {
	switch {
	case id == "$":
		if p.inForOf == 0 {
			p.errorAt(pos, "wrong use of anonymous string")
		}
	case strings.HasSuffix(id, "*"):
		prefix, found := strings.TrimSuffix(id, "*"), false
		for _, si := range p.strOrder {
			if strings.HasPrefix(si.s.ID, prefix) {
				si.used, found = true, true
			}
		}
		if !found {
			p.errorAt(pos, fmt.Sprintf("undefined string %q", id))
		}
	default:
		si, ok := p.strs[id]
		if !ok {
			p.errorAt(pos, fmt.Sprintf("undefined string %q", id))
			return
		}
		si.used = true
	}
}
