package scan

import (
	"encoding/base64"
	"math"
	"math/bits"
	"slices"

	"athena/internal/yara/plan"
)

type patKind uint8

const (
	patLit patKind = iota
	patHex
	patRegex
)

// pattern is one concrete form of a string that the matcher verifies: a
// text string gives one per ascii/wide form and xor key, a base64 string
// one per encoding.
type pattern struct {
	str  int // index in plan.Strings
	kind patKind
	lit  []byte
	fold bool // lit compares ASCII case-insensitively
	// toks are a hex pattern's tokens; hex is their program, compiled on
	// first use (prog): most hex strings of a large rule set never get a
	// candidate in a given file, and a guest builds its scanner at start.
	toks     []plan.HexToken
	hex      *hexProg
	re       regexMatcher
	fullword bool
	wide     bool // fullword looks at wide characters
	// chain is the index in Scanner.chains of the chain this pattern is a
	// piece of, -1 if none; piece is its position in the chain.
	chain, piece int
	// need is how many bytes from the match start must be available
	// (unless the file ends) before the pattern can be verified.
	need int
}

// atom is a short literal the automaton looks for; a hit means pattern pat
// may match starting off bytes before the atom.
type atom struct {
	bytes []byte
	pat   int32
	off   int32
	// val is bytes loaded little-endian, mask keeps its len(bytes) bytes.
	val, mask uint32
}

// regexMatcher is what the scanner needs of a compiled regexp.
type regexMatcher interface {
	MatchAt(data []byte, start int) int
	Prefixes(maxCount, maxLen int) ([][]byte, bool)
	FirstBytes() *[256]bool
	Anchored() bool // matches only at offset 0 of the file
}

func widen(b []byte) []byte {
	w := make([]byte, 0, 2*len(b))
	for _, c := range b {
		w = append(w, c, 0)
	}
	return w
}

// base64Forms returns the three encodings of s yara searches for: s at
// each offset modulo 3 in the encoded stream, minus the characters that
// depend on the bytes around s.
func base64Forms(s []byte, alphabet []byte) [][]byte {
	enc := base64.StdEncoding
	if alphabet != nil {
		enc = base64.NewEncoding(string(alphabet))
	}
	enc = enc.WithPadding(base64.NoPadding)
	var forms [][]byte
	for k := range 3 {
		in := append(make([]byte, k), s...)
		out := make([]byte, enc.EncodedLen(len(in)))
		enc.Encode(out, in)
		// Character j covers bits [6j, 6j+6); keep it only when they all
		// come from s.
		var keep []byte
		for j := range out {
			if 6*j >= 8*k && 6*j+6 <= 8*len(in) {
				keep = append(keep, out[j])
			}
		}
		if len(keep) > 0 {
			forms = append(forms, keep)
		}
	}
	return forms
}

