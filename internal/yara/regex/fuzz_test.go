package regex

import (
	"bytes"
	"testing"
)

func FuzzCompile(f *testing.F) {
	for _, s := range []string{`a+b`, `[^\x00-\x1f]{4,}`, `(a|b|)*?c`, `\bfoo\B`, `a{,3}`, `[]a-]`, `x{99999}`, `(?:a)`, `\`} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, src string, fl uint8) {
		if len(src) > 256 {
			return // repeats expand: keep programs small enough to fuzz fast
		}
		flags := Flags{Nocase: fl&1 != 0, DotAll: fl&2 != 0, Wide: fl&4 != 0}
		re, err := Compile(src, flags)
		if err != nil {
			return
		}
		re.FirstBytes()
		re.Anchored()
		lits, ok := re.Prefixes(16, 4)
		if ok && (len(lits) == 0 || len(lits) > 16) {
			t.Fatalf("Prefixes(16, 4) of /%s/: %d literals", src, len(lits))
		}
		for _, l := range lits {
			if len(l) == 0 || len(l) > 4 {
				t.Fatalf("Prefixes(16, 4) of /%s/: literal %q", src, l)
			}
		}
	})
}

// FuzzMatchAt checks MatchAt against the invariants of the contract and the
// prefilter methods: the match stays within bounds, starts with a first byte
// and with one of the prefixes, and Match agrees.
func FuzzMatchAt(f *testing.F) {
	f.Add(`a+b`, []byte("aaab"), uint8(0))
	f.Add(`[a-z]{2,}?\b`, []byte("abc def"), uint8(1))
	f.Add(`(x|xy)*z`, []byte("xyxyxz"), uint8(4))
	f.Add(`^.{0,4}$`, []byte("a\nbc"), uint8(2))
	f.Fuzz(func(t *testing.T, src string, data []byte, fl uint8) {
		if len(src) > 64 || len(data) > 512 {
			return
		}
		flags := Flags{Nocase: fl&1 != 0, DotAll: fl&2 != 0, Wide: fl&4 != 0}
		re, err := Compile(src, flags)
		if err != nil || len(re.prog) > 4096 {
			return
		}
		lits, litsOK := re.Prefixes(64, 3)
		any := false
		for start := range data {
			n := re.MatchAt(data, start)
			if n == -1 {
				continue
			}
			any = true
			if n <= 0 || start+n > len(data) || n > re.MaxLen() {
				t.Fatalf("/%s/ at %d: length %d out of bounds", src, start, n)
			}
			if !re.FirstBytes()[data[start]] {
				t.Fatalf("/%s/ at %d: starts with %#x, not a first byte", src, start, data[start])
			}
			if re.Anchored() && start != 0 {
				t.Fatalf("/%s/ anchored but matched at %d", src, start)
			}
			if litsOK && !startsWithOne(data[start:start+n], lits) {
				t.Fatalf("/%s/ at %d: match %q starts with none of %q", src, start, data[start:start+n], lits)
			}
		}
		if any && !re.Match(data) {
			t.Fatalf("/%s/: MatchAt matched but Match did not", src)
		}
	})
}

// startsWithOne reports whether b starts with one of lits.
func startsWithOne(b []byte, lits [][]byte) bool {
	for _, l := range lits {
		if bytes.HasPrefix(b, l) {
			return true
		}
	}
	return false
}
