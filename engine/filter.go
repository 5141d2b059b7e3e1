package engine

import (
	"encoding/binary"
	"sync"

	"athena/internal/yara/atomfilter"
)

// filter_find (module ABI v1.4) runs the pattern matcher's atom filter,
// the one per-byte loop of a YARA scan, natively over the guest's memory:
// the same code (internal/yara/atomfilter) that a guest would otherwise run
// as wasm about 5 times slower. It only tests bits of sets the guest gives;
// the guest verifies every offset it gets back, so a wrong answer costs the
// guest its own findings and nothing else. RATIONALE.md, "The atom filter
// on the host", has the measurements.
//
// Arguments: the filter's wire form, the data, n (look at offsets below
// n), and out, room for out_cap uint32 offsets. The answer is
// next<<32 | count: count offsets written to out, every offset before next
// looked at; or -1 when a range is outside the guest's memory or the
// filter is malformed.

// maxFindOut bounds out_cap, and so the host's scratch.
const maxFindOut = 1 << 16

var findScratch = sync.Pool{New: func() any { s := make([]uint32, 0, maxFindOut); return &s }}

// filterFind serves filter_find; read returns a view of guest memory.
func filterFind(read func(ptr, n uint32) ([]byte, bool), fptr, flen, dptr, dlen, n, optr, ocap uint32) int64 {
	if ocap > maxFindOut {
		ocap = maxFindOut
	}
	wire, ok1 := read(fptr, flen)
	data, ok2 := read(dptr, dlen)
	out, ok3 := read(optr, 4*ocap)
	if !ok1 || !ok2 || !ok3 {
		return -1
	}
	f, err := atomfilter.View(wire)
	if err != nil {
		return -1
	}
	sp := findScratch.Get().(*[]uint32)
	defer findScratch.Put(sp)
	found, next := f.Find(data, int(n), (*sp)[:0:ocap])
	for i, off := range found {
		binary.LittleEndian.PutUint32(out[4*i:], off)
	}
	return int64(next)<<32 | int64(len(found))
}
