package regex

import (
	"errors"
	"fmt"
)

// Errors Compile returns, wrapped with the position where they arose. The
// messages follow yara's own.
var (
	ErrSyntax          = errors.New("syntax error")
	ErrBadRepeat       = errors.New("bad repeat interval")
	ErrRepeatTooLarge  = errors.New("repeat interval too large")
	ErrBadRange        = errors.New("bad character range")
	ErrUnterminatedSet = errors.New("missing terminating ] for character class")
	ErrIllegalEscape   = errors.New("illegal escape sequence")
	ErrBackreference   = errors.New("backreferences are not allowed")
	ErrMixedGreedy     = errors.New("greedy and ungreedy quantifiers can't be mixed in a regular expression")
	ErrEmpty           = errors.New("empty regular expression")
	ErrTooComplex      = errors.New("regular expression is too complex")
)

// maxRepeat is the largest bound yara accepts in {n,m}.
const maxRepeat = 32767

// maxDepth bounds group nesting so that parsing and compiling recurse boundedly.
const maxDepth = 500

type nodeKind uint8

const (
	nSet      nodeKind = iota // one byte out of set
	nEmpty                    // matches the empty string
	nConcat                   // subs in sequence
	nAlt                      // subs in priority order
	nRepeat                   // subs[0] from min to max times (max -1: unbounded)
	nBegin                    // ^: offset 0 of the data
	nEnd                      // $: end of the data
	nWordB                    // \b
	nNotWordB                 // \B
)

type node struct {
	kind     nodeKind
	set      byteSet
	subs     []*node
	min, max int
	greedy   bool
	dot      bool // nSet written as `.`
	braces   bool // nRepeat written {n,m}
	raw      bool // nSet of a chained gap: one byte even with Wide
}

// byteSet is a set of byte values.
type byteSet [4]uint64

func (s *byteSet) add(b byte)      { s[b>>6] |= 1 << (b & 63) }
func (s *byteSet) has(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }
func (s *byteSet) addRange(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s.add(byte(c))
	}
}
func (s *byteSet) union(o byteSet) {
	for i := range s {
		s[i] |= o[i]
	}
}
func (s *byteSet) negate() {
	for i := range s {
		s[i] = ^s[i]
	}
}
func (s *byteSet) count() int {
	n := 0
	for c := 0; c < 256; c++ {
		if s.has(byte(c)) {
			n++
		}
	}
	return n
}

// foldASCII adds the other ASCII case of every letter in s.
func (s *byteSet) foldASCII() {
	for c := byte('a'); c <= 'z'; c++ {
		if s.has(c) || s.has(c-'a'+'A') {
			s.add(c)
			s.add(c - 'a' + 'A')
		}
	}
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// perlSet returns the set for \w \W \s \S \d \D, and false for other letters.
func perlSet(c byte) (byteSet, bool) {
	var s byteSet
	switch c {
	case 'w', 'W':
		for b := 0; b < 256; b++ {
			if isWordByte(byte(b)) {
				s.add(byte(b))
			}
		}
	case 's', 'S':
		s.addRange('\t', '\r') // \t \n \v \f \r
		s.add(' ')
	case 'd', 'D':
		s.addRange('0', '9')
	default:
		return s, false
	}
	if c == 'W' || c == 'S' || c == 'D' {
		s.negate()
	}
	return s, true
}

// simpleEscape maps the letter after a backslash to the byte it stands for
// when it is not a class, an assertion, \x or a backreference: yara knows
// \n \t \r \f \a and takes any other byte literally (\e is "e", \/ is "/").
func simpleEscape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case 'f':
		return '\f'
	case 'a':
		return 7
	}
	return c
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

type parser struct {
	src     string
	pos     int
	flags   Flags
	greedy  bool // saw a greedy quantifier
	lazy    bool // saw a lazy quantifier
	depth   int
	anyByte byteSet // what `.` matches
}

func (p *parser) errorf(err error) error {
	return fmt.Errorf("regex: %w at offset %d", err, p.pos)
}

