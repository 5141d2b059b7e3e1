package scan

import (
	"encoding/binary"

	"athena/internal/yara/atomfilter"
)

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
	// filter says at which offsets some atom may start: its f4 has the
	// four-byte atoms, its f2 the first two bytes of every two- and
	// three-byte atom. A third set for three-byte atoms made the loop a
	// third slower, and such atoms are rare.
	filter *atomfilter.Filter
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

// maxBucketBits bounds a group's buckets to 2^16; a group has about one
// bucket per atom, so that its bucket starts stay small enough for the
// caches.
const maxBucketBits = 16

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
		nb := uint32(4)
		for nb < maxBucketBits && 1<<nb < count {
			nb++
		}
		g.bucketShift = bits - nb
		g.start = make([]uint32, 1<<nb+1)
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
		fill := append([]uint32{}, g.start[:1<<nb]...)
		for i, a := range atoms {
			if len(a.bytes) == n {
				h := g.hash(load(a.bytes)) >> g.bucketShift
				g.list[fill[h]] = int32(i)
				fill[h]++
			}
		}
		x.groups = append(x.groups, g)
	}
	n4 := 0
	for _, a := range atoms {
		if len(a.bytes) == 4 {
			n4++
		}
	}
	x.filter = atomfilter.New(n4)
	for _, a := range atoms {
		switch len(a.bytes) {
		case 4:
			x.filter.Add4(load(a.bytes))
		case 2, 3:
			x.filter.Add2(uint16(load(a.bytes)))
		}
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
	i := from
	if i < to {
		i = s.scanFast(i, to)
	}
	// The offsets the fast loop left: each group on its own, where the
	// last offsets of the file see their atoms cut short.
	for ; i < to; i++ {
		s.probe(i)
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

// scanFast runs the atom filter over offsets [from, to) and probes the
// offsets where it passed; it returns the first offset it did not look at
// (the filter leaves the last few).
func (s *Scanner) scanFast(from, to int) int {
	data := s.win[from:]
	n := to - from
	i := 0
	for {
		var next int
		s.found, next = s.find(data[i:], n-i, s.found[:0])
		for _, off := range s.found {
			s.probe(from + i + int(off))
		}
		if next == 0 {
			return from + i
		}
		i += next
	}
}

// probe looks for the atoms of every group at window offset i.
func (s *Scanner) probe(i int) {
	win := s.win
	var v uint32
	if i+4 <= len(win) {
		v = binary.LittleEndian.Uint32(win[i:])
	} else {
		v = load(win[i:])
	}
	for _, g := range s.index.groups {
		if i+g.n > len(win) {
			continue
		}
		h := g.hash(v)
		if g.bits[h>>6]&(1<<(h&63)) != 0 {
			s.bucket(g.bucketOf(h), i)
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
