package engine

import (
	"encoding/binary"
	"testing"
)

// TestByteCounts drives byte_counts' host side over a fake guest memory:
// it adds to the counters there, and refuses ranges outside the memory.
func TestByteCounts(t *testing.T) {
	mem, read := fakeMemory(1 << 16)
	const dptr, cptr = 100, 8192
	data := []byte("aaab\x00\x00\xff")
	copy(mem[dptr:], data)
	binary.LittleEndian.PutUint32(mem[cptr+4*'a':], 10) // counts already there are added to
	if r := byteCounts(read, dptr, uint32(len(data)), cptr); r != 0 {
		t.Fatalf("byte_counts = %d", r)
	}
	want := map[int]uint32{'a': 13, 'b': 1, 0: 2, 0xff: 1}
	for v := range 256 {
		if got := binary.LittleEndian.Uint32(mem[cptr+4*v:]); got != want[v] {
			t.Errorf("count of %#x = %d, want %d", v, got, want[v])
		}
	}
	for _, bad := range [][3]uint32{{1 << 16, 1, cptr}, {dptr, 1 << 16, cptr}, {dptr, 4, 1<<16 - 1023}} {
		if r := byteCounts(read, bad[0], bad[1], bad[2]); r != -1 {
			t.Errorf("byte_counts%v = %d, want -1", bad, r)
		}
	}
}
