package patterns

import (
	"cmp"
	"maps"
	"slices"

	"athena/internal/core"
	"athena/modules/sdk"
)

// blockSize is the most bytes scanned at once: Feed cuts larger chunks into
// blocks. It bounds the window and the matches gathered before they are
// sorted and emitted.
const blockSize = 16 << 10

// New returns an Analyzer for the built-in rules (DefaultRules). It is the
// module's sdk.New; it compiles the rules, once per instance.
func New(emit sdk.Emit) sdk.Analyzer {
	set, err := Compile(DefaultRules())
	if err != nil {
		panic(err) // the built-in rules are tested to compile
	}
	return NewAnalyzer(set, emit)
}

// Analyzer finds the rules of a Set in one file at a time and reports the
// matches through emit (see the package documentation). It implements
// sdk.Analyzer and is ready for a file's bytes when made. It is not safe
// for concurrent use.
type Analyzer struct {
	set  *Set
	emit sdk.Emit

	state   int32       // automaton state after the bytes so far
	win     window      // the last bytes of the file
	pending []candidate // anchor hits whose match needs more bytes
	matches []match     // matches completed in the current block
	total   []int       // per rule: distinct matches so far
	// seen[r] is nil unless rule r has a jump before its anchor, so that
	// two anchor hits may give the same start; then it holds the starts
	// of its recent matches.
	seen []map[int64]struct{}

	fw, bw [2][]int64 // scratch offset sets of forward and backward
}

var _ sdk.Analyzer = (*Analyzer)(nil)

// candidate is an anchor hit that has matched so far but needs more bytes.
type candidate struct {
	rule   int
	pos    int64   // offset of the anchor's segment
	starts []int64 // the offsets where the match may start
}

// match is a match of a rule, [start, end) in the file.
type match struct {
	end, start int64
	rule       int
}

// outcome is the result of verifying a pattern against the bytes so far.
type outcome uint8

const (
	mismatch outcome = iota // no match, whatever bytes come next
	matched                 // a match lies within the bytes so far
	needMore                // no match yet, but one may follow
)

// NewAnalyzer returns an Analyzer for set that reports through emit.
func NewAnalyzer(set *Set, emit sdk.Emit) *Analyzer {
	a := &Analyzer{
		set:   set,
		emit:  emit,
		win:   window{buf: make([]byte, 0, set.maxLen+blockSize), keep: set.maxLen},
		total: make([]int, len(set.rules)),
		seen:  make([]map[int64]struct{}, len(set.rules)),
	}
	for r, p := range set.pats {
		if p.anchorSeg > 0 {
			a.seen[r] = make(map[int64]struct{})
		}
	}
	return a
}

// Begin starts a new file; the metadata is not used.
func (a *Analyzer) Begin(core.FileMeta) error {
	a.state = 0
	a.win.buf, a.win.start = a.win.buf[:0], 0
	clear(a.pending)
	a.pending = a.pending[:0]
	clear(a.total)
	for _, s := range a.seen {
		clear(s)
	}
	return nil
}

// Feed scans the next bytes of the file and reports the matches they
// complete. It never fails.
func (a *Analyzer) Feed(chunk []byte) error {
	for len(chunk) > 0 {
		n := min(len(chunk), blockSize)
		a.scan(chunk[:n])
		chunk = chunk[n:]
	}
	return nil
}

// Finish reports a summary finding for each rule that had more than
// MaxFindingsPerRule matches. Matches still waiting for bytes are dropped.
func (a *Analyzer) Finish() error {
	for r, n := range a.total {
		if n <= MaxFindingsPerRule {
			continue
		}
		rule := &a.set.rules[r]
		a.emit(core.Finding{
			Kind:     Kind,
			Rule:     rule.Name,
			Severity: rule.Severity,
			Detail: map[string]any{
				"description": rule.Description,
				"matches":     n,
				"reported":    MaxFindingsPerRule,
				"truncated":   true,
			},
		})
	}
	return nil
}

// scan handles one block of at most blockSize bytes.
func (a *Analyzer) scan(b []byte) {
	base := a.win.end()
	a.win.push(b)
	a.matches = a.matches[:0]

	// Hits from earlier blocks first; the order does not matter, as
	// flush sorts.
	kept := a.pending[:0]
	for _, c := range a.pending {
		switch end, o := a.forward(&a.set.pats[c.rule], c.pos); o {
		case matched:
			a.found(c.rule, c.starts, end)
		case needMore:
			kept = append(kept, c)
		}
	}
	clear(a.pending[len(kept):])
	a.pending = kept

	ac := &a.set.ac
	next, final, out, leaves := ac.next, ac.final, ac.out, &ac.leaves
	s := a.state
	for i := 0; i < len(b); i++ {
		if s == 0 {
			// Skip the bytes that start no anchor, eight at a time.
			// These lookups do not depend on each other, unlike the
			// state transitions below, so they run several times faster.
			for ; i+8 <= len(b); i += 8 {
				x := b[i : i+8 : i+8]
				if leaves[x[0]]|leaves[x[1]]|leaves[x[2]]|leaves[x[3]]|
					leaves[x[4]]|leaves[x[5]]|leaves[x[6]]|leaves[x[7]] != 0 {
					break
				}
			}
			for i < len(b) && leaves[b[i]] == 0 {
				i++
			}
			if i == len(b) {
				break
			}
		}
		s = next[int(s)<<8|int(b[i])]
		if final[s] {
			for _, r := range out[s] {
				a.hit(int(r), base+int64(i)+1)
			}
		}
	}
	a.state = s
	a.flush()
}