// buildPatterns turns the plan's strings into patterns and their atoms.
// Patterns without a usable atom go to slow, tried at every offset whose
// byte is in their first-byte set.
func buildPatterns(p *plan.Plan) (pats []pattern, chains []chain, err error) {
	pats = make([]pattern, 0, len(p.Strings)+len(p.Strings)/2)
	for si := range p.Strings {
		s := &p.Strings[si]
		ascii := s.Flags&plan.ASCII != 0
		wide := s.Flags&plan.Wide != 0
		full := s.Flags&plan.Fullword != 0
		add := func(pt pattern) {
			pt.str = si
			pt.chain = -1
			pt.fullword = full
			pats = append(pats, pt)
		}
		switch s.Kind {
		case plan.Text:
			var formBuf [6][]byte // base64 and base64wide: 3 forms each
			var wideBuf [6]bool
			forms, wideForm := formBuf[:0], wideBuf[:0]
			if s.Flags&(plan.Base64|plan.Base64Wide) != 0 {
				for _, f := range base64Forms(s.Text, s.Alphabet) {
					if s.Flags&plan.Base64 != 0 {
						forms, wideForm = append(forms, f), append(wideForm, false)
					}
					if s.Flags&plan.Base64Wide != 0 {
						forms, wideForm = append(forms, widen(f)), append(wideForm, true)
					}
				}
			} else {
				if ascii {
					forms, wideForm = append(forms, s.Text), append(wideForm, false)
				}
				if wide {
					forms, wideForm = append(forms, widen(s.Text)), append(wideForm, true)
				}
			}
			for i, f := range forms {
				if s.Flags&plan.Xor != 0 {
					for k := int(s.XorMin); k <= int(s.XorMax); k++ {
						x := make([]byte, len(f))
						for j, c := range f {
							x[j] = c ^ byte(k)
						}
						add(pattern{kind: patLit, lit: x, wide: wideForm[i]})
					}
					continue
				}
				add(pattern{kind: patLit, lit: f, fold: s.Flags&plan.Nocase != 0, wide: wideForm[i]})
			}
		case plan.Hex:
			pieces, gaps := splitHex(s.Hex)
			if len(pieces) == 1 {
				add(pattern{kind: patHex, toks: s.Hex})
				break
			}
			c := chain{str: si, gaps: gaps}
			for k, piece := range pieces {
				add(pattern{kind: patHex, toks: piece})
				pats[len(pats)-1].chain = len(chains)
				pats[len(pats)-1].piece = k
				c.pieces = append(c.pieces, len(pats)-1)
			}
			chains = append(chains, c)
		case plan.Regex:
			nocase := s.Flags&(plan.Nocase|plan.RegexNocase) != 0
			dotAll := s.Flags&plan.RegexDotAll != 0
			for _, w := range []bool{false, true} {
				if w && !wide || !w && !ascii {
					continue
				}
				add(pattern{kind: patRegex, wide: w,
					re: &lazyRegex{id: s.ID, src: string(s.Text), nocase: nocase, dotAll: dotAll, wide: w}})
			}
		}
	}
	for pi := range pats {
		pt := &pats[pi]
		switch pt.kind {
		case patLit:
			pt.need = len(pt.lit)
		case patHex:
			pt.need = min(hexMaxLen(pt.toks), maxMatch)
			if pt.chain >= 0 && pt.piece == 0 {
				// Its match data runs on past the piece.
				pt.need = max(pt.need, maxHexData)
			}
		case patRegex:
			pt.need = maxMatch + 1
		}
		if pt.fullword {
			pt.need += 2
		}
	}
	return pats, chains, nil
}

// chooseAtoms picks the atoms of every pattern; slow are the patterns
// that have none. The choice is deterministic: the host makes it once per
// rule set (ChooseAtoms) and the plan carries it to the guests.
func chooseAtoms(pats []pattern) (atoms []atom, slow []int32) {
	// The literal every match of a pattern starts with (all of a text
	// string), and how many patterns share each 4-byte window of those.
	lits := make([][]byte, len(pats))
	for pi := range pats {
		pt := &pats[pi]
		switch pt.kind {
		case patLit:
			lits[pi] = pt.lit
		case patHex:
			lits[pi] = literalPrefix(pt.prog().prefixes)
		case patRegex:
			lits[pi] = literalPrefix(pt.re.Prefixes)
		}
	}
	shared := countWindows(pats, lits)
	for pi := range pats {
		pt := &pats[pi]
		switch {
		case pt.kind == patLit:
			off, a := bestWindow(pt.lit, pt.fold, shared)
			for _, v := range caseVariants(a, pt.fold) {
				atoms = append(atoms, atom{bytes: v, pat: int32(pi), off: int32(off)})
			}
		case lits[pi] != nil:
			off, a := bestWindow(lits[pi], false, shared)
			atoms = append(atoms, atom{bytes: a, pat: int32(pi), off: int32(off)})
		case pt.kind == patHex:
			pre := bestPrefixes(pt.prog().prefixes)
			off, fixed, ok := pt.prog().fixedAtom()
			switch {
			case ok && (pre == nil || shortest(pre) < len(fixed)):
				atoms = append(atoms, atom{bytes: fixed, pat: int32(pi), off: int32(off)})
			case pre != nil:
				for _, v := range pre {
					atoms = append(atoms, atom{bytes: v, pat: int32(pi)})
				}
			default:
				slow = append(slow, int32(pi))
			}
		case pt.kind == patRegex:
			pre := bestPrefixes(pt.re.Prefixes)
			for _, v := range pre {
				atoms = append(atoms, atom{bytes: v, pat: int32(pi)})
			}
			if pre == nil {
				slow = append(slow, int32(pi))
			}
		}
	}
	return atoms, slow
}

// ChooseAtoms makes the scanner's atom choice for p, for the host to put
// in the plan (Plan.Atoms), so that guests do not each make it again.
func ChooseAtoms(p *plan.Plan) (*plan.Atoms, error) {
	pats, _, err := buildPatterns(p)
	if err != nil {
		return nil, err
	}
	if err := prepareRegexes(pats, false); err != nil {
		return nil, err
	}
	atoms, slow := chooseAtoms(pats)
	out := &plan.Atoms{Forms: len(pats), List: make([]plan.Atom, len(atoms))}
	for i, a := range atoms {
		out.List[i] = plan.Atom{Form: int(a.pat), Off: int(a.off), Bytes: a.bytes}
	}
	for _, pi := range slow {
		out.Slow = append(out.Slow, int(pi))
	}
	return out, nil
}

