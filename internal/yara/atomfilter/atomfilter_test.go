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
func randomFilter(rng *rand.Rand, data []byte, shift uint32, n, m int) *Filter {
	f := &Filter{F4: make([]uint64, max(1, (1<<(32-shift))/64)), Shift: shift, F2: new([F2Words]uint64)}
	for range n {
		i := rng.IntN(len(data) - 4)
		h := f.Hash4(binary.LittleEndian.Uint32(data[i:]))
		f.F4[h>>6] |= 1 << (h & 63)
	}
	for range m {
		i := rng.IntN(len(data) - 2)
		v := binary.LittleEndian.Uint16(data[i:])
		f.F2[v>>6] |= 1 << (v & 63)
	}
	return f
}

// naive is Find written the obvious way.
func naive(f *Filter, data []byte, n int) []uint32 {
	var out []uint32
	for i := 0; i < n && i+4 <= len(data); i++ {
		h := f.Hash4(binary.LittleEndian.Uint32(data[i:]))
		v := binary.LittleEndian.Uint16(data[i:])
		if f.F4[h>>6]&(1<<(h&63)) != 0 || f.F2[v>>6]&(1<<(v&63)) != 0 {
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
		shift := uint32(8 + rng.IntN(24))
		f := randomFilter(rng, data, shift, rng.IntN(50), rng.IntN(5))
		n := rng.IntN(len(data) + 1)
		want := naive(f, data, n)
		got := findAll(f, data, n, 8+rng.IntN(64))
		if !slices.Equal(got, want) {
			t.Fatalf("round %d (len %d, n %d, shift %d): Find gave %d offsets, the naive loop %d", round, len(data), n, shift, len(got), len(want))
		}
	}
}

func TestFindStopsInsideDataAndN(t *testing.T) {
	f := &Filter{F4: []uint64{1<<64 - 1}, Shift: 31, F2: new([F2Words]uint64)} // every offset passes
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
	f := randomFilter(rng, data, 14, 100, 10)
	g, err := Decode(f.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if g.Shift != f.Shift || !slices.Equal(g.F4, f.F4) || *g.F2 != *f.F2 {
		t.Fatal("decoded filter differs")
	}
	wire := f.Encode()
	for _, off := range []int{0, 3} { // aligned (a view) and not (a copy)
		b := append(make([]byte, off, off+len(wire)), wire...)[off:]
		v, err := View(b)
		if err != nil {
			t.Fatal(err)
		}
		if v.Shift != f.Shift || !slices.Equal(v.F4, f.F4) || *v.F2 != *f.F2 {
			t.Fatalf("view at offset %d differs", off)
		}
	}
	bad := map[string][]byte{
		"short":      {1, 2, 3},
		"shift 32":   slices.Concat(binary.LittleEndian.AppendUint32(nil, 32), f.Encode()[4:]),
		"set small":  slices.Concat(f.Encode()[:4], binary.LittleEndian.AppendUint32(nil, 1), f.Encode()[8:]),
		"truncated":  f.Encode()[:len(f.Encode())-1],
		"trailing":   append(f.Encode(), 0),
		"huge count": slices.Concat(f.Encode()[:4], []byte{0xff, 0xff, 0xff, 0xff}),
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
	f.Add(randomFilter(rng, data, 31, 3, 2).Encode(), data)
	f.Add(randomFilter(rng, data, 20, 30, 2).Encode(), data[:20])
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
