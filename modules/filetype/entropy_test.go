package filetype

import (
	"bytes"
	"math"
	"testing"

	"athena/internal/core"
)

func TestShannon(t *testing.T) {
	uniform := make([]byte, 256*16)
	for i := range uniform {
		uniform[i] = byte(i)
	}
	tests := []struct {
		name     string
		data     []byte
		min, max float64
	}{
		{name: "empty", data: nil, min: 0, max: 0},
		{name: "all zero", data: make([]byte, BlockSize), min: 0, max: 0},
		{name: "two symbols", data: bytes.Repeat([]byte("ab"), 100), min: 1, max: 1},
		{name: "uniform", data: uniform, min: 8, max: 8},
		{name: "pseudo-random", data: pseudoRandom(1, BlockSize), min: 7.9, max: 8},
		{name: "english text", data: bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog. "), 90), min: 3, max: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var counts [256]uint64
			for _, b := range tt.data {
				counts[b]++
			}
			got := shannon(&counts, uint64(len(tt.data)))
			if got < tt.min-1e-9 || got > tt.max+1e-9 {
				t.Errorf("shannon = %v, want in [%v, %v]", got, tt.min, tt.max)
			}
		})
	}
}

// entropyFindings returns the entropy findings of data, fed in one chunk.
func entropyFindings(t *testing.T, data []byte) []core.Finding {
	t.Helper()
	var out []core.Finding
	for _, f := range run(t, data, nil) {
		if f.Kind == KindEntropy {
			out = append(out, f)
		}
	}
	return out
}

// span is a region finding's position.
type span struct{ offset, length int64 }

func TestRegions(t *testing.T) {
	var (
		low  = func(n int) []byte { return make([]byte, n) }
		high = func(n int) []byte { return pseudoRandom(uint64(n), n) }
		cat  = func(p ...[]byte) []byte { return bytes.Join(p, nil) }
		B    = int64(BlockSize)
	)
	tests := []struct {
		name        string
		data        []byte
		want        []span
		highBlocks  int64
		blocks      int64
		fileEntropy [2]float64 // bounds
	}{
		{name: "all zero", data: low(10 * BlockSize), blocks: 10, fileEntropy: [2]float64{0, 0}},
		{name: "all random", data: high(3 * BlockSize), want: []span{{0, 3 * B}}, highBlocks: 3, blocks: 3, fileEntropy: [2]float64{7.9, 8}},
		{
			name:       "adjacent blocks merge, low block splits",
			data:       cat(low(BlockSize), high(3*BlockSize), low(BlockSize), high(BlockSize), low(2*BlockSize)),
			want:       []span{{B, 3 * B}, {5 * B, B}},
			highBlocks: 4, blocks: 8, fileEntropy: [2]float64{4, 6},
		},
		{
			name:       "partial last block extends the open region",
			data:       cat(low(BlockSize), high(BlockSize+1000)),
			want:       []span{{B, B + 1000}},
			highBlocks: 2, blocks: 3, fileEntropy: [2]float64{5, 6},
		},
		{
			name:       "short partial last block is never high",
			data:       cat(high(BlockSize), high(20)),
			want:       []span{{0, B}},
			highBlocks: 1, blocks: 2, fileEntropy: [2]float64{7.9, 8},
		},
		{
			name:       "region straddling a block is measured per block",
			data:       cat(low(BlockSize/2), high(BlockSize), low(BlockSize/2)),
			highBlocks: 0, blocks: 2, fileEntropy: [2]float64{4, 6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := entropyFindings(t, tt.data)
			var got []span
			for _, f := range fs[:len(fs)-1] {
				if f.Rule != RuleHighEntropyRegion {
					t.Fatalf("unexpected finding %+v", f)
				}
				if e := f.Detail["entropy"].(float64); e < HighEntropy || e > 8 {
					t.Errorf("region %d+%d entropy %v, want in [%v, 8]", f.Offset, f.Length, e, HighEntropy)
				}
				got = append(got, span{f.Offset, f.Length})
			}
			if !equalSpans(got, tt.want) {
				t.Errorf("regions = %v, want %v", got, tt.want)
			}
			last := fs[len(fs)-1]
			if last.Rule != RuleFileEntropy {
				t.Fatalf("last finding = %+v, want %s", last, RuleFileEntropy)
			}
			if got := last.Detail["high_blocks"]; got != tt.highBlocks {
				t.Errorf("high_blocks = %v, want %d", got, tt.highBlocks)
			}
			if got := last.Detail["blocks"]; got != tt.blocks {
				t.Errorf("blocks = %v, want %d", got, tt.blocks)
			}
			if got := last.Detail["size"]; got != int64(len(tt.data)) {
				t.Errorf("size = %v, want %d", got, len(tt.data))
			}
			if e := last.Detail["entropy"].(float64); e < tt.fileEntropy[0] || e > tt.fileEntropy[1] {
				t.Errorf("file entropy = %v, want in %v", e, tt.fileEntropy)
			}
		})
	}
}

