package regex

import (
	"bytes"
	"slices"
)

// Prefixes returns up to maxCount literal byte strings, each at most maxLen
// long, such that every match starts with one of them (after nocase and wide
// expansion). ok is false when no such set exists within the limits, for
// example when a match may start with `.` or a large class. The strings are
// sorted and distinct; the caller owns them.
func (re *Regexp) Prefixes(maxCount, maxLen int) (lits [][]byte, ok bool) {
	return prefixes(re.ast, re.flags, maxCount, maxLen)
}

// Syntax is a parsed expression that is not compiled: enough to ask for
// its prefixes, as an atom choice does, without building its program.
type Syntax struct {
	ast   *node
	flags Flags
}

// Parse parses src as Compile does, without compiling it: an expression
// Parse accepts may still be too complex for Compile.
func Parse(src string, f Flags) (*Syntax, error) {
	ast, _, err := parse(src, f)
	if err != nil {
		return nil, err
	}
	return &Syntax{ast: ast, flags: f}, nil
}

// Prefixes is Regexp.Prefixes of the expression.
func (s *Syntax) Prefixes(maxCount, maxLen int) ([][]byte, bool) {
	return prefixes(s.ast, s.flags, maxCount, maxLen)
}

func prefixes(ast *node, f Flags, maxCount, maxLen int) (lits [][]byte, ok bool) {
	if maxCount <= 0 || maxLen <= 0 {
		return nil, false
	}
	pc := prefixCalc{maxCount: maxCount, maxLen: maxLen, wide: f.Wide}
	ls, ok := pc.of(ast)
	if !ok || len(ls.strs) == 0 {
		return nil, false
	}
	for _, s := range ls.strs {
		if len(s) == 0 { // a match may start with anything
			return nil, false
		}
	}
	// Drop strings another one is a prefix of: it already covers them.
	out := ls.strs[:0]
	for _, s := range ls.strs { // sorted: a prefix comes right before its extensions
		if len(out) > 0 && bytes.HasPrefix(s, out[len(out)-1]) {
			continue
		}
		out = append(out, s)
	}
	return out, true
}

// litSet is a set of strings that every match of a node starts with;
// complete means the node matches exactly those strings, so that what
// follows may be appended.
type litSet struct {
	strs     [][]byte
	complete bool
}

type prefixCalc struct {
	maxCount, maxLen int
	wide             bool
}

var emptyLits = litSet{strs: [][]byte{{}}, complete: true}

// of returns the prefix set of n, or false when it would exceed maxCount.
func (pc *prefixCalc) of(n *node) (litSet, bool) {
	switch n.kind {
	case nSet:
		if n.set.count() > pc.maxCount {
			return litSet{}, false
		}
		var ls litSet
		ls.complete = true
		for c := 0; c < 256; c++ {
			if n.set.has(byte(c)) {
				s := []byte{byte(c)}
				if pc.wide && !n.raw {
					s = append(s, 0)
				}
				ls.strs = append(ls.strs, s)
			}
		}
		return pc.trim(ls), true
	case nConcat:
		return pc.concat(n.subs)
	case nAlt:
		var ls litSet
		ls.complete = true
		for _, s := range n.subs {
			sub, ok := pc.of(s)
			if !ok {
				return litSet{}, false
			}
			ls.strs = append(ls.strs, sub.strs...)
			ls.complete = ls.complete && sub.complete
		}
		ls = pc.trim(ls)
		if len(ls.strs) > pc.maxCount {
			return litSet{}, false
		}
		return ls, true
	case nRepeat:
		sub := n.subs[0]
		if n.min == 0 {
			ls, ok := pc.of(sub)
			if !ok {
				return litSet{}, false
			}
			ls.strs = append(ls.strs, []byte{})
			ls.complete = ls.complete && n.max == 1
			ls = pc.trim(ls)
			if len(ls.strs) > pc.maxCount {
				return litSet{}, false
			}
			return ls, true
		}
		copies := min(n.min, pc.maxLen+1) // each copy adds a byte, or the rest is moot
		subs := make([]*node, copies)
		for i := range subs {
			subs[i] = sub
		}
		ls, ok := pc.concat(subs)
		ls.complete = ls.complete && copies == n.min && n.max == n.min
		return ls, ok
	}
	// Empty and assertions match the empty string.
	return emptyLits, true
}

// concat returns the prefix set of subs in sequence, extending while the
// set so far is complete and within the limits.
func (pc *prefixCalc) concat(subs []*node) (litSet, bool) {
	acc := emptyLits
	for i, s := range subs {
		sub, ok := pc.of(s)
		if !ok {
			if i == 0 {
				return litSet{}, false
			}
			acc.complete = false
			return acc, true
		}
		if len(acc.strs)*len(sub.strs) > pc.maxCount {
			acc.complete = false
			return acc, true
		}
		next := litSet{complete: sub.complete}
		for _, a := range acc.strs {
			for _, b := range sub.strs {
				next.strs = append(next.strs, append(slices.Clip(a), b...))
			}
		}
		acc = pc.trim(next)
		if !acc.complete {
			return acc, true
		}
	}
	return acc, true
}

// trim cuts strings to maxLen (making the set incomplete if any was cut),
// then sorts and removes duplicates.
func (pc *prefixCalc) trim(ls litSet) litSet {
	for i, s := range ls.strs {
		if len(s) > pc.maxLen {
			ls.strs[i] = s[:pc.maxLen]
			ls.complete = false
		}
	}
	slices.SortFunc(ls.strs, bytes.Compare)
	ls.strs = slices.CompactFunc(ls.strs, bytes.Equal)
	return ls
}
