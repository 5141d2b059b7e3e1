package engine

import (
	"encoding/binary"
	"slices"
	"testing"

	"athena/internal/yara/atomfilter"
)

// fakeMemory is a guest memory of size bytes for the host side of an
// import, with the reader the runtimes give it.
func fakeMemory(size int) ([]byte, func(ptr, n uint32) ([]byte, bool)) {
	mem := make([]byte, size)
	return mem, func(ptr, n uint32) ([]byte, bool) {
		if uint64(ptr)+uint64(n) > uint64(len(mem)) {
			return nil, false
		}
		return mem[ptr : ptr+n], true
	}
}

// TestFilterFind drives filter_find's host side over a fake guest memory:
// the offsets written to out are Find's, and every bad argument is -1.
func TestFilterFind(t *testing.T) {
	mem, read := fakeMemory(1 << 20)
	f := atomfilter.New(1000)
	data := []byte("....EVIL....MZ..........EVIL.......MZ...")
	f.Add4(binary.LittleEndian.Uint32([]byte("EVIL")))
	f.Add2(binary.LittleEndian.Uint16([]byte("MZ")))
	wire := f.Encode()
	const fptr, dptr, optr = 8, 400000, 600000
	copy(mem[fptr:], wire)
	copy(mem[dptr:], data)
	want, wantNext := f.Find(data, len(data), make([]uint32, 0, 64))
	if len(want) < 3 {
		t.Fatalf("test filter finds only %v", want)
	}
	r := filterFind(read, fptr, uint32(len(wire)), dptr, uint32(len(data)), uint32(len(data)), optr, 64)
	if r < 0 {
		t.Fatalf("filter_find refused: %d", r)
	}
	count, next := int(uint32(r)), int(r>>32)
	var got []uint32
	for i := range count {
		got = append(got, binary.LittleEndian.Uint32(mem[optr+4*i:]))
	}
	if !slices.Equal(got, want) || next != wantNext {
		t.Fatalf("filter_find gave %v up to %d, Find %v up to %d", got, next, want, wantNext)
	}
	bad := map[string][7]uint32{
		"filter outside memory": {1<<20 - 4, uint32(len(wire)), dptr, uint32(len(data)), 10, optr, 64},
		"data outside memory":   {fptr, uint32(len(wire)), 1<<20 - 8, 64, 10, optr, 64},
		"out outside memory":    {fptr, uint32(len(wire)), dptr, uint32(len(data)), 10, 1<<20 - 8, 64},
		"malformed filter":      {fptr, uint32(len(wire)) - 8, dptr, uint32(len(data)), 10, optr, 64},
	}
	for name, a := range bad {
		if r := filterFind(read, a[0], a[1], a[2], a[3], a[4], a[5], a[6]); r != -1 {
			t.Errorf("%s: answered %d, want -1", name, r)
		}
	}
}