// hit verifies an occurrence of rule r's anchor that ends at offset end.
func (a *Analyzer) hit(r int, end int64) {
	p := &a.set.pats[r]
	pos := end - int64(p.anchorOff+p.anchorLen)
	if pos < 0 {
		return
	}
	e, o := a.forward(p, pos)
	if o == mismatch {
		return
	}
	starts := a.backward(p, pos)
	if len(starts) == 0 {
		return
	}
	if o == matched {
		a.found(r, starts, e)
		return
	}
	a.pending = append(a.pending, candidate{rule: r, pos: pos, starts: slices.Clone(starts)})
}

// found records that rule r matches from each of starts to end.
func (a *Analyzer) found(r int, starts []int64, end int64) {
	for _, s := range starts {
		a.matches = append(a.matches, match{end: end, start: s, rule: r})
	}
}

// forward matches p from its anchor segment on, with that segment at
// offset pos, against the bytes so far. When it matches, it returns the end
// of the shortest match.
//
// It tracks the set of offsets where the next segment may begin, in
// ascending order. A match found in the last segment is the shortest: any
// alternative still needing bytes would end after the window, so later.
func (a *Analyzer) forward(p *pattern, pos int64) (int64, outcome) {
	cur, nxt := append(a.fw[0][:0], pos), a.fw[1][:0]
	defer func() { a.fw[0], a.fw[1] = cur, nxt }() // keep the grown buffers
	more := false
	for k := p.anchorSeg; k < len(p.segs) && len(cur) > 0; k++ {
		seg := &p.segs[k]
		n := int64(len(seg.val))
		for _, q := range cur {
			switch seg.check(&a.win, q) {
			case mismatch:
				continue
			case needMore:
				more = true
				continue
			}
			if k == len(p.segs)-1 {
				return q + n, matched
			}
			g := p.gaps[k]
			for d := g.min; d <= g.max; d++ {
				if v := q + n + int64(d); len(nxt) == 0 || v > nxt[len(nxt)-1] {
					nxt = append(nxt, v)
				}
			}
		}
		cur, nxt = nxt, cur[:0]
	}
	if more {
		return 0, needMore
	}
	return 0, mismatch
}

// backward returns, in ascending order, the offsets where p may start when
// its anchor segment is at offset pos, by matching the segments before it.
// They lie before the anchor, so all their bytes are in the window. The
// result is valid until the next call.
func (a *Analyzer) backward(p *pattern, pos int64) []int64 {
	cur, nxt := append(a.bw[0][:0], pos), a.bw[1][:0]
	for k := p.anchorSeg - 1; k >= 0 && len(cur) > 0; k-- {
		seg := &p.segs[k]
		n := int64(len(seg.val))
		g := p.gaps[k]
		tried := int64(-1) // the candidates come in ascending order
		for _, x := range cur {
			for d := g.max; d >= g.min; d-- {
				q := x - int64(d) - n
				if q < 0 || q <= tried {
					continue
				}
				tried = q
				if seg.check(&a.win, q) == matched {
					nxt = append(nxt, q)
				}
			}
		}
		cur, nxt = nxt, cur[:0]
	}
	a.bw[0], a.bw[1] = cur, nxt
	return cur
}

// flush reports the block's matches in order and forgets the starts that
// no later match can repeat.
func (a *Analyzer) flush() {
	slices.SortFunc(a.matches, func(x, y match) int {
		return cmp.Or(cmp.Compare(x.end, y.end), cmp.Compare(x.rule, y.rule), cmp.Compare(x.start, y.start))
	})
	for _, m := range a.matches {
		if seen := a.seen[m.rule]; seen != nil {
			// Sorted by end, the first match of a start is its shortest.
			if _, dup := seen[m.start]; dup {
				continue
			}
			seen[m.start] = struct{}{}
		}
		a.total[m.rule]++
		if a.total[m.rule] <= MaxFindingsPerRule {
			rule := &a.set.rules[m.rule]
			a.emit(core.Finding{
				Kind:     Kind,
				Rule:     rule.Name,
				Severity: rule.Severity,
				Offset:   m.start,
				Length:   m.end - m.start,
				Detail:   map[string]any{"description": rule.Description},
			})
		}
	}
	// Later matches end after the window, so they start after
	// end-maxLen; at most maxLen starts stay.
	for r, seen := range a.seen {
		if maxLen := a.set.pats[r].maxLen; len(seen) > maxLen {
			horizon := a.win.end() - int64(maxLen)
			maps.DeleteFunc(seen, func(s int64, _ struct{}) bool { return s <= horizon })
		}
	}
}

// check matches the segment at offset at against the window. It reads
// only bytes the window holds: at is never before the window's start.
func (s *segment) check(w *window, at int64) outcome {
	end := w.end()
	for i, v := range s.val {
		j := at + int64(i)
		if j >= end {
			return needMore
		}
		if w.buf[j-w.start]&s.mask[i] != v {
			return mismatch
		}
	}
	return matched
}

// window holds the last bytes of the file: the block being scanned and at
// least keep bytes before it (all of them near the start of the file).
// Its capacity is keep+blockSize; it never grows.
type window struct {
	buf   []byte
	start int64 // file offset of buf[0]
	keep  int
}

// end returns the file offset just after the last byte.
func (w *window) end() int64 { return w.start + int64(len(w.buf)) }

// push appends a block of at most blockSize bytes, first dropping all but
// the last keep bytes when there is no room.
func (w *window) push(b []byte) {
	if len(w.buf)+len(b) > cap(w.buf) {
		drop := len(w.buf) - w.keep
		w.buf = w.buf[:copy(w.buf, w.buf[drop:])]
		w.start += int64(drop)
	}
	w.buf = append(w.buf, b...)
}
