package parser

import (
	"fmt"
	"strconv"
	"strings"

	"athena/internal/yara/ast"
)

// sexpr prints a rule set compactly, one rule per line, for comparing trees
// in tests.
func sexpr(rs *ast.RuleSet) string {
	var b strings.Builder
	for _, imp := range rs.Imports {
		fmt.Fprintf(&b, "(import %q)\n", imp.Module)
	}
	for _, r := range rs.Rules {
		b.WriteString(sexprRule(r))
		b.WriteByte('\n')
	}
	return b.String()
}

func sexprRule(r *ast.Rule) string {
	parts := []string{"rule", r.Name}
	if r.Global {
		parts = append(parts, "global")
	}
	if r.Private {
		parts = append(parts, "private")
	}
	if len(r.Tags) > 0 {
		parts = append(parts, "(tags "+strings.Join(r.Tags, " ")+")")
	}
	for _, m := range r.Meta {
		v := fmt.Sprint(m.Value)
		if s, ok := m.Value.(string); ok {
			v = strconv.Quote(s)
		}
		parts = append(parts, "(meta "+m.Key+" "+v+")")
	}
	for _, s := range r.Strings {
		parts = append(parts, sexprString(s))
	}
	parts = append(parts, sexprExpr(r.Condition))
	return "(" + strings.Join(parts, " ") + ")"
}

func sexprString(s *ast.String) string {
	var v string
	switch s.Kind {
	case ast.TextString:
		v = strconv.Quote(string(s.Text))
	case ast.HexString:
		v = "{" + sexprHex(s.Hex) + "}"
	case ast.RegexString:
		v = sexprRegex(s.Regex)
	}
	out := s.ID + "=" + v
	m := s.Mods
	for _, f := range []struct {
		on   bool
		name string
	}{{m.Nocase, "nocase"}, {m.Wide, "wide"}, {m.ASCII, "ascii"}, {m.Fullword, "fullword"}, {m.Private, "private"}} {
		if f.on {
			out += " " + f.name
		}
	}
	if m.Xor {
		out += fmt.Sprintf(" xor(%d-%d)", m.XorMin, m.XorMax)
	}
	if m.Base64 {
		out += " base64"
	}
	if m.Base64Wide {
		out += " base64wide"
	}
	if m.Base64Alphabet != nil {
		out += fmt.Sprintf("(%q)", m.Base64Alphabet)
	}
	return "(" + out + ")"
}

func sexprHex(toks []ast.HexToken) string {
	var parts []string
	for _, t := range toks {
		switch t := t.(type) {
		case ast.HexByte:
			s := ""
			if t.Not {
				s = "~"
			}
			for _, sh := range []uint{4, 0} {
				if t.Mask>>sh&0xF == 0 {
					s += "?"
				} else {
					s += fmt.Sprintf("%X", t.Value>>sh&0xF)
				}
			}
			parts = append(parts, s)
		case ast.HexJump:
			if t.Max < 0 {
				parts = append(parts, fmt.Sprintf("[%d-]", t.Min))
			} else {
				parts = append(parts, fmt.Sprintf("[%d-%d]", t.Min, t.Max))
			}
		case ast.HexAlt:
			var alts []string
			for _, a := range t.Alts {
				alts = append(alts, sexprHex(a))
			}
			parts = append(parts, "("+strings.Join(alts, "|")+")")
		}
	}
	return strings.Join(parts, " ")
}

func sexprRegex(r ast.Regex) string {
	s := "/" + r.Source + "/"
	if r.Nocase {
		s += "i"
	}
	if r.DotAll {
		s += "s"
	}
	return s
}

func sexprQuant(q ast.Quantifier) string {
	switch q.Kind {
	case ast.QuantAll:
		return "all"
	case ast.QuantAny:
		return "any"
	case ast.QuantNone:
		return "none"
	case ast.QuantPercent:
		return "(% " + sexprExpr(q.N) + ")"
	}
	return sexprExpr(q.N)
}

