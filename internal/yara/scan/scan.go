// Package scan runs a compiled rule plan over a file that arrives in
// chunks: one Aho-Corasick automaton over every string's atoms, atom hits
// verified against a bounded window of recent bytes, then the rule
// conditions once the file ends (or as soon as they are true, for rules
// whose truth cannot change).
package scan

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"athena/internal/yara/object"
	"athena/internal/yara/plan"
)

// DefaultMaxData is Options.MaxData's default: 64 MiB.
const DefaultMaxData = 64 << 20

// maxMatchData is how many bytes of a match are kept, as yara does;
// maxHexData for hex strings, of which yara never shows more.
const (
	maxMatchData = 512
	maxHexData   = 64
)

// maxMatches caps the matches kept per string, as yara does.
const maxMatches = 1000000

// Options configure a Scanner.
type Options struct {
	// MaxData is how many bytes of a file are kept for conditions that
	// read data (uint32(x), modules, string operators on data). Default
	// 64 MiB; reads beyond it are undefined.
	MaxData int
	// Find, when set, runs the atom filter (atomfilter.Filter.Find over
	// the filter's wire form) in place of the scanner's own loop: the
	// pattern module sets it to the engine's filter_find host import,
	// which runs the same loop natively.
	Find FindFunc
}

// FindFunc is atomfilter.Filter.Find over the filter's wire form.
type FindFunc func(filter, data []byte, n int, out []uint32) ([]uint32, int)

// RuleMatch is a rule that matched.
type RuleMatch struct {
	Rule string
	// Index is the rule's position in the rule set (yara prints matching
	// rules in that order).
	Index int
	Tags  []string
	Meta  []Meta
	// Strings are every match of every non-private string, by string order
	// then offset, as yara -s prints them.
	Strings []StringMatch
	// Early is true when the rule was already passed to the early callback.
	Early bool
}

// Meta is one metadata entry; Value is a string, an int64 or a bool.
type Meta struct {
	Key   string
	Value any
}

// StringMatch is one match of a string.
type StringMatch struct {
	ID     string
	Offset int64
	Length int
	// Data is the matched bytes, at most the first 512 (64 for a hex
	// string: yara stores 512 but never shows more than 64 of those).
	Data []byte
	// Hex says the string is a hex string, which yara prints as hex bytes.
	Hex bool
}

// AppendYara appends the match as `yara -s` prints it, without the
// newline: "0xOFFSET:$id: data". Text and regexp data show printable ASCII
// as is and other bytes as \xNN; hex strings' data shows as spaced hex
// bytes, at most 64, then " ..." when the match is longer.
func (m StringMatch) AppendYara(dst []byte) []byte {
	dst = fmt.Appendf(dst, "0x%x:%s: ", m.Offset, m.ID)
	if m.Hex {
		for i, c := range m.Data[:min(len(m.Data), 64)] {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = fmt.Appendf(dst, "%02X", c)
		}
		if m.Length > 64 {
			dst = append(dst, " ..."...)
		}
		return dst
	}
	for _, c := range m.Data {
		if c >= 0x20 && c < 0x7f {
			dst = append(dst, c)
		} else {
			dst = fmt.Appendf(dst, "\\x%02X", c)
		}
	}
	return dst
}

// Scanner scans one file at a time with a plan. It is reusable (Begin
// resets it) but not safe for concurrent use.
type Scanner struct {
	p       *plan.Plan
	maxData int
	pats    []pattern
	atoms   []atom
	slow    []int32 // patterns without atoms
	// slowBy are the slow patterns by the byte their matches start with.
	slowBy [256][]int32
	chains []chain
	index  *atomIndex
	find   func(data []byte, n int, out []uint32) ([]uint32, int)
	found  []uint32 // scratch for find
	// keep is how many bytes before the current position the window
	// keeps for verification.
	keep  int
	rules []*ruleEval
	mods  []*object.Module
	// stringRule maps a string to its rule.
	stringRule []int

	// Per file.
	size int64 // from Begin, -1 unknown
	pos  int64 // bytes written so far
	// scanned is the absolute offset of the next atom start to look at.
	scanned int64
	win     []byte
	winBase int64
	head    []byte
	pending []cand
	matches [][]match
	// pieces are the matches of each chain piece, by pattern index.
	pieces  map[int][]match
	arena   []byte
	early   func(RuleMatch)
	fired   []bool
	dirty   []bool // rule has new matches since its last early check
	anyDirt bool
}

type cand struct {
	pat   int32
	start int64
}

type match struct {
	off  int64
	n    int32
	data int32 // the first bytes, arena[data:data+dn]
	dn   int32
}

