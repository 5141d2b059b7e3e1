package parser

import (
	"strconv"
	"strings"

	"athena/internal/yara/ast"
)

// tokKind classifies a token. Keywords and punctuation share kKeyword and
// kPunct and are told apart by their text.
type tokKind int

const (
	kEOF      tokKind = iota
	kIdent            // foo
	kKeyword          // rule, and, them, ...
	kPunct            // ( ) == .. ...
	kStrID            // $a, $
	kStrWild          // $a*, $*
	kStrCount         // #a, #
	kStrOff           // @a, @
	kStrLen           // !a, !
	kInt              // 12, 0x1f, 0o17, 2KB
	kFloat            // 1.5
	kText             // "text"
	kRegex            // /re/is
	kInvalid          // a byte that starts no token
)

type token struct {
	kind tokKind
	pos  ast.Pos
	text string // source text; for kText and kRegex see val fields
	i    int64
	f    float64
	b    []byte    // kText: the value, escapes resolved
	re   ast.Regex // kRegex
	bad  bool      // the lexer reported an error while scanning it
}

func (t token) String() string {
	switch t.kind {
	case kEOF:
		return "end of file"
	case kText:
		return "text string"
	case kRegex:
		return "regular expression"
	case kIdent:
		return "identifier " + strconv.Quote(t.text)
	case kInt, kFloat:
		return "number " + t.text
	}
	return strconv.Quote(t.text)
}

var keywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`all and any ascii at base64 base64wide condition
		contains defined endswith entrypoint false filesize for fullword global
		icontains iendswith iequals import in include int16 int16be int32 int32be
		int8 int8be istartswith matches meta nocase none not of or private rule
		startswith strings them true uint16 uint16be uint32 uint32be uint8 uint8be
		wide xor`) {
		keywords[k] = true
	}
}

// lexer turns a source into tokens. It is a plain value: copying it saves
// its position, which the parser uses to look one token further ahead.
type lexer struct {
	file      string
	src       []byte
	off       int
	line, col int // of src[off]
	errs      *[]*ast.Error
	lexErr    *bool // set when the lexer reports an error
}

func (l *lexer) pos() ast.Pos { return ast.Pos{File: l.file, Line: l.line, Col: l.col} }

func (l *lexer) errorf(pos ast.Pos, msg string) {
	*l.errs = append(*l.errs, &ast.Error{Pos: pos, Msg: msg})
	*l.lexErr = true
}

func (l *lexer) peekByte(n int) byte {
	if l.off+n < len(l.src) {
		return l.src[l.off+n]
	}
	return 0
}

func (l *lexer) advance(n int) {
	for ; n > 0 && l.off < len(l.src); n-- {
		if l.src[l.off] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.off++
	}
}