func parse(src string, f Flags) (*node, int, error) {
	if src == "" {
		return nil, 0, fmt.Errorf("regex: %w", ErrEmpty)
	}
	p := &parser{src: src, flags: f}
	p.anyByte.negate()
	if !f.DotAll {
		p.anyByte[0] &^= 1 << '\n'
	}
	n, err := p.parseAlt()
	if err != nil {
		return nil, 0, err
	}
	if p.pos < len(p.src) { // an unbalanced ')'
		return nil, 0, p.errorf(ErrSyntax)
	}
	if p.greedy && p.lazy {
		return nil, 0, fmt.Errorf("regex: %w", ErrMixedGreedy)
	}
	if splits(n) > maxSplits {
		return nil, 0, fmt.Errorf("regex: %w", ErrTooComplex)
	}
	return n, chainGaps(n), nil
}

// maxSplits is how many split instructions yara's code for one regexp may
// hold (RE_MAX_SPLIT_ID); more is "regular expression is too complex".
const maxSplits = 128

// splits counts the split instructions yara would emit for n, saturating
// above maxSplits. yara emits e{n,m} as up to three copies of e (a prolog, a
// counted repeat and an epilog) plus one split when n < m; * + ? and each
// extra alternative cost one split.
func splits(n *node) int {
	total := 0
	switch n.kind {
	case nConcat, nAlt:
		if n.kind == nAlt {
			total = len(n.subs) - 1
		}
		for _, s := range n.subs {
			total += splits(s)
		}
	case nRepeat:
		body := splits(n.subs[0])
		if !n.braces {
			total = body + 1
			break
		}
		lo, hi := n.min, n.max
		if hi == -1 {
			hi = maxRepeat + 1
		}
		copies := 0
		if lo >= 1 {
			copies++ // prolog
		}
		if lo == hi {
			if lo >= 2 {
				copies++ // epilog
			}
			if lo >= 3 {
				copies++ // repeat
			}
		} else {
			copies++ // epilog, after the split
			if hi-copies > 0 {
				copies++ // repeat
			}
			total = 1
		}
		total += copies * body
	}
	return min(total, maxSplits+1)
}

// chainMaxGap is how far an unbounded chained gap reaches (RE_MAX_RANGE).
const chainMaxGap = 32767

// chainThreshold is the widest lazy `.{n,m}?` gap yara keeps inside one
// string (YR_STRING_CHAINING_THRESHOLD).
const chainThreshold = 200

// chainGaps mimics how yara splits a regexp at a wide lazy gap: a top-level
// `.{n,m}?` (braces: `.*?` and `.+?` are not gaps) with m-n > 200 or no m, with something before and after it,
// separates two "chained" strings, and the bytes between them are not
// checked at all: the gap also matches \n, and with Wide it counts bytes,
// not two-byte characters. Each chained part may be MaxMatch long, so the
// whole match may be longer: chainGaps returns how far a match may reach.
func chainGaps(root *node) (window int) {
	window = MaxMatch
	if root.kind != nConcat {
		return window
	}
	for _, n := range root.subs[1 : len(root.subs)-1] {
		if n.kind == nRepeat && n.braces && !n.greedy && n.subs[0].dot && (n.max == -1 || n.max-n.min > chainThreshold) {
			var all byteSet
			all.negate()
			n.subs[0] = &node{kind: nSet, set: all, dot: true, raw: true}
			if n.max == -1 {
				n.max = max(chainMaxGap, n.min) // one byte a state: cheap to unroll
			}
			window += n.max + MaxMatch
		}
	}
	return window
}

func (p *parser) more() bool { return p.pos < len(p.src) }
func (p *parser) peek() byte { return p.src[p.pos] }