func equalSpans(a, b []span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A region is reported when the low block that closes it arrives, before
// the end of the file.
func TestRegionEmittedOnClose(t *testing.T) {
	var got []core.Finding
	a := New(func(f core.Finding) { got = append(got, f) })
	if err := a.Begin(core.FileMeta{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if err := a.Feed(append(pseudoRandom(1, 2*BlockSize), make([]byte, BlockSize)...)); err != nil {
		t.Fatal(err)
	}
	var regions int
	for _, f := range got {
		if f.Rule == RuleHighEntropyRegion {
			regions++
		}
	}
	if regions != 1 {
		t.Errorf("regions before Finish = %d, want 1 (findings %+v)", regions, got)
	}
}

func TestRegionCap(t *testing.T) {
	const n = MaxRegions + 5
	var data []byte
	for i := range n {
		data = append(data, pseudoRandom(uint64(i), BlockSize)...)
		data = append(data, make([]byte, BlockSize)...)
	}
	fs := entropyFindings(t, data)
	if got, want := len(fs), MaxRegions+1; got != want {
		t.Fatalf("entropy findings = %d, want %d (cap plus file_entropy)", got, want)
	}
	if got := fs[len(fs)-1].Detail["regions"]; got != int64(n) {
		t.Errorf("regions = %v, want %d", got, n)
	}
}

// Detail values are rounded to 3 decimals.
func TestEntropyRounding(t *testing.T) {
	for _, f := range entropyFindings(t, pseudoRandom(3, 3*BlockSize+17)) {
		for _, k := range []string{"entropy", "max_entropy"} {
			v, ok := f.Detail[k].(float64)
			if !ok {
				continue
			}
			if r := math.Round(v*1000) / 1000; r != v {
				t.Errorf("%s %s = %v, not rounded to 3 decimals", f.Rule, k, v)
			}
		}
	}
}

// TestFoldIsShannon: the block entropy closeBlock computes is shannon's,
// to the bit, and the block's counts move to the totals.
func TestFoldIsShannon(t *testing.T) {
	for seed := range uint64(20) {
		data := pseudoRandom(seed, BlockSize)[:1+int(seed*197)%BlockSize]
		for i := range data[:int(seed)*50%len(data)] {
			data[i] &= 0x0f // fewer distinct bytes in part of the block
		}
		var m entropyMeter
		var block [256]uint32
		var counts [256]uint64
		for _, b := range data {
			block[b]++
			counts[b]++
		}
		got, want := m.fold(&block, int64(len(data))), shannon(&counts, uint64(len(data)))
		if got != want || block != [256]uint32{} || m.total != counts {
			t.Fatalf("seed %d: fold = %v, shannon = %v; block cleared %v, totals moved %v", seed, got, want, block == [256]uint32{}, m.total == counts)
		}
	}
}
