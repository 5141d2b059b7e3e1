package scan

import (
	"encoding/binary"

	"athena/internal/yara/plan"
)

// maxMatch is the longest match a hex string or a regexp may have, as in
// yara.
const maxMatch = 4096

// hexInst is one instruction of a compiled hex string.
type hexInst struct {
	op          uint8 // hexByteOp, hexJumpOp, hexAltOp, hexGotoOp
	value, mask byte
	not         bool
	min, max    int   // jump; max -1 is unbounded
	alts        []int // start pc of each alternative
	target      int   // goto
}

const (
	hexByteOp uint8 = iota
	hexJumpOp
	hexAltOp
	hexGotoOp
)

// hexProg is a hex string as a small program run by backtracking: jumps
// prefer their shortest length, alternatives their order, like yara's
// matcher.
type hexProg struct {
	code           []hexInst
	minLen, maxLen int
	// qmask and qval check the first qlen bytes (a fixed-position
	// prefix, at most 8) with one load before the program runs.
	qmask, qval uint64
	qlen        int
}

func compileHex(toks []plan.HexToken) *hexProg {
	p := &hexProg{}
	p.emit(toks)
	p.minLen = hexMinLen(toks)
	p.maxLen = min(hexMaxLen(toks), maxMatch)
	for pc := 0; pc < len(p.code) && p.qlen < 8; pc++ {
		in := &p.code[pc]
		if in.op == hexJumpOp && in.min == in.max && p.qlen+in.min <= 8 {
			p.qlen += in.min
			continue
		}
		if in.op != hexByteOp {
			break
		}
		if !in.not {
			p.qmask |= uint64(in.mask) << (8 * p.qlen)
			p.qval |= uint64(in.value) << (8 * p.qlen)
		}
		p.qlen++
	}
	return p
}

// quickReject reports whether data at start cannot match, from the fixed
// prefix alone; data must hold 8 bytes from start.
func (p *hexProg) quickReject(data []byte, start int) bool {
	return binary.LittleEndian.Uint64(data[start:start+8])&p.qmask != p.qval
}

// hexMaxLen is the longest a match can be, maxMatch when unbounded.
func hexMaxLen(toks []plan.HexToken) int {
	n := 0
	for _, t := range toks {
		switch t.Kind {
		case plan.HexByte:
			n++
		case plan.HexJump:
			if t.Max < 0 {
				return maxMatch
			}
			n += t.Max
		case plan.HexAlt:
			best := 0
			for _, a := range t.Alts {
				best = max(best, hexMaxLen(a))
			}
			n += best
		}
		if n >= maxMatch {
			return maxMatch
		}
	}
	return n
}

func (p *hexProg) emit(toks []plan.HexToken) {
	for _, t := range toks {
		switch t.Kind {
		case plan.HexByte:
			p.code = append(p.code, hexInst{op: hexByteOp, value: t.Value & t.Mask, mask: t.Mask, not: t.Not})
		case plan.HexJump:
			p.code = append(p.code, hexInst{op: hexJumpOp, min: t.Min, max: t.Max})
		case plan.HexAlt:
			at := len(p.code)
			p.code = append(p.code, hexInst{op: hexAltOp})
			var gotos []int
			for _, a := range t.Alts {
				p.code[at].alts = append(p.code[at].alts, len(p.code))
				p.emit(a)
				gotos = append(gotos, len(p.code))
				p.code = append(p.code, hexInst{op: hexGotoOp})
			}
			for _, g := range gotos {
				p.code[g].target = len(p.code)
			}
		}
	}
}

func hexMinLen(toks []plan.HexToken) int {
	n := 0
	for _, t := range toks {
		switch t.Kind {
		case plan.HexByte:
			n++
		case plan.HexJump:
			n += t.Min
		case plan.HexAlt:
			best := -1
			for _, a := range t.Alts {
				if l := hexMinLen(a); best < 0 || l < best {
					best = l
				}
			}
			n += max(best, 0)
		}
	}
	return n
}

// match returns the length of the match at data[start:], or -1. Matches are
// at most maxMatch bytes; steps bounds the backtracking work.
func (p *hexProg) match(data []byte, start int) int {
	end := min(len(data), start+maxMatch)
	steps := 1 << 16
	return p.run(data[:end], 0, start, start, &steps)
}

