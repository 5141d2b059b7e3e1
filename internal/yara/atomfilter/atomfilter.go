// Package atomfilter is the first stage of the YARA scanner: two bit sets
// that say at which offsets of the data an atom (a string's literal of 2 to
// 4 bytes) may start. It is the only per-byte loop of a scan, so it is kept
// apart, with a compact wire form, for two callers: the scanner itself
// (internal/yara/scan, in Go, native or compiled to wasm) and the engine's
// host import filter_find (module ABI v1.4), which runs the same loop
// natively over a window of the pattern module's memory.
//
// The wire form (little-endian) is
//
//	form u32 (2) | bits u32 | f4 [2^bits/64]u64 | f2 [1024]u64
//
// f4 is a Bloom filter of the 4-byte atoms with two bits per atom, both
// in one 512-bit block so that a probe touches one cache line: for the
// atom's bytes loaded as v and h = v * Mul (64 bits), bit i = h >> (64 -
// bits) and bit i ^ (h >> 31 & 511). f2 has bit v for the first two bytes
// v of every 2- and 3-byte atom. A Filter decoded with Decode never indexes
// out of its sets, whatever the bytes were.
//
// Form 1 (one bit per atom from a 32-bit hash) let 1.3% of the offsets of
// text through with 1,000 rules, almost all of them frequent 4-grams whose
// one bit some atom had set; two bits let 0.05% through (BENCHMARKS.md).
package atomfilter

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"unsafe"
)

// Mul is the multiplier of the 4-byte hash.
const Mul = 0x9E3779B97F4A7C15

// F2Words is the size of the 2-byte set: one bit per 16-bit value.
const F2Words = 1 << 16 / 64

// Form is the wire form's number.
const Form = 2

// Bits bounds the f4 set: 2^MinBits (one 512-bit block) to 2^MaxBits bits
// (2 MiB).
const (
	MinBits = 9
	MaxBits = 24
)

// bitsPerAtom sizes f4: with two bits per atom, about 64 bits per atom
// keeps false hits near 0.1%.
const bitsPerAtom = 64

// Filter is the two sets.
type Filter struct {
	F4   []uint64 // 2^Bits bits
	Bits uint32   // MinBits to MaxBits
	F2   *[F2Words]uint64
}

// New returns an empty filter sized for n 4-byte atoms.
func New(n int) *Filter {
	b := uint32(MinBits)
	for b < MaxBits && 1<<b < bitsPerAtom*n {
		b++
	}
	return &Filter{F4: make([]uint64, 1<<b/64), Bits: b, F2: new([F2Words]uint64)}
}

// probes are the two f4 bits of the 4 bytes loaded as v.
func (f *Filter) probes(v uint32) (i, j uint64) {
	h := uint64(v) * Mul
	i = h >> (64 - f.Bits&63)
	return i, i ^ h>>31&511
}

// Add4 adds the 4-byte atom loaded (little-endian) as v.
func (f *Filter) Add4(v uint32) {
	i, j := f.probes(v)
	f.F4[i>>6] |= 1 << (i & 63)
	f.F4[j>>6] |= 1 << (j & 63)
}

// Add2 adds the first two bytes, loaded as v, of a 2- or 3-byte atom.
func (f *Filter) Add2(v uint16) { f.F2[v>>6] |= 1 << (v & 63) }

// Has reports whether the 4 bytes loaded as v pass: both of their f4 bits
// are set, or f2 has their first two.
func (f *Filter) Has(v uint32) bool {
	i, j := f.probes(v)
	h2 := v & 0xFFFF
	return f.F4[i>>6]&(1<<(i&63)) != 0 && f.F4[j>>6]&(1<<(j&63)) != 0 || f.F2[h2>>6]&(1<<(h2&63)) != 0
}

