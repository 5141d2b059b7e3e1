package modules

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"testing"

	"athena/internal/yara/object"
)

func load(t *testing.T, name string, data []byte) object.Fields {
	t.Helper()
	m, ok := Lookup(name)
	if !ok {
		t.Fatalf("Lookup(%q) failed", name)
	}
	return m.Load(&object.Input{Data: data, Size: int64(len(data))})
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

// mathSamples are files of many sizes and shapes.
func mathSamples() map[string][]byte {
	return map[string][]byte{
		"empty":    {},
		"one":      {0x41},
		"five":     []byte("ABCDE"),
		"six":      []byte("ABCDEF"),
		"constant": bytes.Repeat([]byte{7}, 300),
		"text":     []byte("The quick brown fox jumps over the lazy dog. 0123456789"),
		"random":   randomBytes(1, 1000),
		"skewed":   append(randomBytes(2, 200), bytes.Repeat([]byte{0}, 700)...),
		"ties":     []byte("bbaacc"),
	}
}

// rangeArgs are (offset, size) pairs around the edges of a file of n bytes.
func rangeArgs(n int64) [][2]int64 {
	return [][2]int64{
		{0, n}, {0, 0}, {0, 1}, {0, 5}, {0, 6}, {0, 7}, {0, 13}, {1, n}, {n / 2, n},
		{n - 1, 1}, {n - 1, 0}, {n, 0}, {n, 1}, {n + 1, 1}, {-1, 5}, {0, -1},
		{n / 3, n / 3}, {0, n + 100}, {3, 1 << 40},
	}
}

func TestMathAgainstYara(t *testing.T) {
	var samples []sample
	for name, data := range mathSamples() {
		f := load(t, "math", data)
		n := int64(len(data))
		var cs []check
		add := func(fn string, overload int, args ...object.Value) {
			cs = append(cs, call(f, "math", fn, overload, args...))
		}
		for _, r := range rangeArgs(n) {
			off, size := r[0], r[1]
			for _, fn := range []string{"entropy", "mean", "serial_correlation", "monte_carlo_pi", "mode"} {
				add(fn, 0, off, size)
			}
			add("deviation", 0, off, size, 127.5)
			add("deviation", 0, off, size, 3.25)
			add("count", 0, int64(0x41), off, size)
			add("count", 0, int64(7), off, size)
			add("percentage", 0, int64(0), off, size)
			add("percentage", 0, int64(0x42), off, size)
		}
		for _, s := range [][]byte{{}, []byte("a"), []byte("abcde"), []byte("abcdef"), []byte("hello world"), data[:min(len(data), 200)]} {
			for _, fn := range []string{"entropy", "mean", "serial_correlation", "monte_carlo_pi"} {
				add(fn, 1, s)
			}
			add("deviation", 1, s, 64.0)
		}
		for _, b := range []int64{0, 7, 0x41, 0x141, 300, -1, -190} {
			add("count", 1, b)
			add("percentage", 1, b)
		}
		add("mode", 1)
		add("in_range", 0, 1.0, 0.0, 2.0)
		add("in_range", 0, 2.0, 0.0, 2.0)
		add("in_range", 0, 2.5, 0.0, 2.0)
		add("in_range", 0, -0.5, -1.0, 0.0)
		for _, p := range [][2]int64{{1, 2}, {2, 1}, {-1, 1}, {1, -1}, {-5, -3}, {0, 0}} {
			add("max", 0, p[0], p[1])
			add("min", 0, p[0], p[1])
		}
		for _, v := range []int64{0, 1, -3, 3, math.MinInt64, math.MaxInt64} {
			add("abs", 0, v)
		}
		cs = append(cs, check{"math.to_number(true)", int64(1)}, check{"math.to_number(false)", int64(0)},
			check{"math.to_number(1 == 2)", int64(0)}, check{"math.MEAN_BYTES", 127.5})
		samples = append(samples, sample{name: name, data: data, checks: cs})
	}
	verify(t, []string{"math"}, samples)
}

func TestHashAgainstYara(t *testing.T) {
	var samples []sample
	for name, data := range mathSamples() {
		f := load(t, "hash", data)
		var cs []check
		for _, fn := range []string{"md5", "sha1", "sha256", "checksum32", "crc32"} {
			for _, r := range rangeArgs(int64(len(data))) {
				cs = append(cs, call(f, "hash", fn, 0, r[0], r[1]))
			}
			for _, s := range [][]byte{{}, []byte("abc"), data} {
				cs = append(cs, call(f, "hash", fn, 1, s))
			}
		}
		samples = append(samples, sample{name: name, data: data, checks: cs})
	}
	verify(t, []string{"hash"}, samples)
}

// TestMathHashRandom checks the statistics and digests against direct
// computations on random data, without yara.
func TestMathHashRandom(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		data := randomBytes(seed, int(seed*37))
		m := load(t, "math", data)
		h := load(t, "hash", data)
		n := int64(len(data))
		fn := func(fields object.Fields, name string, overload int, args ...object.Value) object.Value {
			return fields[name].(object.Funcs)[overload](args)
		}

		var sum, sumSq, count0 float64
		var hist [256]float64
		for _, c := range data {
			sum += float64(c)
			hist[c]++
		}
		wantEntropy := 0.0
		for _, c := range hist {
			if c > 0 {
				wantEntropy -= c / float64(n) * math.Log(c/float64(n)) / math.Ln2
			}
		}
		count0 = hist[0]
		_ = sumSq

		var want md5Set
		want.compute(data)
		if n == 0 {
			if got := fn(m, "entropy", 0, int64(0), n); got != nil {
				t.Errorf("seed %d: entropy of empty file = %v, want undefined", seed, got)
			}
			continue
		}
		if got := fn(m, "entropy", 0, int64(0), n).(float64); math.Abs(got-wantEntropy) > 1e-9 {
			t.Errorf("seed %d: entropy = %v, want %v", seed, got, wantEntropy)
		}
		if got := fn(m, "mean", 0, int64(0), n).(float64); math.Abs(got-sum/float64(n)) > 1e-9 {
			t.Errorf("seed %d: mean = %v, want %v", seed, got, sum/float64(n))
		}
		if got := fn(m, "count", 0, int64(0), int64(0), n).(int64); got != int64(count0) {
			t.Errorf("seed %d: count(0) = %v, want %v", seed, got, count0)
		}
		for name, w := range map[string]string{"md5": want.md5, "sha1": want.sha1, "sha256": want.sha256} {
			if got := string(fn(h, name, 0, int64(0), n).([]byte)); got != w {
				t.Errorf("seed %d: %s = %s, want %s", seed, name, got, w)
			}
			if got := string(fn(h, name, 1, data).([]byte)); got != w {
				t.Errorf("seed %d: %s(string) = %s, want %s", seed, name, got, w)
			}
		}
		if got := fn(h, "crc32", 0, int64(0), n).(int64); got != int64(crc32.ChecksumIEEE(data)) {
			t.Errorf("seed %d: crc32 = %x, want %x", seed, got, crc32.ChecksumIEEE(data))
		}
		var cs uint32
		for _, c := range data {
			cs += uint32(c)
		}
		if got := fn(h, "checksum32", 0, int64(0), n).(int64); got != int64(cs) {
			t.Errorf("seed %d: checksum32 = %d, want %d", seed, got, cs)
		}
	}
}