func (p *hexProg) run(data []byte, pc, pos, start int, steps *int) int {
	for {
		*steps--
		if *steps < 0 {
			return -1
		}
		if pc == len(p.code) {
			return pos - start
		}
		in := &p.code[pc]
		switch in.op {
		case hexByteOp:
			if pos >= len(data) || (data[pos]&in.mask == in.value) == in.not {
				return -1
			}
			pos++
			pc++
		case hexGotoOp:
			pc = in.target
		case hexAltOp:
			for _, a := range in.alts {
				if n := p.run(data, a, pos, start, steps); n >= 0 {
					return n
				}
			}
			return -1
		case hexJumpOp:
			hi := len(data) - pos
			if in.max >= 0 && in.max < hi {
				hi = in.max
			}
			for k := in.min; k <= hi; k++ {
				if n := p.run(data, pc+1, pos+k, start, steps); n >= 0 {
					return n
				}
			}
			return -1
		}
	}
}

// prefixes returns byte strings of at most maxLen bytes such that every
// match starts with one of them, at most maxCount of them; ok is false when
// some match may start with a byte no prefix covers (a leading wildcard).
func (p *hexProg) prefixes(maxCount, maxLen int) (out [][]byte, ok bool) {
	ok = true
	var walk func(pc int, cur []byte)
	walk = func(pc int, cur []byte) {
		if !ok {
			return
		}
		for {
			if len(cur) == maxLen || pc == len(p.code) {
				out = append(out, append([]byte{}, cur...))
				break
			}
			in := &p.code[pc]
			if in.op == hexGotoOp {
				pc = in.target
				continue
			}
			if in.op == hexAltOp {
				for _, a := range in.alts {
					walk(a, cur)
				}
				return
			}
			if in.op == hexJumpOp {
				if in.min == 0 && in.max == 0 {
					pc++
					continue
				}
				out = append(out, append([]byte{}, cur...))
				break
			}
			// A byte: expand its values.
			vals := byteValues(in)
			if len(vals) != 1 {
				if len(vals) > 16 || len(cur) > 0 && len(out)+len(vals) > maxCount {
					out = append(out, append([]byte{}, cur...))
					break
				}
				for _, v := range vals {
					walk(pc+1, append(cur[:len(cur):len(cur)], v))
				}
				return
			}
			cur = append(cur, vals[0])
			pc++
		}
		if len(out) > maxCount {
			ok = false
		}
	}
	walk(0, nil)
	for _, s := range out {
		if len(s) == 0 {
			ok = false
		}
	}
	return out, ok
}

func byteValues(in *hexInst) []byte {
	var vals []byte
	for b := 0; b < 256; b++ {
		if (byte(b)&in.mask == in.value) != in.not {
			vals = append(vals, byte(b))
		}
	}
	return vals
}

// firstBytes is the set of bytes a match can start with.
func (p *hexProg) firstBytes() *[256]bool {
	var set [256]bool
	var walk func(pc int)
	seen := map[int]bool{}
	walk = func(pc int) {
		for pc < len(p.code) && !seen[pc] {
			seen[pc] = true
			in := &p.code[pc]
			switch in.op {
			case hexGotoOp:
				pc = in.target
				continue
			case hexAltOp:
				for _, a := range in.alts {
					walk(a)
				}
				return
			case hexJumpOp:
				for b := range set {
					set[b] = true
				}
				return
			}
			for _, v := range byteValues(in) {
				set[v] = true
			}
			return
		}
		if pc >= len(p.code) {
			for b := range set {
				set[b] = true
			}
		}
	}
	walk(0)
	return &set
}

// fixedAtom finds the best run of up to 4 exact bytes at a fixed distance
// from the match start (before any variable jump or alternative), for hex
// strings whose start is a wildcard. ok is false when there is none.
func (p *hexProg) fixedAtom() (off int, atom []byte, ok bool) {
	var pos []int   // offset of each exact byte
	var vals []byte // its value
	at := 0
	for pc := 0; pc < len(p.code); pc++ {
		in := &p.code[pc]
		if in.op == hexJumpOp && in.min == in.max {
			at += in.min
			continue
		}
		if in.op != hexByteOp {
			break
		}
		if in.mask == 0xFF && !in.not {
			pos = append(pos, at)
			vals = append(vals, in.value)
		}
		at++
	}
	bestQ := -1
	for i := range pos {
		j := i
		for j+1 < len(pos) && j+1-i < 4 && pos[j+1] == pos[j]+1 {
			j++
		}
		run := vals[i : j+1]
		q := 0
		for _, c := range run {
			q += byteQuality(c, false)
		}
		if q > bestQ {
			bestQ, off, atom = q, pos[i], run
		}
	}
	return off, atom, bestQ >= 0
}
