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
//	shift u32 | n u32 | f4 [n]u64 | f2 [1024]u64
//
// f4 holds the 4-byte atoms: bit (v * 0x9E3779B1) >> shift for the atom's
// bytes loaded as v. f2 has bit v for the first two bytes v of every 2- and
// 3-byte atom. A Filter decoded with Decode never indexes out of its sets,
// whatever the bytes were.
package atomfilter

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"unsafe"
)

// Mul is the multiplier of the 4-byte hash.
const Mul = 0x9E3779B1

// F2Words is the size of the 2-byte set: one bit per 16-bit value.
const F2Words = 1 << 16 / 64

// Filter is the two sets.
type Filter struct {
	F4    []uint64 // at least 2^(32-Shift) bits
	Shift uint32   // at most 31
	F2    *[F2Words]uint64
}

// Hash4 is the f4 bit of the 4 bytes loaded as v.
func (f *Filter) Hash4(v uint32) uint32 { return (v * Mul) >> (f.Shift & 31) }

// Encode returns the wire form.
func (f *Filter) Encode() []byte {
	b := make([]byte, 8, 8+8*len(f.F4)+8*F2Words)
	binary.LittleEndian.PutUint32(b, f.Shift)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(f.F4)))
	for _, w := range f.F4 {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	for _, w := range f.F2 {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

// MaxBits bounds the f4 set: 2^24 bits, 2 MiB.
const MaxBits = 24

// check validates the header of the wire form b and returns f4's length.
func check(b []byte) (shift, n uint32, err error) {
	if len(b) < 8 {
		return 0, 0, errors.New("atomfilter: short header")
	}
	shift = binary.LittleEndian.Uint32(b)
	n = binary.LittleEndian.Uint32(b[4:])
	if shift > 31 || shift < 32-MaxBits {
		return 0, 0, errors.New("atomfilter: shift out of range")
	}
	if uint64(n)*64 < 1<<(32-shift) || uint64(len(b)) != 8+8*uint64(n)+8*F2Words {
		return 0, 0, errors.New("atomfilter: set sizes do not match")
	}
	return shift, n, nil
}

// View is Decode without the copy where it can: on a little-endian host,
// when b's sets are 8-byte aligned, the Filter's sets are b itself, so b
// must stay unchanged and alive while the Filter is used.
func View(b []byte) (*Filter, error) {
	shift, n, err := check(b)
	if err != nil {
		return nil, err
	}
	if !littleEndian || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 != 0 {
		return Decode(b)
	}
	f4 := unsafe.Pointer(&b[8])
	return &Filter{
		F4:    unsafe.Slice((*uint64)(f4), n),
		Shift: shift,
		F2:    (*[F2Words]uint64)(unsafe.Add(f4, 8*uintptr(n))),
	}, nil
}

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Decode reads the wire form. The sets are copied, so b may change after.
func Decode(b []byte) (*Filter, error) {
	shift, n, err := check(b)
	if err != nil {
		return nil, err
	}
	f := &Filter{F4: make([]uint64, n), Shift: shift, F2: new([F2Words]uint64)}
	b = b[8:]
	for i := range f.F4 {
		f.F4[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	b = b[8*n:]
	for i := range f.F2 {
		f.F2[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return f, nil
}

// stride is how many offsets one round of Find looks at.
const stride = 8

// Find appends to out, up to its capacity, the offsets i < n where f4 or
// f2 has the bit of the bytes at i, and returns them with the offset where
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
	if len(f.F4) == 0 || f.F2 == nil {
		return out, 0
	}
	n = min(n, len(data)-4) // a round at i+8 <= n reads bytes i to i+11 < len(data)
	// Hashes have 32-Shift bits and F4 holds at least that many (Decode
	// and the scanner's builder make sure), F2 all 16-bit values.
	p := unsafe.Pointer(unsafe.SliceData(data))
	b4, s4 := unsafe.Pointer(unsafe.SliceData(f.F4)), f.Shift&31
	b2 := unsafe.Pointer(f.F2)
	pass := func(v uint32) uint64 {
		h4 := (v * Mul) >> s4
		h2 := v & 0xFFFF
		return *(*uint64)(unsafe.Add(b4, h4>>6*8))>>(h4&63) |
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