// New builds the scanner for p: automaton, patterns and evaluators. It
// fails when p holds something this scanner cannot run (a bad regexp, an
// unknown module).
func New(p *plan.Plan, o Options) (*Scanner, error) {
	if o.MaxData <= 0 {
		o.MaxData = DefaultMaxData
	}
	s := &Scanner{p: p, maxData: min(o.MaxData, dataNeeded(p))}
	var err error
	s.pats, s.chains, err = buildPatterns(p)
	if err != nil {
		return nil, err
	}
	var ok bool
	if s.atoms, s.slow, ok = planAtoms(p.Atoms, s.pats); !ok {
		// Without the host's choice, every regexp is needed now (and a
		// bad one is an error here, as the host would have found).
		if err := prepareRegexes(s.pats, true); err != nil {
			return nil, err
		}
		s.atoms, s.slow = chooseAtoms(s.pats)
	}
	maxOff := 0
	for i := range s.atoms {
		a := &s.atoms[i]
		maxOff = max(maxOff, int(a.off))
		a.val = load(a.bytes)
		a.mask = uint32(1)<<(8*len(a.bytes)) - 1
		if len(a.bytes) >= 4 {
			a.mask = 0xFFFFFFFF
		}
	}
	s.index = newAtomIndex(s.atoms)
	s.find = func(data []byte, n int, out []uint32) ([]uint32, int) { return s.index.filter.Find(data, n, out) }
	if o.Find != nil {
		wire := s.index.filter.Encode()
		s.find = func(data []byte, n int, out []uint32) ([]uint32, int) { return o.Find(wire, data, n, out) }
	}
	s.found = make([]uint32, 0, 4096)
	for _, pi := range s.slow {
		for b, ok := range s.pats[pi].firstBytes() {
			if ok {
				s.slowBy[b] = append(s.slowBy[b], pi)
			}
		}
	}
	maxNeed := 0
	for i := range s.pats {
		maxNeed = max(maxNeed, s.pats[i].need)
	}
	s.keep = maxNeed + maxOff + 8
	for _, name := range p.Imports {
		m, ok := lookupModule(name)
		if !ok {
			return nil, fmt.Errorf("scan: unknown module %q", name)
		}
		s.mods = append(s.mods, m)
	}
	s.stringRule = make([]int, len(p.Strings))
	for i := range s.stringRule {
		s.stringRule[i] = -1
	}
	for ri := range p.RuleList {
		r := &p.RuleList[ri]
		for i := r.First; i < r.First+r.Count; i++ {
			s.stringRule[i] = ri
		}
		re, err := s.newRuleEval(ri)
		if err != nil {
			return nil, err
		}
		s.rules = append(s.rules, re)
	}
	s.matches = make([][]match, len(p.Strings))
	s.fired = make([]bool, len(p.RuleList))
	s.dirty = make([]bool, len(p.RuleList))
	s.Begin(-1, nil)
	return s, nil
}

// Begin starts a new file of size bytes (-1 when unknown until Finish).
// early, if not nil, is called during Write with each rule that is known to
// match before the file ends.
func (s *Scanner) Begin(size int64, early func(RuleMatch)) {
	s.size = size
	s.pos = 0
	s.scanned = 0
	s.win = s.win[:0]
	s.winBase = 0
	s.head = s.head[:0]
	s.pending = s.pending[:0]
	for i := range s.matches {
		s.matches[i] = s.matches[i][:0]
	}
	s.arena = s.arena[:0]
	for k := range s.pieces {
		s.pieces[k] = s.pieces[k][:0]
	}
	s.early = early
	clear(s.fired)
	clear(s.dirty)
	s.anyDirt = false
}

// Write scans the next chunk of the file.
func (s *Scanner) Write(chunk []byte) {
	if len(chunk) == 0 {
		return
	}
	if room := s.maxData - len(s.head); room > 0 {
		s.head = append(s.head, chunk[:min(room, len(chunk))]...)
	}
	s.win = append(s.win, chunk...)
	s.pos += int64(len(chunk))
	// Atoms are at most 4 bytes: look at the offsets whose atoms are all
	// in the window.
	if to := len(s.win) - 3; to > int(s.scanned-s.winBase) {
		s.scanAtoms(int(s.scanned-s.winBase), to)
		s.scanned = s.winBase + int64(to)
	}
	s.verifyPending(false)
	s.trim()
	if s.early != nil && s.anyDirt {
		s.checkEarly()
	}
}