type md5Set struct{ md5, sha1, sha256 string }

func (s *md5Set) compute(b []byte) {
	m := md5.Sum(b)
	s1 := sha1.Sum(b)
	s2 := sha256.Sum256(b)
	s.md5, s.sha1, s.sha256 = hex.EncodeToString(m[:]), hex.EncodeToString(s1[:]), hex.EncodeToString(s2[:])
}

// TestPrefixInput checks that a range past the bytes kept is undefined,
// not computed over the prefix.
func TestPrefixInput(t *testing.T) {
	data := randomBytes(9, 100)
	in := &object.Input{Data: data[:50], Size: 100}
	m := mathModule.Load(in)
	h := hashModule.Load(in)
	tests := []struct {
		name string
		got  object.Value
		def  bool
	}{
		{"entropy inside prefix", m["entropy"].(object.Funcs)[0]([]object.Value{int64(0), int64(50)}), true},
		{"entropy past prefix", m["entropy"].(object.Funcs)[0]([]object.Value{int64(0), int64(51)}), false},
		{"mode whole file", m["mode"].(object.Funcs)[1](nil), false},
		{"md5 whole file", h["md5"].(object.Funcs)[0]([]object.Value{int64(0), int64(100)}), false},
		{"md5 prefix", h["md5"].(object.Funcs)[0]([]object.Value{int64(10), int64(20)}), true},
	}
	for _, tc := range tests {
		if (tc.got != nil) != tc.def {
			t.Errorf("%s: got %v, want defined=%v", tc.name, tc.got, tc.def)
		}
	}
}
