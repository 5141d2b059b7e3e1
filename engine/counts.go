package engine

import (
	"encoding/binary"

	"athena/internal/bytecount"
)

// byte_counts (module ABI v1.5) counts the bytes of a range of the guest's
// memory by value, natively: the one per-byte loop of a file's entropy,
// which Go compiled to wasm runs about 4 times slower than the host (and
// which, like the digests and the atom filter, parses nothing). It adds
// the counts to 256 little-endian u32 counters in the guest's memory at
// counts_ptr, which the guest reads and resets itself. The answer is 0, or
// -1 when a range is outside the guest's memory.
func byteCounts(read func(ptr, n uint32) ([]byte, bool), dptr, dlen, cptr uint32) int32 {
	data, ok1 := read(dptr, dlen)
	out, ok2 := read(cptr, 4*256)
	if !ok1 || !ok2 {
		return -1
	}
	var t bytecount.Tables
	t.Add(data)
	for v, n := range t.Fold() {
		o := out[4*v:]
		binary.LittleEndian.PutUint32(o, binary.LittleEndian.Uint32(o)+n)
	}
	return 0
}
