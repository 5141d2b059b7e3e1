package scan_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"athena/internal/yara/compile"
	"athena/internal/yara/parser"
	"athena/internal/yara/scan"
)

// genRules writes n rules in the mix of a real rule set: text strings (some
// nocase, wide or fullword), hex strings with wildcards and jumps, and
// conditions over them; regexps when withRegex.
func genRules(n int, withRegex bool) string {
	rng := rand.New(rand.NewPCG(uint64(n), 99))
	word := func(min, max int) string {
		const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
		b := make([]byte, min+rng.IntN(max-min+1))
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	hexb := func() string { return fmt.Sprintf("%02X", rng.IntN(256)) }
	var b strings.Builder
	for r := range n {
		fmt.Fprintf(&b, "rule r%d {\n strings:\n", r)
		ns := 1 + rng.IntN(4)
		for i := range ns {
			switch k := rng.IntN(20); {
			case k < 10:
				fmt.Fprintf(&b, "  $s%d = \"%s\"\n", i, word(6, 16))
			case k < 12:
				fmt.Fprintf(&b, "  $s%d = \"%s\" nocase\n", i, word(6, 12))
			case k < 14:
				fmt.Fprintf(&b, "  $s%d = \"%s\" wide ascii\n", i, word(6, 12))
			case k < 15:
				fmt.Fprintf(&b, "  $s%d = \"%s\" fullword\n", i, word(5, 10))
			case k < 18 || !withRegex:
				fmt.Fprintf(&b, "  $s%d = { %s %s ?? %s [2-6] %s %s }\n", i, hexb(), hexb(), hexb(), hexb(), hexb())
			default:
				fmt.Fprintf(&b, "  $s%d = /%s[0-9]{2,8}%s/\n", i, word(4, 6), word(2, 4))
			}
		}
		switch rng.IntN(4) {
		case 0:
			b.WriteString(" condition:\n  any of them\n}\n")
		case 1:
			b.WriteString(" condition:\n  all of them and filesize < 20MB\n}\n")
		case 2:
			b.WriteString(" condition:\n  uint16(0) == 0x5A4D and any of them\n}\n")
		default:
			b.WriteString(" condition:\n  #s0 > 2 or 2 of them\n}\n")
		}
	}
	return b.String()
}

// mixedData is size bytes of text, zeros and random binary.
func mixedData(size int) []byte {
	rng := rand.New(rand.NewPCG(7, 7))
	data := make([]byte, 0, size)
	const text = "the quick brown fox jumps over the lazy dog. Lorem ipsum dolor sit amet, 0123456789\n"
	for len(data) < size {
		n := 256 + rng.IntN(4096)
		switch rng.IntN(3) {
		case 0:
			for range n {
				data = append(data, text[rng.IntN(len(text))])
			}
		case 1:
			data = append(data, make([]byte, n)...)
		default:
			for range n {
				data = append(data, byte(rng.Uint32()))
			}
		}
	}
	return data[:size]
}

func benchCompile(b *testing.B, n int) {
	src := []byte(genRules(n, true))
	var size int
	for b.Loop() {
		rs, err := parser.Parse("bench.yar", src, parser.Options{})
		if err != nil {
			b.Fatal(err)
		}
		p, err := compile.Compile(rs, compile.Options{})
		if err != nil {
			b.Fatal(err)
		}
		size = len(p.Encode())
	}
	b.ReportMetric(float64(size), "plan-bytes")
}

func BenchmarkCompile1000(b *testing.B)  { benchCompile(b, 1000) }
func BenchmarkCompile10000(b *testing.B) { benchCompile(b, 10000) }

// benchNew is scan.New as a guest runs it: with the atoms the host chose
// in the plan (internal/rules does), or without, choosing them itself.
func benchNew(b *testing.B, n int, planAtoms bool) {
	p := compileRules(b, genRules(n, true))
	if planAtoms {
		a, err := scan.ChooseAtoms(p)
		if err != nil {
			b.Fatal(err)
		}
		p.Atoms = a
	}
	for b.Loop() {
		if _, err := scan.New(p, scan.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNew1000(b *testing.B)             { benchNew(b, 1000, true) }
func BenchmarkNew10000(b *testing.B)            { benchNew(b, 10000, true) }
func BenchmarkNewChooseAtoms1000(b *testing.B)  { benchNew(b, 1000, false) }
func BenchmarkNewChooseAtoms10000(b *testing.B) { benchNew(b, 10000, false) }

func BenchmarkScan1000(b *testing.B)  { benchScan(b, 1000) }
func BenchmarkScan10000(b *testing.B) { benchScan(b, 10000) }

func benchScan(b *testing.B, n int) {
	p := compileRules(b, genRules(n, true))
	s, err := scan.New(p, scan.Options{})
	if err != nil {
		b.Fatal(err)
	}
	data := mixedData(16 << 20)
	b.SetBytes(int64(len(data)))
	cpu := cpuTime()
	for b.Loop() {
		scanChunks(s, data, 64<<10, -1)
	}
	if d := cpuTime() - cpu; d > 0 {
		b.ReportMetric(float64(b.N)*float64(len(data))/1e6/d.Seconds(), "MB/cpu-s")
	}
}