func sexprSet(s ast.Set) string {
	switch {
	case s.Them:
		return "them"
	case s.Rules != nil:
		return "(rules " + strings.Join(s.Rules, " ") + ")"
	}
	return "(" + strings.Join(s.Strings, " ") + ")"
}

func sexprRange(r ast.Range) string { return sexprExpr(r.Lo) + " " + sexprExpr(r.Hi) }

func sexprExpr(e ast.Expr) string {
	switch e := e.(type) {
	case nil:
		return "<nil>"
	case *ast.BoolLit:
		return strconv.FormatBool(e.Value)
	case *ast.IntLit:
		return strconv.FormatInt(e.Value, 10)
	case *ast.FloatLit:
		return strconv.FormatFloat(e.Value, 'g', -1, 64)
	case *ast.StringLit:
		return strconv.Quote(string(e.Value))
	case *ast.RegexLit:
		return sexprRegex(e.Regex)
	case *ast.Filesize:
		return "filesize"
	case *ast.Entrypoint:
		return "entrypoint"
	case *ast.Ident:
		return e.Name
	case *ast.Field:
		return "(. " + sexprExpr(e.X) + " " + e.Name + ")"
	case *ast.Index:
		return "([] " + sexprExpr(e.X) + " " + sexprExpr(e.Index) + ")"
	case *ast.Call:
		s := "(call " + sexprExpr(e.Fn)
		for _, a := range e.Args {
			s += " " + sexprExpr(a)
		}
		return s + ")"
	case *ast.Unary:
		return "(" + e.Op + " " + sexprExpr(e.X) + ")"
	case *ast.Binary:
		return "(" + e.Op + " " + sexprExpr(e.X) + " " + sexprExpr(e.Y) + ")"
	case *ast.StringMatch:
		return e.ID
	case *ast.StringCount:
		id := "#" + e.ID[1:]
		if e.In != nil {
			return "(" + id + " in " + sexprRange(*e.In) + ")"
		}
		return id
	case *ast.StringOffset:
		if e.Index != nil {
			return "(@" + e.ID[1:] + " " + sexprExpr(e.Index) + ")"
		}
		return "@" + e.ID[1:]
	case *ast.StringLength:
		if e.Index != nil {
			return "(!" + e.ID[1:] + " " + sexprExpr(e.Index) + ")"
		}
		return "!" + e.ID[1:]
	case *ast.StringAt:
		return "(at " + e.ID + " " + sexprExpr(e.Offset) + ")"
	case *ast.StringIn:
		return "(in " + e.ID + " " + sexprRange(e.Range) + ")"
	case *ast.DataRead:
		name := "int"
		if !e.Signed {
			name = "uint"
		}
		name += strconv.Itoa(e.Size * 8)
		if e.BigEndian {
			name += "be"
		}
		return "(" + name + " " + sexprExpr(e.Offset) + ")"
	case *ast.Of:
		s := "(of " + sexprQuant(e.Quant) + " " + sexprSet(e.Set)
		if e.In != nil {
			s += " in " + sexprRange(*e.In)
		}
		if e.At != nil {
			s += " at " + sexprExpr(e.At)
		}
		return s + ")"
	case *ast.ForOf:
		return "(for " + sexprQuant(e.Quant) + " of " + sexprSet(e.Set) + " " + sexprExpr(e.Body) + ")"
	case *ast.ForIn:
		var it string
		switch i := e.Iter.(type) {
		case ast.RangeIter:
			it = "(range " + sexprRange(i.Range) + ")"
		case ast.ListIter:
			var items []string
			for _, x := range i.Items {
				items = append(items, sexprExpr(x))
			}
			it = "(list " + strings.Join(items, " ") + ")"
		case ast.ExprIter:
			it = sexprExpr(i.X)
		}
		return "(for " + sexprQuant(e.Quant) + " (" + strings.Join(e.Vars, " ") + ") in " + it + " " + sexprExpr(e.Body) + ")"
	}
	return fmt.Sprintf("<%T>", e)
}
