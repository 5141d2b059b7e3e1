package patterns

import "fmt"

// segment is a run of pattern bytes with no jump inside. A byte b matches
// position i when b&mask[i] == val[i]; val is stored masked.
type segment struct {
	val, mask []byte
}

// gap is a jump between two segments: min to max arbitrary bytes.
type gap struct{ min, max int }

// pattern is a compiled pattern: segments separated by gaps, and the anchor
// that the automaton looks for.
type pattern struct {
	segs []segment
	gaps []gap // gaps[i] separates segs[i] and segs[i+1]

	// The anchor is segs[anchorSeg].val[anchorOff : anchorOff+anchorLen],
	// the longest run of fully fixed bytes.
	anchorSeg, anchorOff, anchorLen int

	maxLen int // the longest match, with every gap at its max
}

// anchor returns the anchor bytes.
func (p *pattern) anchor() []byte {
	return p.segs[p.anchorSeg].val[p.anchorOff : p.anchorOff+p.anchorLen]
}

// parsePattern compiles r.Pattern, literal or hex.
func parsePattern(r Rule) (pattern, error) {
	var (
		p   pattern
		err *ParseError
	)
	if r.Hex {
		p, err = parseHex(r.Pattern)
	} else {
		p, err = parseLiteral(r.Pattern)
	}
	if err == nil {
		err = p.complete()
	}
	if err != nil {
		err.Rule = r.Name
		return pattern{}, err
	}
	return p, nil
}

// errAt reports a parse error at a 1-based column, or for the whole
// pattern when col is 0. The caller fills in the rule's name.
func errAt(col int, format string, args ...any) *ParseError {
	return &ParseError{Col: col, Msg: fmt.Sprintf(format, args...)}
}

func parseLiteral(src string) (pattern, *ParseError) {
	if src == "" {
		return pattern{}, errAt(0, "empty pattern")
	}
	seg := segment{val: []byte(src), mask: make([]byte, len(src))}
	for i := range seg.mask {
		seg.mask[i] = 0xFF
	}
	return pattern{segs: []segment{seg}}, nil
}

// parseHex parses a hex string such as "4D 5A ?? 4? [2-4] ?A".
func parseHex(src string) (pattern, *ParseError) {
	var (
		p       pattern
		cur     segment
		jumpCol int // column of the last jump, when cur is still empty after it
	)
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '[':
			if len(cur.val) == 0 {
				if len(p.segs) == 0 {
					return pattern{}, errAt(i+1, "pattern starts with a jump")
				}
				return pattern{}, errAt(i+1, "jump follows a jump")
			}
			g, n, err := parseJump(src, i)
			if err != nil {
				return pattern{}, err
			}
			p.segs = append(p.segs, cur)
			p.gaps = append(p.gaps, g)
			cur, jumpCol = segment{}, i+1
			i += n
		case isNibble(c):
			if i+1 == len(src) {
				return pattern{}, errAt(i+1, "incomplete byte %q", src[i:])
			}
			if !isNibble(src[i+1]) {
				return pattern{}, errAt(i+2, "unexpected %q, want a hex digit or '?'", src[i+1])
			}
			hv, hm := nibble(c)
			lv, lm := nibble(src[i+1])
			cur.val = append(cur.val, hv<<4|lv)
			cur.mask = append(cur.mask, hm<<4|lm)
			i += 2
		default:
			return pattern{}, errAt(i+1, "unexpected %q", c)
		}
	}
	if len(cur.val) == 0 {
		if len(p.segs) == 0 {
			return pattern{}, errAt(0, "empty pattern")
		}
		return pattern{}, errAt(jumpCol, "pattern ends with a jump")
	}
	p.segs = append(p.segs, cur)
	return p, nil
}

// parseJump parses the jump "[n]" or "[n-m]" at src[i] and returns it with
// its length in bytes.
func parseJump(src string, i int) (gap, int, *ParseError) {
	j := i + 1
	lo, j, err := parseBound(src, j)
	if err != nil {
		return gap{}, 0, err
	}
	hi := lo
	if j < len(src) && src[j] == '-' {
		if j+1 < len(src) && src[j+1] == ']' {
			return gap{}, 0, errAt(j+2, "unbounded jumps are not supported")
		}
		if hi, j, err = parseBound(src, j+1); err != nil {
			return gap{}, 0, err
		}
	}
	if j == len(src) || src[j] != ']' {
		return gap{}, 0, errAt(j+1, "want ']' to close the jump at col %d", i+1)
	}
	if lo > hi {
		return gap{}, 0, errAt(i+1, "jump [%d-%d] has min greater than max", lo, hi)
	}
	return gap{lo, hi}, j + 1 - i, nil
}

// parseBound parses the decimal jump bound at src[j] and returns it with
// the index after it.
func parseBound(src string, j int) (int, int, *ParseError) {
	start, v := j, 0
	for ; j < len(src) && src[j] >= '0' && src[j] <= '9'; j++ {
		v = v*10 + int(src[j]-'0')
		if v > MaxJump {
			return 0, 0, errAt(start+1, "jump bound greater than %d", MaxJump)
		}
	}
	if j == start {
		return 0, 0, errAt(j+1, "want a jump bound (a decimal number)")
	}
	return v, j, nil
}

func isNibble(c byte) bool {
	return c == '?' || c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// nibble returns a hex digit's value and mask; '?' matches anything.
func nibble(c byte) (val, mask byte) {
	switch {
	case c == '?':
		return 0, 0
	case c <= '9':
		return c - '0', 0xF
	case c <= 'F':
		return c - 'A' + 10, 0xF
	default:
		return c - 'a' + 10, 0xF
	}
}

// complete checks the length of a parsed pattern and picks its anchor.
func (p *pattern) complete() *ParseError {
	for _, s := range p.segs {
		p.maxLen += len(s.val)
	}
	for _, g := range p.gaps {
		p.maxLen += g.max
	}
	if p.maxLen > MaxPatternLen {
		return errAt(0, "pattern may match %d bytes, more than %d", p.maxLen, MaxPatternLen)
	}
	for k, s := range p.segs {
		run := 0
		for i, m := range s.mask {
			if m != 0xFF {
				run = 0
				continue
			}
			run++
			if run > p.anchorLen {
				p.anchorSeg, p.anchorOff, p.anchorLen = k, i+1-run, run
			}
		}
	}
	if p.anchorLen == 0 {
		return errAt(0, "pattern has no fixed byte to anchor on")
	}
	return nil
}