// Encode returns the wire form.
func (f *Filter) Encode() []byte {
	b := make([]byte, 8, 8+8*len(f.F4)+8*F2Words)
	binary.LittleEndian.PutUint32(b, Form)
	binary.LittleEndian.PutUint32(b[4:], f.Bits)
	for _, w := range f.F4 {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	for _, w := range f.F2 {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

// check validates the header of the wire form b and returns f4's bits.
func check(b []byte) (uint32, error) {
	if len(b) < 8 {
		return 0, errors.New("atomfilter: short header")
	}
	if binary.LittleEndian.Uint32(b) != Form {
		return 0, errors.New("atomfilter: unknown wire form")
	}
	nb := binary.LittleEndian.Uint32(b[4:])
	if nb < MinBits || nb > MaxBits {
		return 0, errors.New("atomfilter: f4 size out of range")
	}
	if uint64(len(b)) != 8+(1<<nb)/8+8*F2Words {
		return 0, errors.New("atomfilter: set sizes do not match")
	}
	return nb, nil
}

// View is Decode without the copy where it can: on a little-endian host,
// when b's sets are 8-byte aligned, the Filter's sets are b itself, so b
// must stay unchanged and alive while the Filter is used.
func View(b []byte) (*Filter, error) {
	nb, err := check(b)
	if err != nil {
		return nil, err
	}
	n := uintptr(1) << nb / 64
	if !littleEndian || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 != 0 {
		return Decode(b)
	}
	f4 := unsafe.Pointer(&b[8])
	return &Filter{
		F4:   unsafe.Slice((*uint64)(f4), n),
		Bits: nb,
		F2:   (*[F2Words]uint64)(unsafe.Add(f4, 8*n)),
	}, nil
}

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Decode reads the wire form. The sets are copied, so b may change after.
func Decode(b []byte) (*Filter, error) {
	nb, err := check(b)
	if err != nil {
		return nil, err
	}
	f := &Filter{F4: make([]uint64, 1<<nb/64), Bits: nb, F2: new([F2Words]uint64)}
	b = b[8:]
	for i := range f.F4 {
		f.F4[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	b = b[8*len(f.F4):]
	for i := range f.F2 {
		f.F2[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return f, nil
}

// stride is how many offsets one round of Find looks at.
const stride = 8

// Find appends to out, up to its capacity, the offsets i < n whose bytes
// pass (Has), and returns them with the offset where
// it stopped: every offset before it was looked at. It looks at offsets in
// rounds of 8 and stops before a round that would not fit in n, that would
// read past data (a round at i reads bytes i to i+11), or that could
// overflow out; the caller looks at the offsets left some other way, or
// calls again.
//
// A round loads its bytes in two 8-byte words and probes both sets at
// every offset without a branch. In wasm compiled from Go, where a bounds
// check is a compare and a branch and every loop iteration goes back
// through the function's block dispatch, this is about 6 times faster than
// a checked loop over single offsets.
func (f *Filter) Find(data []byte, n int, out []uint32) ([]uint32, int) {
	if f.Bits < MinBits || f.Bits > MaxBits || len(f.F4) != 1<<f.Bits/64 || f.F2 == nil {
		return out, 0
	}
	n = min(n, len(data)-4) // a round at i+8 <= n reads bytes i to i+11 < len(data)
	// Probes are below 2^Bits, the bits F4 holds (checked above), F2 has
	// all 16-bit values.
	p := unsafe.Pointer(unsafe.SliceData(data))
	b4, s4 := unsafe.Pointer(unsafe.SliceData(f.F4)), (64-f.Bits)&63
	b2 := unsafe.Pointer(f.F2)
	pass := func(v uint32) uint64 {
		h := uint64(v) * Mul
		i := h >> s4
		j := i ^ h>>31&511
		h2 := v & 0xFFFF
		return *(*uint64)(unsafe.Add(b4, i>>6*8))>>(i&63)&(*(*uint64)(unsafe.Add(b4, j>>6*8))>>(j&63)) |
			*(*uint64)(unsafe.Add(b2, h2>>6*8))>>(h2&63)
	}
	i := 0
	for ; i+stride <= n && len(out)+stride <= cap(out); i += stride {
		w := *(*uint64)(unsafe.Add(p, i))
		v := *(*uint64)(unsafe.Add(p, i+4))
		m := pass(uint32(w))&1 | pass(uint32(w>>8))&1<<1 | pass(uint32(w>>16))&1<<2 | pass(uint32(w>>24))&1<<3 |
			pass(uint32(v))&1<<4 | pass(uint32(v>>8))&1<<5 | pass(uint32(v>>16))&1<<6 | pass(uint32(v>>24))&1<<7
		for m != 0 {
			out = append(out, uint32(i+bits.TrailingZeros64(m)))
			m &= m - 1
		}
	}
	return out, i
}