// planAtoms takes the plan's atoms when they are for these patterns.
func planAtoms(a *plan.Atoms, pats []pattern) (atoms []atom, slow []int32, ok bool) {
	if a == nil || a.Forms != len(pats) {
		return nil, nil, false
	}
	atoms = make([]atom, len(a.List))
	for i, at := range a.List {
		atoms[i] = atom{bytes: at.Bytes, pat: int32(at.Form), off: int32(at.Off)}
	}
	for _, f := range a.Slow {
		slow = append(slow, int32(f))
	}
	return atoms, slow, true
}

// chainThreshold is the longest jump a hex string keeps inside one piece;
// longer (or unbounded) jumps split it into a chain of pieces matched
// separately, as yara does, so that matches may be longer than maxMatch.
const chainThreshold = 200

// chain is a hex string split at its long jumps: piece k+1 must start
// gaps[k].min to gaps[k].max (-1: any) bytes after piece k ends.
type chain struct {
	str    int
	pieces []int // pattern indexes
	gaps   []gap
}

type gap struct{ min, max int }

// splitHex splits top-level tokens at jumps longer than chainThreshold.
func splitHex(toks []plan.HexToken) (pieces [][]plan.HexToken, gaps []gap) {
	if !slices.ContainsFunc(toks[:max(len(toks)-1, 0)], longJump) {
		return [][]plan.HexToken{toks}, nil // the common case, without a copy
	}
	cur := []plan.HexToken{}
	for i, t := range toks {
		if longJump(t) && len(cur) > 0 && i < len(toks)-1 {
			pieces = append(pieces, cur)
			gaps = append(gaps, gap{t.Min, t.Max})
			cur = []plan.HexToken{}
			continue
		}
		cur = append(cur, t)
	}
	return append(pieces, cur), gaps
}

// prog is a hex pattern's program.
func (pt *pattern) prog() *hexProg {
	if pt.hex == nil {
		pt.hex = compileHex(pt.toks)
	}
	return pt.hex
}

func longJump(t plan.HexToken) bool {
	return t.Kind == plan.HexJump && (t.Max < 0 || t.Max > chainThreshold)
}

// firstBytes says which bytes may start a match of a pattern without
// atoms.
func (pt *pattern) firstBytes() *[256]bool {
	if pt.kind == patHex {
		return pt.prog().firstBytes()
	}
	return pt.re.FirstBytes()
}

// literalPrefix returns the literal every match starts with when there is
// one longer than 4 bytes (a case-sensitive regexp or hex string that
// begins with fixed bytes), else nil.
func literalPrefix(f func(maxCount, maxLen int) ([][]byte, bool)) []byte {
	pre, ok := f(1, 32)
	if !ok || len(pre) != 1 || len(pre[0]) <= 4 {
		return nil
	}
	return pre[0]
}

// countWindows counts, for each 4-byte window value (folded to lower case
// for nocase patterns), the patterns whose literal holds it.
func countWindows(pats []pattern, lits [][]byte) *windowCounts {
	n := 0
	for _, lit := range lits {
		n += max(len(lit)-3, 0)
	}
	w := newWindowCounts(n)
	for pi, lit := range lits {
		for i := 0; i+4 <= len(lit); i++ {
			w.add(windowKey(lit[i:i+4], pats[pi].kind == patLit && pats[pi].fold), int32(pi))
		}
	}
	return w
}

// windowCounts is countWindows' table: open addressing over a power of two
// at most half full, a slot per cache line's fifth. A Go map took a tenth
// of a 10,000-rule set's compile.
type windowCounts struct {
	slots []windowSlot
	shift uint32
}

type windowSlot struct {
	key   uint32
	count int32
	last  int32 // the last pattern counted, + 1; 0 is an empty slot
}

func newWindowCounts(n int) *windowCounts {
	b := uint32(4)
	for 1<<b < 2*n {
		b++
	}
	return &windowCounts{slots: make([]windowSlot, 1<<b), shift: 64 - b}
}

func (w *windowCounts) slot(key uint32) *windowSlot {
	mask := len(w.slots) - 1
	for i := int(uint64(key) * 0x9E3779B97F4A7C15 >> w.shift); ; i = (i + 1) & mask {
		if s := &w.slots[i]; s.last == 0 || s.key == key {
			return s
		}
	}
}