// parseAlt parses alternatives up to an unmatched ')' or the end. The first
// alternative may not be empty, later ones may (yara accepts /a|/ and /a||b/
// but not /|a/).
func (p *parser) parseAlt() (*node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.errorf(ErrTooComplex)
	}
	first, err := p.parseConcat()
	if err != nil {
		return nil, err
	}
	if first.kind == nEmpty {
		return nil, p.errorf(ErrSyntax)
	}
	if !p.more() || p.peek() != '|' {
		return first, nil
	}
	alt := &node{kind: nAlt, subs: []*node{first}}
	for p.more() && p.peek() == '|' {
		p.pos++
		n, err := p.parseConcat()
		if err != nil {
			return nil, err
		}
		alt.subs = append(alt.subs, n)
	}
	return alt, nil
}

func (p *parser) parseConcat() (*node, error) {
	var items []*node
	for p.more() {
		c := p.peek()
		if c == '|' || c == ')' {
			break
		}
		if p.atQuantifier() { // nothing, or another quantifier, to repeat
			return nil, p.errorf(ErrSyntax)
		}
		n, err := p.parseAtom()
		if err != nil {
			return nil, err
		}
		if p.atQuantifier() {
			switch n.kind {
			case nBegin, nEnd, nWordB, nNotWordB:
				return nil, p.errorf(ErrSyntax)
			}
			if n, err = p.parseQuantifier(n); err != nil {
				return nil, err
			}
		}
		items = append(items, n)
	}
	switch len(items) {
	case 0:
		return &node{kind: nEmpty}, nil
	case 1:
		return items[0], nil
	}
	return &node{kind: nConcat, subs: items}, nil
}

// atQuantifier reports whether a quantifier starts at p.pos. A '{' that does
// not open a well-formed interval is a literal.
func (p *parser) atQuantifier() bool {
	if !p.more() {
		return false
	}
	switch p.peek() {
	case '*', '+', '?':
		return true
	case '{':
		_, _, _, ok := p.scanInterval()
		return ok
	}
	return false
}

// scanInterval reads {n} {n,} {,m} {n,m} or {,} at p.pos without consuming
// it. Numbers saturate just above maxRepeat.
func (p *parser) scanInterval() (lo, hi, end int, ok bool) {
	i := p.pos + 1
	num := func() (int, bool) {
		start, v := i, 0
		for i < len(p.src) && '0' <= p.src[i] && p.src[i] <= '9' {
			if v <= maxRepeat {
				v = v*10 + int(p.src[i]-'0')
			}
			i++
		}
		return v, i > start
	}
	lo, hasLo := num()
	if i < len(p.src) && p.src[i] == '}' {
		return lo, lo, i + 1, hasLo
	}
	if i >= len(p.src) || p.src[i] != ',' {
		return 0, 0, 0, false
	}
	i++
	hi, hasHi := num()
	if i >= len(p.src) || p.src[i] != '}' {
		return 0, 0, 0, false
	}
	if !hasHi {
		hi = -1
	}
	return lo, hi, i + 1, true
}

func (p *parser) parseQuantifier(sub *node) (*node, error) {
	n := &node{kind: nRepeat, subs: []*node{sub}, greedy: true}
	switch p.peek() {
	case '*':
		n.min, n.max = 0, -1
		p.pos++
	case '+':
		n.min, n.max = 1, -1
		p.pos++
	case '?':
		n.min, n.max = 0, 1
		p.pos++
	default:
		lo, hi, end, _ := p.scanInterval()
		if lo > maxRepeat || hi > maxRepeat {
			return nil, p.errorf(ErrRepeatTooLarge)
		}
		if hi == 0 || hi != -1 && lo > hi {
			return nil, p.errorf(ErrBadRepeat)
		}
		n.min, n.max, n.braces = lo, hi, true
		p.pos = end
	}
	if p.more() && p.peek() == '?' {
		n.greedy = false
		p.pos++
	}
	if n.greedy {
		p.greedy = true
	} else {
		p.lazy = true
	}
	return n, nil
}

func (p *parser) setNode(s byteSet) *node {
	if p.flags.Nocase {
		s.foldASCII()
	}
	return &node{kind: nSet, set: s}
}

func (p *parser) byteNode(b byte) *node {
	var s byteSet
	s.add(b)
	return p.setNode(s)
}

