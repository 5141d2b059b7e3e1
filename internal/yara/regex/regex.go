// Package regex implements YARA's byte-oriented regular expressions in time
// linear in the input.
//
// The syntax is yara's: literals, escapes (\xNN \n \t \r \f \a, any other
// escaped byte stands for itself), `.`, classes, \w \W \s \S \d \D, \b \B, ^ $,
// alternation, groups (no (?...) forms) and the quantifiers * + ? {n} {n,}
// {,m} {n,m} {,} with lazy forms; greedy and lazy quantifiers cannot be mixed.
// Bytes are bytes: \xE8 and a raw 0xE8 in the source both match the byte 0xE8,
// and case folding (Nocase) is ASCII only.
//
// Matching is a Pike VM (an NFA simulation with one thread per program
// counter, in priority order), so a match attempt costs O(len(input) ×
// len(program)) and never backtracks. The length reported for a start offset
// is the one a backtracking engine would pick (greedy quantifiers take as much
// as they can, lazy ones as little, alternatives are tried left to right),
// which is what yara's own engine computes from the start of a string. An
// empty match is no match, and a match is at most MaxMatch bytes long unless
// yara would split the regexp into chained strings at a wide lazy `.{n,m}?`
// gap. RATIONALE.md records yara's behaviour as measured and where its
// reports can differ.
package regex

import "sync"

// MaxMatch is the longest match yara reports (its RE scan limit, measured with
// /usr/bin/yara 4.2.3: /xa{4095}/ matches, /xa{4096}/ does not).
const MaxMatch = 4096

// Flags are the modifiers that change what a regexp matches.
type Flags struct {
	Nocase bool // i flag or nocase modifier: ASCII case folding only
	DotAll bool // s flag: `.` matches \n
	Wide   bool // wide modifier: every matched character is followed by a 0x00 byte (UTF-16LE of ASCII)
}

// Regexp is a compiled regular expression. It is safe for concurrent use.
type Regexp struct {
	src      string
	flags    Flags
	ast      *node
	prog     []inst
	sets     []byteSet
	first    [256]bool // bytes that can start a match
	canEmpty bool      // the empty string can match (at some offset)
	anchored bool
	window   int       // how far a match may reach: MaxMatch unless chained
	pool     sync.Pool // *machine
}

// Compile parses src, the expression as written between the slashes of a
// yara rule, with flags f. Errors wrap the Err* sentinels.
func Compile(src string, f Flags) (*Regexp, error) {
	ast, window, err := parse(src, f)
	if err != nil {
		return nil, err
	}
	prog, sets, err := compile(ast, f)
	if err != nil {
		return nil, err
	}
	re := &Regexp{src: src, flags: f, ast: ast, prog: prog, sets: sets, anchored: anchored(ast), window: window}
	re.pool.New = func() any { return newMachine(len(re.prog)) }
	re.scanStart()
	return re, nil
}

// MustCompile is Compile that panics on error, for tests and fixed patterns.
func MustCompile(src string, f Flags) *Regexp {
	re, err := Compile(src, f)
	if err != nil {
		panic(err)
	}
	return re
}

// String returns the source the Regexp was compiled from.
func (re *Regexp) String() string { return re.src }

// MaxLen returns the longest match MatchAt can return: MaxMatch, or more for
// a regexp yara splits into chained strings (`/ab.{0,5000}?c/`). A streaming
// scanner must keep that much data past a start offset.
func (re *Regexp) MaxLen() int { return re.window }

// Flags returns the flags the Regexp was compiled with.
func (re *Regexp) Flags() Flags { return re.flags }

// scanStart fills first and canEmpty from the closure of the start state,
// taking every assertion as satisfiable.
func (re *Regexp) scanStart() {
	seen := make([]bool, len(re.prog))
	stack := []uint32{0}
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		in := re.prog[pc]
		switch in.op {
		case opSet:
			s := &re.sets[in.arg]
			for c := 0; c < 256; c++ {
				if s.has(byte(c)) {
					re.first[c] = true
				}
			}
		case opMatch:
			re.canEmpty = true
		case opSplit:
			stack = append(stack, in.out, in.arg)
		default:
			stack = append(stack, in.out)
		}
	}
}

// FirstBytes reports which bytes can start a match. The array is shared: do
// not modify it.
func (re *Regexp) FirstBytes() *[256]bool { return &re.first }

// Anchored reports whether every match must start at offset 0 of the data
// (the expression begins with ^ in every alternative).
func (re *Regexp) Anchored() bool { return re.anchored }

func anchored(n *node) bool {
	switch n.kind {
	case nBegin:
		return true
	case nConcat:
		for _, s := range n.subs {
			if anchored(s) {
				return true
			}
			switch s.kind {
			case nEnd, nWordB, nNotWordB, nEmpty:
				continue // zero-width: look further
			}
			return false
		}
	case nAlt:
		for _, s := range n.subs {
			if !anchored(s) {
				return false
			}
		}
		return true
	case nRepeat:
		return n.min > 0 && anchored(n.subs[0])
	}
	return false
}

