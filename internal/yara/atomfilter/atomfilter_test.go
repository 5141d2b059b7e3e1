package atomfilter

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomFilter has n 4-byte atoms and m 2-byte prefixes, all taken from
// data so that some offsets pass.
func randomFilter(rng *rand.Rand, data []byte, size, n, m int) *Filter {
	f := New(size)
	for range n {
		f.Add4(binary.LittleEndian.Uint32(data[rng.IntN(len(data)-4):]))
	}
	for range m {
		f.Add2(binary.LittleEndian.Uint16(data[rng.IntN(len(data)-2):]))
	}
	return f
}

// naive is Find written the obvious way.
func naive(f *Filter, data []byte, n int) []uint32 {
	var out []uint32
	for i := 0; i < n && i+4 <= len(data); i++ {
		if f.Has(binary.LittleEndian.Uint32(data[i:])) {
			out = append(out, uint32(i))
		}
	}
	return out
}

// findAll calls Find until it stops, as the scanner does, and finishes
// the offsets it left with the naive loop.
func findAll(f *Filter, data []byte, n, capacity int) []uint32 {
	var all []uint32
	i := 0
	for {
		found, next := f.Find(data[i:], n-i, make([]uint32, 0, capacity))
		for _, off := range found {
			all = append(all, uint32(i)+off)
		}
		if next == 0 {
			break
		}
		i += next
	}
	for _, off := range naive(f, data[i:], n-i) {
		all = append(all, uint32(i)+off)
	}
	return all
}

func TestFindAgreesWithNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		data := make([]byte, rng.IntN(3000))
		for i := range data {
			data[i] = byte(rng.IntN(8)) // few values: many passing offsets
		}
		if len(data) < 8 {
			continue
		}
		size := rng.IntN(1 << rng.IntN(18)) // f4 of 2^9 to 2^24 bits
		f := randomFilter(rng, data, size, rng.IntN(50), rng.IntN(5))
		n := rng.IntN(len(data) + 1)
		want := naive(f, data, n)
		got := findAll(f, data, n, 8+rng.IntN(64))
		if !slices.Equal(got, want) {
			t.Fatalf("round %d (len %d, n %d, f4 bits %d): Find gave %d offsets, the naive loop %d", round, len(data), n, f.Bits, len(got), len(want))
		}
	}
}

func TestFindStopsInsideDataAndN(t *testing.T) {
	f := New(0)
	for i := range f.F4 {
		f.F4[i] = 1<<64 - 1 // every offset passes
	}
	for size := range 40 {
		for n := 0; n <= size+2; n++ {
			found, next := f.Find(make([]byte, size), n, make([]uint32, 0, 64))
			if next > n || next > max(0, size-4) {
				t.Fatalf("size %d n %d: stopped at %d", size, n, next)
			}
			if len(found) != next {
				t.Fatalf("size %d n %d: %d offsets found before %d, want all", size, n, len(found), next)
			}
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	f := randomFilter(rng, data, 100, 100, 10)
	g, err := Decode(f.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if g.Bits != f.Bits || !slices.Equal(g.F4, f.F4) || *g.F2 != *f.F2 {
		t.Fatal("decoded filter differs")
	}
	wire := f.Encode()
	for _, off := range []int{0, 3} { // aligned (a view) and not (a copy)
		b := append(make([]byte, off, off+len(wire)), wire...)[off:]
		v, err := View(b)
		if err != nil {
			t.Fatal(err)
		}
		if v.Bits != f.Bits || !slices.Equal(v.F4, f.F4) || *v.F2 != *f.F2 {
			t.Fatalf("view at offset %d differs", off)
		}
	}
	bad := map[string][]byte{
		"short":     {1, 2, 3},
		"form 1":    slices.Concat(binary.LittleEndian.AppendUint32(nil, 1), f.Encode()[4:]),
		"bits 8":    slices.Concat(f.Encode()[:4], binary.LittleEndian.AppendUint32(nil, 8), f.Encode()[8:]),
		"bits 25":   slices.Concat(f.Encode()[:4], binary.LittleEndian.AppendUint32(nil, 25), f.Encode()[8:]),
		"set small": slices.Concat(f.Encode()[:4], binary.LittleEndian.AppendUint32(nil, f.Bits+1), f.Encode()[8:]),
		"truncated": f.Encode()[:len(f.Encode())-1],
		"trailing":  append(f.Encode(), 0),
		"huge bits": slices.Concat(f.Encode()[:4], []byte{0xff, 0xff, 0xff, 0xff}),
	}
	for name, b := range bad {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
		if _, err := View(b); err == nil {
			t.Errorf("%s: viewed", name)
		}
	}
}

// FuzzDecodeFind: any bytes either fail to decode or give a filter whose
// Find stays inside its sets and agrees with the naive loop.
func FuzzDecodeFind(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	data := bytes.Repeat([]byte("athena filter "), 10)
	f.Add(randomFilter(rng, data, 3, 3, 2).Encode(), data)
	f.Add(randomFilter(rng, data, 2000, 30, 2).Encode(), data[:20])
	f.Fuzz(func(t *testing.T, wire, data []byte) {
		flt, err := View(wire)
		if err != nil {
			return
		}
		want := naive(flt, data, len(data))
		if got := findAll(flt, data, len(data), 16); !slices.Equal(got, want) {
			t.Fatalf("Find gave %v, the naive loop %v", got, want)
		}
	})
}
