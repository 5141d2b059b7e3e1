package yaratest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"athena/internal/yara/compile"
	"athena/internal/yara/parser"
	"athena/internal/yara/plan"
	"athena/internal/yara/scan"
)

// TestCasesAgainstAthena runs every case through Athena's own engine:
// parse, compile, build a scanner, scan. Cases newer than yara 4.2.3 run
// too: Athena follows the YARA language, not one release's bugs. A
// CompileError case passes on any error from parse, compile or scan.New;
// ErrSub is yara's wording and is not checked here.
//
// Each case is scanned three times: in one Write, byte by byte and in
// 7-byte chunks, since Athena sees files as streams and a match must not
// depend on where chunk borders fall.
func TestCasesAgainstAthena(t *testing.T) {
	var (
		mu     sync.Mutex
		failed = map[string]int{} // by group: the name up to its first '/'
	)
	t.Cleanup(func() { // after every parallel subtest
		if len(failed) > 0 {
			t.Logf("failing cases by group: %v", failed)
		}
	})
	for _, c := range Cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			for _, chunk := range []int{0, 1, 7} {
				got, err := runAthena(c, chunk)
				if got != c.Want {
					group, _, _ := strings.Cut(c.Name, "/")
					mu.Lock()
					failed[group]++
					mu.Unlock()
					t.Fatalf("%s (chunk %d): athena gave %v (err: %v), want %v\nrule:\n%s\ndata: %q",
						c.Name, chunk, got, err, c.Want, c.Rule, c.Data)
				}
				if c.Want == CompileError {
					break // no scan, so chunking is moot
				}
			}
		})
	}
}

// runAthena compiles c.Rule and scans c.Data, writing chunk bytes at a
// time (0: all at once). It returns the outcome and the error behind a
// CompileError; a panic anywhere becomes an error, not a crash of the
// whole table.
func runAthena(c Case, chunk int) (got Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			got, err = -1, fmt.Errorf("panic: %v", r)
		}
	}()
	p, err := compileCase(c)
	if err != nil {
		return CompileError, err
	}
	return scanCase(p, c, chunk)
}

// compileCase parses and compiles c.Rule.
func compileCase(c Case) (*plan.Plan, error) {
	rs, err := parser.Parse("test.yar", []byte(c.Rule), parser.Options{})
	if err != nil {
		return nil, err
	}
	return compile.Compile(rs, compile.Options{})
}

// scanCase scans c.Data with p; an error from scan.New counts as a
// CompileError (it rejects what the scanner cannot run).
func scanCase(p *plan.Plan, c Case, chunk int) (Outcome, error) {
	s, err := scan.New(p, scan.Options{})
	if err != nil {
		return CompileError, err
	}
	s.Begin(int64(len(c.Data)), nil)
	if chunk <= 0 {
		s.Write(c.Data)
	} else {
		for off := 0; off < len(c.Data); off += chunk {
			s.Write(c.Data[off:min(off+chunk, len(c.Data))])
		}
	}
	target := c.TargetRule()
	for _, m := range s.Finish() {
		if target == "" || m.Rule == target {
			return Match, nil
		}
	}
	return NoMatch, nil
}

// FuzzChunking checks that where chunk borders fall never changes a scan:
// any case's rules over mutated data give the same outcome written whole
// and written in chunks of the fuzzed size, and nothing panics.
func FuzzChunking(f *testing.F) {
	plans := make([]*plan.Plan, len(Cases)) // compiled once: scans are what is fuzzed
	for i, c := range Cases {
		if c.Want == CompileError {
			continue
		}
		if p, err := compileCase(c); err == nil {
			plans[i] = p
		}
		f.Add(uint16(i), c.Data, uint8(1+i%13))
	}
	f.Fuzz(func(t *testing.T, index uint16, data []byte, chunk uint8) {
		c := Cases[int(index)%len(Cases)]
		// Long data is left out: some scans are quadratic, in yara too
		// (/A.*D/ over 70,000 'A's takes about 20 s in both).
		if c.Want == CompileError || chunk == 0 || len(data) > 1024 {
			return
		}
		p := plans[int(index)%len(Cases)]
		if p == nil {
			return // a feature the engine does not have yet
		}
		c.Data = data
		whole, err := scanCase(p, c, 0)
		if err != nil {
			return // likewise, refused by scan.New
		}
		chunked, err := scanCase(p, c, int(chunk))
		if chunked != whole || err != nil {
			t.Fatalf("%s over %q: whole gave %v, chunks of %d gave %v (err: %v)", c.Name, data, whole, chunk, chunked, err)
		}
	})
}