// candidate verifies pattern pi at start now if enough data is there, or
// queues it.
func (s *Scanner) candidate(pi int32, start int64) {
	pt := &s.pats[pi]
	if pt.kind == patHex {
		if at := int(start - s.winBase); at >= 0 && at+8 <= len(s.win) && pt.prog().quickReject(s.win, at) {
			return
		}
	}
	if start+int64(pt.need) <= s.winBase+int64(len(s.win)) {
		s.verify(pi, start, false)
		return
	}
	s.pending = append(s.pending, cand{pat: pi, start: start})
}

func (s *Scanner) verifyPending(eof bool) {
	end := s.winBase + int64(len(s.win))
	kept := s.pending[:0]
	for _, c := range s.pending {
		if eof || c.start+int64(s.pats[c.pat].need) <= end {
			s.verify(c.pat, c.start, eof)
		} else {
			kept = append(kept, c)
		}
	}
	s.pending = kept
}

// verify checks pattern pi at absolute offset start and records a match.
func (s *Scanner) verify(pi int32, start int64, eof bool) {
	pt := &s.pats[pi]
	at := int(start - s.winBase)
	if at < 0 {
		return // the window no longer holds it; cannot happen with keep
	}
	if pt.kind == patRegex && start != 0 && pt.re.Anchored() {
		return
	}
	data := s.win
	if !eof {
		// Never let a pattern see more than it needs, so that results do
		// not depend on chunking.
		data = data[:min(len(data), at+pt.need)]
	}
	n := pt.verify(data, at)
	if n < 0 {
		return
	}
	if pt.chain >= 0 {
		// A chain's match starts with its first piece: keep the bytes
		// that may be reported from there (the window holds maxMatch).
		var d []byte
		if pt.piece == 0 {
			d = s.win[at:min(len(s.win), at+maxHexData)]
		}
		s.recordPiece(int(pi), start, n, d)
		return
	}
	s.record(pt.str, start, data[at:at+n])
}

func (s *Scanner) record(si int, off int64, b []byte) { s.recordLen(si, off, len(b), b) }

// recordLen records a match of n bytes at off whose first bytes are b.
func (s *Scanner) recordLen(si int, off int64, n int, b []byte) {
	ms := s.matches[si]
	if len(ms) >= maxMatches {
		return
	}
	if ps := &s.p.Strings[si]; ps.Flags&plan.Fixed != 0 && off != ps.At {
		return
	}
	// Keep offsets sorted and unique; matches mostly arrive in order.
	i := len(ms)
	for i > 0 && ms[i-1].off >= off {
		if ms[i-1].off == off {
			return
		}
		i--
	}
	keep := min(len(b), maxMatchData)
	if s.p.Strings[si].Kind == plan.Hex {
		keep = min(keep, maxHexData)
	}
	m := match{off: off, n: int32(n), data: int32(len(s.arena)), dn: int32(keep)}
	s.arena = append(s.arena, b[:keep]...)
	ms = slices.Insert(ms, i, m)
	s.matches[si] = ms
	if ri := s.stringRule[si]; ri >= 0 && !s.dirty[ri] {
		s.dirty[ri] = true
		s.anyDirt = true
	}
}

// trim drops window bytes no pending candidate or future atom hit needs.
func (s *Scanner) trim() {
	lo := min(s.pos-int64(s.keep), s.scanned-8)
	for _, c := range s.pending {
		lo = min(lo, c.start-8)
	}
	drop := lo - s.winBase
	if drop <= 0 || drop < int64(len(s.win))/2 {
		return
	}
	n := copy(s.win, s.win[drop:])
	s.win = s.win[:n]
	s.winBase += drop
}

// Finish ends the file and returns the matching non-private rules in
// declaration order, with their strings.
func (s *Scanner) Finish() []RuleMatch {
	if from := int(s.scanned - s.winBase); from < len(s.win) {
		s.scanAtoms(from, len(s.win))
		s.scanned = s.pos
	}
	s.verifyPending(true)
	s.resolveChains()
	size := s.size
	if size < 0 {
		size = s.pos
	}
	ctx := s.newContext(size, true)
	var out []RuleMatch
	for ri := range s.p.RuleList {
		if ctx.ruleValue(ri) && !s.p.RuleList[ri].Private {
			out = append(out, s.ruleMatch(ri))
		}
	}
	return out
}

func (s *Scanner) ruleMatch(ri int) RuleMatch {
	r := &s.p.RuleList[ri]
	m := RuleMatch{Rule: r.Name, Index: ri, Tags: r.Tags, Early: s.fired[ri]}
	for _, md := range r.Meta {
		m.Meta = append(m.Meta, Meta{Key: md.Key, Value: md.Value})
	}
	for si := r.First; si < r.First+r.Count; si++ {
		ps := &s.p.Strings[si]
		if ps.Flags&plan.Private != 0 {
			continue
		}
		for _, x := range s.matches[si] {
			d := s.arena[x.data : x.data+x.dn]
			m.Strings = append(m.Strings, StringMatch{ID: ps.ID, Offset: x.off, Length: int(x.n), Data: append([]byte{}, d...), Hex: ps.Kind == plan.Hex})
		}
	}
	return m
}