// add counts pattern pi for window key, once per pattern (a pattern's
// windows are added together).
func (w *windowCounts) add(key uint32, pi int32) {
	if s := w.slot(key); s.last != pi+1 {
		s.key, s.last = key, pi+1
		s.count++
	}
}

// patterns is how many patterns hold window key.
func (w *windowCounts) patterns(key uint32) int32 { return w.slot(key).count }

func windowKey(w []byte, fold bool) uint32 {
	if !fold {
		return load(w)
	}
	return uint32(lower(w[0])) | uint32(lower(w[1]))<<8 | uint32(lower(w[2]))<<16 | uint32(lower(w[3]))<<24
}

// bestPrefixes asks for the longest prefixes (4 bytes down to 1) that
// exist in a small enough set; nil when even single bytes do not.
func bestPrefixes(f func(maxCount, maxLen int) ([][]byte, bool)) [][]byte {
	for n := 4; n >= 1; n-- {
		if pre, ok := f(32, n); ok && goodPrefixes(pre) {
			return pre
		}
	}
	return nil
}

func shortest(pre [][]byte) int {
	n := len(pre[0])
	for _, p := range pre {
		n = min(n, len(p))
	}
	return n
}

func goodPrefixes(pre [][]byte) bool {
	if len(pre) == 0 {
		return false
	}
	for _, p := range pre {
		if len(p) == 0 {
			return false
		}
	}
	return true
}

// byteQuality rates how rare a byte is likely to be in files.
func byteQuality(c byte, fold bool) int {
	switch {
	case c == 0x00 || c == 0xFF:
		return 1
	case c == 0x20 || c == 0xCC || c == 0x90:
		return 2
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		if fold {
			return 3
		}
		return 4
	}
	return 5
}

// bestWindow picks the best atom of at most 4 bytes in lit: rare bytes,
// distinct bytes, and a window few other patterns share (shared counts
// them), since strings of one family often share a prefix or a word, and
// an atom there wakes all of them at each occurrence.
func bestWindow(lit []byte, fold bool, shared *windowCounts) (int, []byte) {
	n := min(4, len(lit))
	best, bestQ := 0, math.MinInt
	for i := 0; i+n <= len(lit); i++ {
		q := 0
		for j, c := range lit[i : i+n] {
			q += byteQuality(c, fold)
			dup := false
			for _, d := range lit[i : i+j] {
				dup = dup || d == c
			}
			if !dup {
				q += 2
			}
		}
		if n == 4 {
			q -= 3 * bits.Len32(uint32(max(shared.patterns(windowKey(lit[i:i+4], fold))-1, 0)))
		}
		if q > bestQ {
			best, bestQ = i, q
		}
	}
	return best, lit[best : best+n]
}

// caseVariants expands an atom into every ASCII case combination when fold.
func caseVariants(a []byte, fold bool) [][]byte {
	out := [][]byte{append([]byte{}, a...)}
	if !fold {
		return out
	}
	for i, c := range a {
		var other byte
		switch {
		case c >= 'a' && c <= 'z':
			other = c - 32
		case c >= 'A' && c <= 'Z':
			other = c + 32
		default:
			continue
		}
		for _, v := range out[:len(out):len(out)] {
			w := append([]byte{}, v...)
			w[i] = other
			out = append(out, w)
		}
	}
	return out
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

// verify returns the length of pattern pt's match at data[at:], or -1.
// data holds everything the pattern may look at; base is data[0]'s
// absolute offset, used for fullword's look behind at offset 0.
func (pt *pattern) verify(data []byte, at int) int {
	n := -1
	switch pt.kind {
	case patLit:
		if at+len(pt.lit) > len(data) {
			return -1
		}
		d := data[at : at+len(pt.lit)]
		if pt.fold {
			for i, c := range pt.lit {
				if lower(c) != lower(d[i]) {
					return -1
				}
			}
		} else if string(d) != string(pt.lit) {
			return -1
		}
		n = len(pt.lit)
	case patHex:
		n = pt.prog().match(data, at)
	case patRegex:
		n = pt.re.MatchAt(data, at)
	}
	if n < 0 || !pt.fullword {
		return n
	}
	if pt.wide {
		if at >= 2 && data[at-1] == 0 && isAlnum(data[at-2]) {
			return -1
		}
		if e := at + n; e+1 < len(data) && data[e+1] == 0 && isAlnum(data[e]) {
			return -1
		}
		return n
	}
	if at >= 1 && isAlnum(data[at-1]) {
		return -1
	}
	if e := at + n; e < len(data) && isAlnum(data[e]) {
		return -1
	}
	return n
}
