package regex

import (
	"math/rand/v2"
	"testing"
)

// benchData is 1 MiB of random bytes with some text mixed in, so that the
// expressions below get partway into their matches.
func benchData() []byte {
	r := rand.New(rand.NewPCG(7, 7))
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	text := []string{"http://example.com/x", "eval(a+b)", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w==", "\xe8\x01\x02\x03\x04\x5b"}
	for i := 0; i < 2000; i++ {
		copy(data[r.IntN(len(data)-100):], text[i%len(text)])
	}
	return data
}

func BenchmarkMatchAtEveryOffset(b *testing.B) {
	data := benchData()
	for _, bc := range []struct {
		name, re string
		flags    Flags
	}{
		{"url", `https?:\/\/[a-z0-9.\-]{4,64}\/`, Flags{}},
		{"base64", `[A-Za-z0-9+\/]{40,}={0,2}`, Flags{}},
		{"call", `\xE8.{4}\x5B`, Flags{}},
		{"eval", `eval\(.{0,40}\)`, Flags{Nocase: true, DotAll: true}},
		{"wide", `https?:\/\/[a-z0-9.\-]{4,64}\/`, Flags{Wide: true, Nocase: true}},
	} {
		re := MustCompile(bc.re, bc.flags)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				for i := range data {
					re.MatchAt(data, i)
				}
			}
		})
	}
}

func BenchmarkMatch(b *testing.B) {
	data := benchData()
	re := MustCompile(`eval\(.{0,40}\)x`, Flags{Nocase: true, DotAll: true})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		re.Match(data)
	}
}