// MatchAt returns the length of the match yara reports starting exactly at
// data[start], or -1. The match may not extend past start+MaxMatch nor past
// len(data); empty matches are not matches. The one exception to MaxMatch
// is a regexp that yara splits into chained strings at a wide lazy gap
// (`/ab.{0,5000}?c/`): each part is limited to MaxMatch, so the whole may be
// longer (see RATIONALE.md). Bytes before start are read only
// by \b and \B. It does not allocate once the Regexp has been used.
func (re *Regexp) MatchAt(data []byte, start int) int {
	if start < 0 || start >= len(data) || !re.first[data[start]] {
		return -1
	}
	if re.anchored && start != 0 {
		return -1
	}
	end := min(len(data), start+re.window)
	m := re.pool.Get().(*machine)
	defer re.pool.Put(m)
	m.end = end
	clist, nlist := &m.a, &m.b
	clist.clear()
	m.add(re, clist, 0, data, start)
	matched := -1
	for pos := start; len(clist.run) > 0; pos++ {
		nlist.clear()
	step:
		for _, pc := range clist.run {
			in := re.prog[pc]
			switch in.op {
			case opMatch:
				matched = pos - start
				break step // lower-priority threads lose
			case opSet:
				if pos < end && re.sets[in.arg].has(data[pos]) {
					m.add(re, nlist, in.out, data, pos+1)
				}
			}
		}
		if pos >= end {
			break
		}
		clist, nlist = nlist, clist
	}
	if matched <= 0 {
		return -1
	}
	return matched
}

// Match reports whether re matches anywhere in b, the empty match included
// (yara's `matches` operator). As in yara, only matches that end within the
// first MaxMatch bytes of b count; `$` still means the end of b.
func (re *Regexp) Match(b []byte) bool {
	end := min(len(b), MaxMatch)
	m := re.pool.Get().(*machine)
	defer re.pool.Put(m)
	m.end = end
	clist, nlist := &m.a, &m.b
	clist.clear()
	for pos := 0; pos <= end; pos++ {
		if len(clist.run) == 0 {
			if re.anchored && pos > 0 {
				return false
			}
			if !re.anchored && !re.canEmpty {
				for pos < end && !re.first[b[pos]] {
					pos++
				}
			}
		}
		if !re.anchored || pos == 0 {
			m.add(re, clist, 0, b, pos)
		}
		nlist.clear()
		for _, pc := range clist.run {
			in := re.prog[pc]
			switch in.op {
			case opMatch:
				return true
			case opSet:
				if pos < end && re.sets[in.arg].has(b[pos]) {
					m.add(re, nlist, in.out, b, pos+1)
				}
			}
		}
		clist, nlist = nlist, clist
	}
	return false
}

// machine is the per-call state of the VM, pooled per Regexp.
type machine struct {
	a, b  sparseSet
	stack []uint32
	end   int // where the attempt must stop reading
}

func newMachine(n int) *machine {
	return &machine{a: newSparseSet(n), b: newSparseSet(n), stack: make([]uint32, 0, n)}
}

// sparseSet is a set of program counters, cleared in O(1). run lists the
// members that consume a byte or match, in insertion (priority) order: the
// threads of one step.
type sparseSet struct {
	sparse []uint32
	dense  []uint32
	run    []uint32
}

func newSparseSet(n int) sparseSet {
	return sparseSet{sparse: make([]uint32, n), dense: make([]uint32, 0, n), run: make([]uint32, 0, n)}
}

func (s *sparseSet) clear() {
	s.dense = s.dense[:0]
	s.run = s.run[:0]
}

// insert adds pc and reports whether it was absent.
func (s *sparseSet) insert(pc uint32) bool {
	i := s.sparse[pc]
	if int(i) < len(s.dense) && s.dense[i] == pc {
		return false
	}
	s.sparse[pc] = uint32(len(s.dense))
	s.dense = append(s.dense, pc)
	return true
}

// add follows the empty transitions from pc at input offset pos, adding every
// reached instruction to l in priority order.
func (m *machine) add(re *Regexp, l *sparseSet, pc uint32, data []byte, pos int) {
	stack := append(m.stack[:0], pc)
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for l.insert(pc) {
			in := re.prog[pc]
			switch in.op {
			case opJmp:
				pc = in.out
				continue
			case opSplit:
				stack = append(stack, in.arg)
				pc = in.out
				continue
			case opBegin:
				if pos == 0 {
					pc = in.out
					continue
				}
			case opEnd:
				if pos == len(data) {
					pc = in.out
					continue
				}
			case opWordB, opNotWordB:
				if re.atWordBoundary(data, pos, m.end) == (in.op == opWordB) {
					pc = in.out
					continue
				}
			case opSet, opMatch:
				l.run = append(l.run, pc)
			}
			break
		}
	}
	m.stack = stack
}

// atWordBoundary reports \b at pos for a match attempt that may read up to
// end. As in yara, \b holds (and \B fails) where there is no character to
// look at: before the first character of the data and at end, the end of the
// data or of the MaxMatch window. With Wide a character is two bytes and is a
// word character only when its second byte is 0x00.
func (re *Regexp) atWordBoundary(data []byte, pos, end int) bool {
	if re.flags.Wide {
		if pos < 2 || pos >= end {
			return true
		}
		return isWideWordAt(data, pos-2) != isWideWordAt(data[:end], pos)
	}
	if pos < 1 || pos >= end {
		return true
	}
	return isWordAt(data, pos-1) != isWordAt(data, pos)
}

func isWordAt(data []byte, i int) bool {
	return i >= 0 && i < len(data) && isWordByte(data[i])
}

func isWideWordAt(data []byte, i int) bool {
	return i >= 0 && i+1 < len(data) && isWordByte(data[i]) && data[i+1] == 0
}