// checkEarly evaluates the early rules whose strings matched since the
// last check, and reports those that are now true.
func (s *Scanner) checkEarly() {
	s.anyDirt = false
	var ctx *evalContext
	for ri, d := range s.dirty {
		if !d {
			continue
		}
		s.dirty[ri] = false
		r := &s.p.RuleList[ri]
		if !r.Early || s.fired[ri] {
			continue
		}
		if ctx == nil {
			ctx = s.newContext(-1, false)
		}
		if ctx.ruleValue(ri) {
			s.fired[ri] = true
			s.early(s.ruleMatch(ri))
		}
	}
	// A rule that refers to others may become true without matches of its
	// own: check the remaining early rules that have no strings.
	for ri := range s.p.RuleList {
		r := &s.p.RuleList[ri]
		if r.Early && !s.fired[ri] && r.Count == 0 {
			if ctx == nil {
				ctx = s.newContext(-1, false)
			}
			if ctx.ruleValue(ri) {
				s.fired[ri] = true
				s.early(s.ruleMatch(ri))
			}
		}
	}
}

func (s *Scanner) recordPiece(pi int, off int64, n int, data []byte) {
	if s.pieces == nil {
		s.pieces = map[int][]match{}
	}
	ms := s.pieces[pi]
	if len(ms) >= maxMatches {
		return
	}
	i := len(ms)
	for i > 0 && ms[i-1].off >= off {
		if ms[i-1].off == off {
			return
		}
		i--
	}
	m := match{off: off, n: int32(n), data: int32(len(s.arena)), dn: int32(len(data))}
	s.arena = append(s.arena, data...)
	s.pieces[pi] = slices.Insert(ms, i, m)
}

// resolveChains turns the pieces of chained hex strings into matches: one
// per match of the first piece that the next pieces follow within their
// gaps, ending at the earliest possible last piece, as yara reports them.
func (s *Scanner) resolveChains() {
	for _, c := range s.chains {
		for _, h := range s.pieces[c.pieces[0]] {
			end := s.chainEnd(c, 1, h.off+int64(h.n))
			if end < 0 {
				continue
			}
			n := end - h.off
			data := s.arena[h.data : int64(h.data)+min(int64(h.dn), n)]
			s.recordLen(c.str, h.off, int(n), data)
		}
	}
}

// chainEnd returns where the earliest complete rest of chain c, from piece
// k on, ends when piece k-1 ended at end; -1 when there is none.
func (s *Scanner) chainEnd(c chain, k int, end int64) int64 {
	if k == len(c.pieces) {
		return end
	}
	g := c.gaps[k-1]
	ms := s.pieces[c.pieces[k]]
	lo := end + int64(g.min)
	i, _ := slices.BinarySearchFunc(ms, lo, func(m match, off int64) int { return cmp.Compare(m.off, off) })
	for _, m := range ms[i:] {
		d := m.off - end
		if d < int64(g.min) {
			continue
		}
		if g.max >= 0 && d > int64(g.max) {
			break
		}
		if e := s.chainEnd(c, k+1, m.off+int64(m.n)); e >= 0 {
			return e
		}
	}
	return -1
}

// dataNeeded is how many leading bytes of a file the plan's conditions may
// read: up to the last constant intN(offset) when that is all they read,
// everything (MaxInt) when a module, entrypoint or a computed offset is
// involved.
func dataNeeded(p *plan.Plan) int {
	if len(p.Imports) > 0 {
		return math.MaxInt
	}
	need := 0
	var walk func(n *plan.Node)
	walk = func(n *plan.Node) {
		if n == nil || need == math.MaxInt {
			return
		}
		switch n.Op {
		case plan.OpEntrypoint:
			need = math.MaxInt
			return
		case plan.OpRead:
			size := int(n.Int &^ (plan.ReadSigned | plan.ReadBigEndian))
			if o := n.Args[0]; o.Op == plan.OpInt && o.Int >= 0 && o.Int < 1<<30 {
				need = max(need, int(o.Int)+size)
			} else {
				need = math.MaxInt
				return
			}
		}
		for _, a := range n.Args {
			walk(a)
		}
	}
	for i := range p.RuleList {
		walk(p.RuleList[i].Cond)
	}
	return need
}