// skipSpace skips blanks and comments. An unterminated block comment is an
// error reported at its start.
func (l *lexer) skipSpace() {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.advance(1)
		case c == '/' && l.peekByte(1) == '/':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance(1)
			}
		case c == '/' && l.peekByte(1) == '*':
			start := l.pos()
			l.advance(2)
			for {
				if l.off >= len(l.src) {
					l.errorf(start, "unterminated comment")
					return
				}
				if l.src[l.off] == '*' && l.peekByte(1) == '/' {
					l.advance(2)
					break
				}
				l.advance(1)
			}
		default:
			return
		}
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool  { return isLetter(c) || isDigit(c) }
func isHex(c byte) bool    { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// multiOps are the two-byte punctuation.
var multiOps = []string{"<<", ">>", "<=", ">=", "==", "!=", ".."}

// next scans one token.
func (l *lexer) next() token {
	n := len(*l.errs)
	t := l.scan()
	t.bad = len(*l.errs) > n
	return t
}

func (l *lexer) scan() token {
	l.skipSpace()
	pos := l.pos()
	if l.off >= len(l.src) {
		return token{kind: kEOF, pos: pos}
	}
	start := l.off
	c := l.src[l.off]
	switch {
	case isLetter(c):
		for l.off < len(l.src) && isAlnum(l.src[l.off]) {
			l.advance(1)
		}
		text := string(l.src[start:l.off])
		if keywords[text] {
			return token{kind: kKeyword, pos: pos, text: text}
		}
		if len(text) > 128 {
			l.errorf(pos, "identifier too long")
		}
		return token{kind: kIdent, pos: pos, text: text}
	case isDigit(c):
		return l.number(pos)
	case c == '"':
		b, ok := l.text(pos)
		return token{kind: kText, pos: pos, text: string(l.src[start:l.off]), b: b, i: boolInt(ok)}
	case c == '/':
		return l.regex(pos)
	case c == '$' || c == '#' || c == '@' || (c == '!' && l.peekByte(1) != '='):
		l.advance(1)
		for l.off < len(l.src) && isAlnum(l.src[l.off]) {
			l.advance(1)
		}
		kind := map[byte]tokKind{'$': kStrID, '#': kStrCount, '@': kStrOff, '!': kStrLen}[c]
		if c == '$' && l.peekByte(0) == '*' {
			l.advance(1)
			kind = kStrWild
		}
		return token{kind: kind, pos: pos, text: "$" + string(l.src[start+1:l.off])}
	}
	for _, op := range multiOps {
		if strings.HasPrefix(string(l.src[l.off:min(l.off+2, len(l.src))]), op) {
			l.advance(2)
			return token{kind: kPunct, pos: pos, text: op}
		}
	}
	if strings.IndexByte("(){}[]:=,.<>+-*\\%&|^~", c) >= 0 {
		l.advance(1)
		return token{kind: kPunct, pos: pos, text: string(c)}
	}
	l.advance(1)
	if c >= 0x80 {
		l.errorf(pos, "non-ascii character")
	}
	return token{kind: kInvalid, pos: pos, text: string(c)}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// number scans an integer or a float literal.
func (l *lexer) number(pos ast.Pos) token {
	start := l.off
	tok := token{kind: kInt, pos: pos}
	var v uint64
	overflow := false
	base := 10
	switch {
	case l.src[l.off] == '0' && (l.peekByte(1) == 'x' || l.peekByte(1) == 'X') && isHex(l.peekByte(2)):
		base = 16
		l.advance(2)
	case l.src[l.off] == '0' && l.peekByte(1) == 'o' && l.peekByte(2) >= '0' && l.peekByte(2) <= '7':
		base = 8
		l.advance(2)
	}
	for l.off < len(l.src) {
		c := l.src[l.off]
		var d uint64
		switch {
		case isDigit(c) && int(c-'0') < base:
			d = uint64(c - '0')
		case base == 16 && isHex(c):
			d = uint64(c|0x20-'a') + 10
		default:
			goto done
		}
		if v > (1<<63-1-d)/uint64(base) {
			overflow = true
		} else {
			v = v*uint64(base) + d
		}
		l.advance(1)
	}
done:
	if base == 10 && l.peekByte(0) == '.' && isDigit(l.peekByte(1)) {
		l.advance(1)
		for l.off < len(l.src) && isDigit(l.src[l.off]) {
			l.advance(1)
		}
		tok.kind = kFloat
		tok.text = string(l.src[start:l.off])
		tok.f, _ = strconv.ParseFloat(tok.text, 64)
		return tok
	}
	if base == 10 && (l.peekByte(0) == 'K' || l.peekByte(0) == 'M') && l.peekByte(1) == 'B' {
		mul := uint64(1024)
		if l.peekByte(0) == 'M' {
			mul = 1024 * 1024
		}
		l.advance(2)
		if v > (1<<63-1)/mul {
			overflow = true
		}
		v *= mul
	}
	tok.text = string(l.src[start:l.off])
	if overflow {
		l.errorf(pos, "integer overflow in "+strconv.Quote(tok.text))
		v = 0
	}
	tok.i = int64(v)
	return tok
}

// text scans a quoted string starting at the opening quote and returns its
// value with escapes resolved; ok is false when it reported an error.
func (l *lexer) text(pos ast.Pos) (b []byte, ok bool) {
	ok = true
	l.advance(1)
	b = []byte{}
	for {
		if l.off >= len(l.src) || l.src[l.off] == '\n' {
			l.errorf(pos, "unterminated string")
			return b, false
		}
		c := l.src[l.off]
		switch c {
		case '"':
			l.advance(1)
			return b, ok
		case '\\':
			epos := l.pos()
			switch e := l.peekByte(1); e {
			case '"', '\\':
				b = append(b, e)
				l.advance(2)
			case 't':
				b = append(b, '\t')
				l.advance(2)
			case 'n':
				b = append(b, '\n')
				l.advance(2)
			case 'r':
				b = append(b, '\r')
				l.advance(2)
			case 'x':
				if isHex(l.peekByte(2)) && isHex(l.peekByte(3)) {
					v, _ := strconv.ParseUint(string(l.src[l.off+2:l.off+4]), 16, 8)
					b = append(b, byte(v))
					l.advance(4)
					continue
				}
				fallthrough
			default:
				if ok {
					l.errorf(epos, "illegal escape sequence")
				}
				ok = false
				l.advance(1)
			}
		default:
			b = append(b, c)
			l.advance(1)
		}
	}
}

// regex scans /source/flags.
func (l *lexer) regex(pos ast.Pos) token {
	start := l.off
	l.advance(1)
	var src []byte
	for {
		if l.off >= len(l.src) || l.src[l.off] == '\n' {
			l.errorf(pos, "unterminated regular expression")
			return token{kind: kRegex, pos: pos, text: string(l.src[start:l.off]), re: ast.Regex{Source: string(src)}}
		}
		c := l.src[l.off]
		if c == '/' {
			l.advance(1)
			break
		}
		if c == '\\' && l.off+1 < len(l.src) && l.src[l.off+1] != '\n' {
			src = append(src, c, l.src[l.off+1])
			l.advance(2)
			continue
		}
		src = append(src, c)
		l.advance(1)
	}
	re := ast.Regex{Source: string(src)}
	if l.peekByte(0) == 'i' {
		re.Nocase = true
		l.advance(1)
	}
	if l.peekByte(0) == 's' {
		re.DotAll = true
		l.advance(1)
	}
	return token{kind: kRegex, pos: pos, text: string(l.src[start:l.off]), re: re}
}
