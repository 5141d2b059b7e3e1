package engine

import "encoding/binary"

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
	var c [4][256]uint32 // four tables, so that runs of one byte do not serialise
	for ; len(data) >= 4; data = data[4:] {
		c[0][data[0]]++
		c[1][data[1]]++
		c[2][data[2]]++
		c[3][data[3]]++
	}
	for _, b := range data {
		c[0][b]++
	}
	for v := range 256 {
		o := out[4*v:]
		binary.LittleEndian.PutUint32(o, binary.LittleEndian.Uint32(o)+c[0][v]+c[1][v]+c[2][v]+c[3][v])
	}
	return 0
}
