package parser

import (
	"strconv"

	"athena/internal/yara/ast"
)

const (
	maxHexDepth = 64        // nesting of alternatives in a hex string
	maxAltJump  = 200       // longest jump allowed inside an alternative
	maxJump     = 1<<31 - 1 // longer jumps are clamped to this
)

// hexError is a problem inside a hex string; hexString turns it into
// `invalid hex string "$a": msg`.
type hexError struct {
	pos ast.Pos
	msg string
}

// hexString scans a hex string at the lexer's '{' and returns its tokens.
// On an error it reports it, skips to the closing '}' and returns nil.
func (p *parser) hexString(id string) []ast.HexToken {
	l := &p.lex
	start := l.pos()
	l.advance(1) // {
	toks, herr := p.hexTokens(0)
	if herr == nil && len(toks) == 0 {
		herr = &hexError{l.pos(), "syntax error"}
	}
	if herr == nil {
		l.hexSpace()
		switch {
		case l.peekByte(0) == '}':
			l.advance(1)
		case l.off >= len(l.src):
			herr = &hexError{start, "unterminated hex string"}
		default:
			herr = &hexError{l.pos(), "syntax error"}
		}
	}
	if herr != nil {
		p.errorAt(herr.pos, "invalid hex string "+strconv.Quote(id)+": "+herr.msg)
		for l.off < len(l.src) && l.src[l.off] != '}' {
			l.advance(1)
		}
		l.advance(1)
		return nil
	}
	return toks
}

// hexSpace skips blanks and comments inside a hex string.
func (l *lexer) hexSpace() {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.advance(1)
		case c == '/' && l.peekByte(1) == '/':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance(1)
			}
		case c == '/' && l.peekByte(1) == '*':
			l.advance(2)
			for l.off < len(l.src) && !(l.src[l.off] == '*' && l.peekByte(1) == '/') {
				l.advance(1)
			}
			l.advance(2)
		default:
			return
		}
	}
}

// hexTokens scans a sequence up to (not including) '}', '|' or ')'. The
// sequence must begin and end with a byte or an alternative; depth > 0
// means inside an alternative, where jumps must be bounded.
func (p *parser) hexTokens(depth int) ([]ast.HexToken, *hexError) {
	l := &p.lex
	var toks []ast.HexToken
	lastJump := false
	var lastPos ast.Pos
	for {
		l.hexSpace()
		pos := l.pos()
		c := l.peekByte(0)
		if l.off >= len(l.src) || c == '}' || c == '|' || c == ')' {
			break
		}
		switch {
		case c == '[':
			if len(toks) == 0 {
				return nil, &hexError{pos, "syntax error"}
			}
			j, err := l.hexJump()
			if err != nil {
				return nil, err
			}
			switch {
			case depth > 0 && j.Max < 0:
				return nil, &hexError{pos, "unbounded jumps not allowed inside alternation (|)"}
			case depth > 0 && j.Max > maxAltJump:
				return nil, &hexError{pos, "jumps over 200 not allowed inside alternation (|)"}
			}
			toks = append(toks, j)
			lastJump, lastPos = true, pos
			continue
		case c == '(':
			if depth+1 > maxHexDepth {
				return nil, &hexError{pos, "alternatives nested too deeply"}
			}
			l.advance(1)
			alt := ast.HexAlt{}
			for {
				seq, err := p.hexTokens(depth + 1)
				if err != nil {
					return nil, err
				}
				if len(seq) == 0 {
					return nil, &hexError{l.pos(), "syntax error"}
				}
				alt.Alts = append(alt.Alts, seq)
				if l.peekByte(0) == '|' {
					l.advance(1)
					continue
				}
				if l.peekByte(0) != ')' {
					return nil, &hexError{l.pos(), "syntax error"}
				}
				l.advance(1)
				break
			}
			toks = append(toks, alt)
		default:
			b, err := l.hexByte()
			if err != nil {
				return nil, err
			}
			toks = append(toks, b)
		}
		lastJump = false
	}
	if lastJump {
		return nil, &hexError{lastPos, "syntax error"}
	}
	return toks, nil
}

// hexByte scans `4D`, `4?`, `?D`, `??` or, with `~` before, their negation.
func (l *lexer) hexByte() (ast.HexByte, *hexError) {
	pos := l.pos()
	var b ast.HexByte
	if l.peekByte(0) == '~' {
		b.Not = true
		l.advance(1)
		l.hexSpace()
	}
	nibble := func(c byte) (v, mask byte, ok bool) {
		switch {
		case c == '?':
			return 0, 0, true
		case isHex(c):
			n, _ := strconv.ParseUint(string(c), 16, 8)
			return byte(n), 0xF, true
		}
		return 0, 0, false
	}
	hi, hm, ok1 := nibble(l.peekByte(0))
	if !ok1 || l.off >= len(l.src) {
		return b, &hexError{l.pos(), "syntax error"}
	}
	lo, lm, ok2 := nibble(l.peekByte(1))
	if !ok2 || l.off+1 >= len(l.src) {
		l.advance(1)
		return b, &hexError{pos, "uneven number of digits in hex string"}
	}
	l.advance(2)
	b.Value, b.Mask = hi<<4|lo, hm<<4|lm
	if b.Not && b.Mask == 0 {
		return b, &hexError{pos, "~?? is not allowed"}
	}
	return b, nil
}

// hexJump scans `[n]`, `[n-m]`, `[n-]` or `[-]`.
func (l *lexer) hexJump() (ast.HexJump, *hexError) {
	pos := l.pos()
	l.advance(1) // [
	num := func() (int, bool) {
		l.hexSpace()
		start := l.off
		v := 0
		for l.off < len(l.src) && isDigit(l.src[l.off]) {
			if d := int(l.src[l.off] - '0'); v <= (maxJump-d)/10 {
				v = v*10 + d
			} else {
				v = maxJump
			}
			l.advance(1)
		}
		return v, l.off > start
	}
	lo, hasLo := num()
	l.hexSpace()
	j := ast.HexJump{Min: lo, Max: lo}
	single := true
	if l.peekByte(0) == '-' {
		single = false
		l.advance(1)
		hi, hasHi := num()
		j.Max = -1
		if hasHi {
			if !hasLo {
				return j, &hexError{pos, "syntax error"}
			}
			j.Max = hi
		}
	} else if !hasLo {
		return j, &hexError{l.pos(), "syntax error"}
	}
	l.hexSpace()
	if l.peekByte(0) != ']' {
		return j, &hexError{l.pos(), "syntax error"}
	}
	l.advance(1)
	switch {
	case single && j.Min == 0:
		return j, &hexError{pos, "invalid jump length"}
	case j.Max >= 0 && j.Min > j.Max:
		return j, &hexError{pos, "invalid jump range"}
	}
	return j, nil
}
