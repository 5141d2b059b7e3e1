package scan

import "encoding/binary"

// atomIndex finds atoms in data. Instead of an automaton whose table would
// not fit in the CPU caches with thousands of atoms, atoms are grouped by
// length (4, 3, 2 and 1 bytes) and each group is a hash set of its atoms:
// a bit set small enough to stay in L1 rejects almost every offset with one
// load, and the offsets that pass compare the few atoms of their bucket.
type atomIndex struct {
	groups []*atomGroup // by decreasing length
	// single are the one-byte atoms by byte, for strings of one byte.
	single    [256][]int32
	hasSingle bool
}

// atomGroup is the atoms of one length.
type atomGroup struct {
	n     int    // atom length, 2 to 4
	mask  uint32 // keeps the first n bytes of a little-endian load
	shift uint32 // hash bits are the top 32-shift bits
	bits  []uint64
	// The atoms whose hash is h are in bucket b = h>>bucketShift:
	// list[start[b]:start[b+1]].
	bucketShift uint32
	start       []uint32
	list        []int32
}

// bucketBits is the number of buckets of a group, 2^16.
const bucketBits = 16

// hashBits is the bit set size of each group by atom length: big enough
// for few false hits, small enough for the L1 cache.
var hashBits = [5]uint32{2: 16, 3: 17, 4: 18}

func (g *atomGroup) bucketOf(h uint32) []int32 {
	b := h >> g.bucketShift
	return g.list[g.start[b]:g.start[b+1]]
}

func (g *atomGroup) hash(v uint32) uint32 { return ((v & g.mask) * 0x9E3779B1) >> g.shift }

func newAtomIndex(atoms []atom) *atomIndex {
	x := &atomIndex{}
	for n := 4; n >= 2; n-- {
		count := 0
		for _, a := range atoms {
			if len(a.bytes) == n {
				count++
			}
		}
		if count == 0 {
			continue
		}
		// About 32 bits per atom keeps false hits near 3%; past the L1
		// cache that costs misses, but fewer than buckets would.
		bits := hashBits[n]
		for n > 2 && bits < 22 && 1<<bits < 32*count {
			bits++
		}
		g := &atomGroup{n: n, mask: uint32(1)<<(8*n) - 1, shift: 32 - bits}
		if n == 4 {
			g.mask = 0xFFFFFFFF
		}
		g.bits = make([]uint64, 1<<bits/64)
		g.bucketShift = bits - bucketBits
		g.start = make([]uint32, 1<<bucketBits+1)
		for _, a := range atoms {
			if len(a.bytes) == n {
				h := g.hash(load(a.bytes))
				g.bits[h>>6] |= 1 << (h & 63)
				g.start[h>>g.bucketShift+1]++
			}
		}
		for h := 1; h < len(g.start); h++ {
			g.start[h] += g.start[h-1]
		}
		g.list = make([]int32, count)
		fill := append([]uint32{}, g.start[:1<<bucketBits]...)
		for i, a := range atoms {
			if len(a.bytes) == n {
				h := g.hash(load(a.bytes)) >> g.bucketShift
				g.list[fill[h]] = int32(i)
				fill[h]++
			}
		}
		x.groups = append(x.groups, g)
	}
	for i, a := range atoms {
		if len(a.bytes) == 1 {
			x.single[a.bytes[0]] = append(x.single[a.bytes[0]], int32(i))
			x.hasSingle = true
		}
	}
	return x
}

// load reads up to 4 bytes little-endian.
func load(b []byte) uint32 {
	var v uint32
	for i := min(len(b), 4) - 1; i >= 0; i-- {
		v = v<<8 | uint32(b[i])
	}
	return v
}

// scanAtoms looks for atoms starting at window offsets [from, to); atoms
// that would run past the window's end are not reported, so callers pass
// to > len(win)-4 only at the end of the file.
func (s *Scanner) scanAtoms(from, to int) {
	win := s.win
	// The fast loop: offsets with 4 bytes in the window, every group
	// checked from one load.
	fast := min(to, len(win)-3)
	groups := s.index.groups
	switch len(groups) {
	case 1:
		g := groups[0]
		bits, shift, mask := g.bits, g.shift, g.mask
		for i := from; i < fast; i++ {
			v := binary.LittleEndian.Uint32(win[i : i+4])
			if h := ((v & mask) * 0x9E3779B1) >> shift; bits[h>>6]&(1<<(h&63)) != 0 {
				s.bucket(g.bucketOf(h), i)
			}
		}
	case 2:
		g, g2 := groups[0], groups[1]
		bits, shift, mask := g.bits, g.shift, g.mask
		bits2, shift2, mask2 := g2.bits, g2.shift, g2.mask
		for i := from; i < fast; i++ {
			v := binary.LittleEndian.Uint32(win[i : i+4])
			h := ((v & mask) * 0x9E3779B1) >> shift
			h2 := ((v & mask2) * 0x9E3779B1) >> shift2
			if bits[h>>6]&(1<<(h&63)) != 0 {
				s.bucket(g.bucketOf(h), i)
			}
			if bits2[h2>>6]&(1<<(h2&63)) != 0 {
				s.bucket(g2.bucketOf(h2), i)
			}
		}
	default:
		for _, g := range groups {
			bits, shift, mask := g.bits, g.shift, g.mask
			for i := from; i < fast; i++ {
				v := binary.LittleEndian.Uint32(win[i : i+4])
				if h := ((v & mask) * 0x9E3779B1) >> shift; bits[h>>6]&(1<<(h&63)) != 0 {
					s.bucket(g.bucketOf(h), i)
				}
			}
		}
	}
	// The last offsets of the file, where atoms are cut short.
	for _, g := range groups {
		for i := max(from, fast); i < to && i+g.n <= len(win); i++ {
			h := g.hash(load(win[i : i+g.n]))
			if g.bits[h>>6]&(1<<(h&63)) != 0 {
				s.bucket(g.bucketOf(h), i)
			}
		}
	}
	if s.index.hasSingle {
		for i := from; i < to; i++ {
			if l := s.index.single[win[i]]; len(l) > 0 {
				s.bucket(l, i)
			}
		}
	}
	if len(s.slow) > 0 {
		for i := from; i < to; i++ {
			for _, pi := range s.slowBy[win[i]] {
				s.candidate(pi, s.winBase+int64(i))
			}
		}
	}
}

// bucket checks the atoms of list at window offset i.
func (s *Scanner) bucket(list []int32, i int) {
	win := s.win
	if i+4 <= len(win) {
		v := binary.LittleEndian.Uint32(win[i : i+4])
		for _, ai := range list {
			a := &s.atoms[ai]
			if v&a.mask != a.val {
				continue
			}
			if start := s.winBase + int64(i) - int64(a.off); start >= 0 {
				s.candidate(a.pat, start)
			}
		}
		return
	}
	for _, ai := range list {
		a := &s.atoms[ai]
		if i+len(a.bytes) > len(win) || string(win[i:i+len(a.bytes)]) != string(a.bytes) {
			continue
		}
		if start := s.winBase + int64(i) - int64(a.off); start >= 0 {
			s.candidate(a.pat, start)
		}
	}
}