func (p *parser) parseAtom() (*node, error) {
	c := p.peek()
	switch c {
	case '(':
		p.pos++
		if p.more() && p.peek() == '?' { // (?:...) (?i) and friends
			return nil, p.errorf(ErrSyntax)
		}
		n, err := p.parseAlt()
		if err != nil {
			return nil, err
		}
		if !p.more() || p.peek() != ')' {
			return nil, p.errorf(ErrSyntax)
		}
		p.pos++
		return n, nil
	case '[':
		return p.parseClass()
	case '.':
		p.pos++
		return &node{kind: nSet, set: p.anyByte, dot: true}, nil
	case '^':
		p.pos++
		return &node{kind: nBegin}, nil
	case '$':
		p.pos++
		return &node{kind: nEnd}, nil
	case '\\':
		return p.parseEscape()
	}
	p.pos++
	return p.byteNode(c), nil
}

func (p *parser) parseEscape() (*node, error) {
	p.pos++ // the backslash
	if !p.more() {
		return nil, p.errorf(ErrIllegalEscape)
	}
	c := p.peek()
	switch {
	case c == 'b':
		p.pos++
		return &node{kind: nWordB}, nil
	case c == 'B':
		p.pos++
		return &node{kind: nNotWordB}, nil
	case '0' <= c && c <= '9':
		return nil, p.errorf(ErrBackreference)
	case c == 'x':
		b, err := p.parseHex()
		if err != nil {
			return nil, err
		}
		return p.byteNode(b), nil
	}
	p.pos++
	if s, ok := perlSet(c); ok {
		return p.setNode(s), nil
	}
	return p.byteNode(simpleEscape(c)), nil
}

// parseHex reads xNN at p.pos (the backslash already consumed).
func (p *parser) parseHex() (byte, error) {
	if p.pos+2 >= len(p.src) {
		return 0, p.errorf(ErrIllegalEscape)
	}
	hi, ok1 := unhex(p.src[p.pos+1])
	lo, ok2 := unhex(p.src[p.pos+2])
	if !ok1 || !ok2 {
		return 0, p.errorf(ErrIllegalEscape)
	}
	p.pos += 3
	return hi<<4 | lo, nil
}

// parseClass parses [...] at p.pos. As in yara, a ']' right after '[' or
// '[^' is literal; \b is a literal 'b'; an escape letter that begins or ends
// a range stands for itself ([\d-z] is d to z), otherwise \w \s \d and their
// negations add their sets.
func (p *parser) parseClass() (*node, error) {
	p.pos++ // '['
	var s byteSet
	negated := false
	if p.more() && p.peek() == '^' {
		negated = true
		p.pos++
	}
	first := true
	for {
		if !p.more() {
			return nil, p.errorf(ErrUnterminatedSet)
		}
		if p.peek() == ']' && !first {
			p.pos++
			break
		}
		first = false
		lo, set, isSet, err := p.classItem()
		if err != nil {
			return nil, err
		}
		if p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] != ']' {
			p.pos++
			hi, _, _, err := p.classItem()
			if err != nil {
				return nil, err
			}
			if lo > hi {
				return nil, p.errorf(ErrBadRange)
			}
			s.addRange(lo, hi)
			continue
		}
		if isSet {
			s.union(set)
		} else {
			s.add(lo)
		}
	}
	if p.flags.Nocase {
		s.foldASCII()
	}
	if negated {
		s.negate()
	}
	return &node{kind: nSet, set: s}, nil
}

// classItem reads one class member: its byte value, and for \w-style
// escapes also their set (used only when the item is not a range bound).
func (p *parser) classItem() (b byte, set byteSet, isSet bool, err error) {
	c := p.peek()
	if c != '\\' {
		p.pos++
		return c, set, false, nil
	}
	p.pos++
	if !p.more() {
		return 0, set, false, p.errorf(ErrUnterminatedSet)
	}
	c = p.peek()
	if c == 'x' {
		b, err := p.parseHex()
		return b, set, false, err
	}
	p.pos++
	if s, ok := perlSet(c); ok {
		return c, s, true, nil
	}
	return simpleEscape(c), set, false, nil
}
