package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"athena/internal/core"
	"athena/internal/testkit"
	"athena/modules/filetype"
)

// plant returns n pseudo-random bytes with payload at offset at.
func plant(n, at int, payload []byte) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	copy(b[at:], payload)
	return b
}

func TestEICARFoundInAnyChunking(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}})
	data := plant(20_000, 9_990, testkit.EICAR()) // straddles chunk boundaries
	for _, chunk := range []int{1, 7, 4096, 65536} {
		events := run(t, e, "sample.bin", data, chunk)
		var hits []core.Finding
		for _, f := range findings(events, "patterns") {
			if f.Rule == "eicar_test_file" {
				hits = append(hits, f)
			}
		}
		if len(hits) != 1 || hits[0].Offset != 9_990 {
			t.Errorf("chunk %d: eicar findings = %+v, want one at offset 9990", chunk, hits)
		}
		if v := verdictOf(t, events); v.Label != core.LabelMalicious || v.Partial {
			t.Errorf("chunk %d: verdict %s partial=%v, want malicious and complete", chunk, v.Label, v.Partial)
		}
	}
}

func TestSameFileGivesIdenticalEvents(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}})
	data := append([]byte("#!/bin/sh\necho hello\n"), plant(40_000, 20_000, testkit.EICAR())...)
	encode := func(events []core.Event) []byte {
		var buf bytes.Buffer
		for _, ev := range events {
			line, err := ev.MarshalLine()
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(line)
		}
		return buf.Bytes()
	}
	first := encode(run(t, e, "a", data, 65536))
	second := encode(run(t, e, "a", data, 65536))
	if !bytes.Equal(first, second) {
		t.Errorf("two runs differ:\n%s\n---\n%s", first, second)
	}
	// Another chunking gives the same findings per module, in the same order.
	ones := run(t, e, "a", data, 1)
	for _, mod := range []string{"filetype", "patterns"} {
		a, _ := json.Marshal(findings(run(t, e, "a", data, 65536), mod))
		b, _ := json.Marshal(findings(ones, mod))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: 1-byte chunks give\n%s\nwant\n%s", mod, b, a)
		}
	}
}

func TestSeqNumbersAndVerdictLast(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}})
	events := run(t, e, "x", plant(10_000, 10, testkit.EICAR()), 1000)
	for i, ev := range events {
		if ev.Seq != int64(i+1) || ev.V != core.SchemaVersion {
			t.Fatalf("event %d has seq %d v %d, want seq %d v %d", i, ev.Seq, ev.V, i+1, core.SchemaVersion)
		}
	}
	v := verdictOf(t, events)
	if len(v.SHA256) != 64 || v.Size != 10_000 || v.Hashes.MD5 == "" || v.Hashes.SHA512 == "" {
		t.Errorf("verdict hashes/size incomplete: %+v", v)
	}
}

// The lines module is written in WebAssembly text and wants text/* only: it
// proves the ABI is language-neutral and that type gating replays the head.
func TestWatModuleRunsOnTextOnly(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}})
	long := strings.Repeat("a", 5000)
	tests := []struct {
		name string
		data string
		want []string // lines findings, as kind:detail JSON
	}{
		{"two lines", "hello\nworld\n", []string{`lines:{"count":2,"longest":5}`}},
		{"unterminated", "a\nbb", []string{`lines:{"count":2,"longest":2}`}},
		{"long line", "x\n" + long + "\n", []string{`long_line@2:{"length":4097}`, `lines:{"count":2,"longest":5000}`}},
		{"binary is skipped", string(plant(9000, 0, []byte("MZ"))), nil},
	}
	for _, tc := range tests {
		for _, chunk := range []int{1, 3, 1 << 16} {
			if got := linesFindings(t, e, tc.name, []byte(tc.data), chunk); got != strings.Join(tc.want, " ") {
				t.Errorf("%s, chunk %d: lines findings = %q, want %q", tc.name, chunk, got, tc.want)
			}
		}
	}
	// Random texts against the obvious count, any chunking.
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 12 {
		var text []byte
		for range rng.IntN(8) {
			n := rng.IntN(3)
			if rng.IntN(3) == 0 {
				n = 4090 + rng.IntN(12) // around the long-line threshold
			}
			text = append(text, strings.Repeat("ab c", n/4+1)[:n]...)
			text = append(text, '\n')
		}
		text = append(text, strings.Repeat("z", rng.IntN(3))...)
		want := linesByHand(text)
		chunk := 100 + rng.IntN(5000) // the cases above feed single bytes
		if got := linesFindings(t, e, "random.txt", text, chunk); got != want {
			t.Errorf("round %d (%d bytes, chunk %d): lines findings = %q, want %q", round, len(text), chunk, got, want)
		}
	}
}

// linesFindings runs data through e and gives the lines module's findings
// as "kind[@offset]:detail" words.
func linesFindings(t *testing.T, e *Engine, name string, data []byte, chunk int) string {
	var got []string
	for _, f := range findings(run(t, e, name, data, chunk), "lines") {
		d, _ := json.Marshal(f.Detail)
		k := f.Kind
		if f.Kind == "long_line" {
			k += fmt.Sprintf("@%d", f.Offset)
		}
		got = append(got, k+":"+string(d))
	}
	return strings.Join(got, " ")
}

// linesByHand is what the lines module reports for a text file.
func linesByHand(text []byte) string {
	var out []string
	count, longest, start := 0, 0, 0
	long := false
	for i := 0; i <= len(text); i++ {
		if i < len(text) && text[i] != '\n' {
			continue
		}
		n := i - start
		if i == len(text) && n == 0 {
			break
		}
		if n > 4096 && !long {
			long = true
			out = append(out, fmt.Sprintf(`long_line@%d:{"length":4097}`, start))
		}
		count++
		longest = max(longest, n)
		start = i + 1
	}
	if len(text) == 0 {
		return ""
	}
	return strings.Join(append(out, fmt.Sprintf(`lines:{"count":%d,"longest":%d}`, count, longest)), " ")
}

// chaosAndLines is a module directory with chaos, which is critical, and
// lines, which is not: a small set keeps a cold compile short.
func chaosAndLines(t *testing.T) string {
	mods := t.TempDir()
	for _, p := range []string{filepath.Join(chaosDir, "chaos.wasm"), filepath.Join(builtinDir, "lines.wasm")} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(mods, filepath.Base(p)), b, 0o644)
	}
	return mods
}

func TestCompilationCacheIsWritten(t *testing.T) {
	mods := chaosAndLines(t)
	dir := t.TempDir()
	newEngine(t, Config{ModuleDirs: []string{mods}, CacheDir: dir})
	var files int
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files == 0 {
		t.Errorf("compilation cache %s is empty after start", dir)
	}
	// A second engine starts from the cache.
	e := newEngine(t, Config{ModuleDirs: []string{mods}, CacheDir: dir})
	for _, m := range e.Modules() {
		if m.Critical && m.Idle != m.Prewarm {
			t.Errorf("%s: %d idle instances, want %d pre-warmed", m.Name, m.Idle, m.Prewarm)
		}
		if !m.Critical && m.Compiled {
			t.Errorf("%s is not critical but was compiled at start, want lazy", m.Name)
		}
	}
}

// TestWarmUp: WarmUp loads the modules New left lazy and makes their
// pre-warmed instances; after Close it makes none.
func TestWarmUp(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{chaosAndLines(t)}})
	lazy := func() []ModuleInfo {
		var out []ModuleInfo
		for _, m := range e.Modules() {
			if !m.Critical {
				out = append(out, m)
			}
		}
		return out
	}
	if ms := lazy(); len(ms) != 1 || ms[0].Compiled {
		t.Fatalf("before WarmUp: %+v, want lines, not compiled", ms)
	}
	if err := e.WarmUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := lazy()[0]; !m.Compiled || m.Idle != m.Prewarm {
		t.Fatalf("after WarmUp: %+v, want compiled with %d idle instances", m, m.Prewarm)
	}
	e.Close(context.Background())
	if err := e.WarmUp(context.Background()); err == nil {
		t.Fatal("WarmUp after Close made instances")
	}
	if m := lazy()[0]; m.Idle != 0 {
		t.Fatalf("after Close and WarmUp: %d idle instances", m.Idle)
	}
}

func TestBadModuleDirectories(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "junk.wasm"), []byte("not wasm"), 0o644)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing dir", Config{ModuleDirs: []string{filepath.Join(dir, "nope")}}, "module directory"},
		{"not wasm", Config{ModuleDirs: []string{dir}}, "not a wasm binary"},
		{"duplicate", Config{ModuleDirs: []string{builtinDir, builtinDir}}, "defined twice"},
		{"unknown runtime", Config{ModuleDirs: []string{builtinDir}, Runtime: "v8"}, "unknown wasm runtime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestEntropyOnTheHostMatchesNative: the filetype module counts its bytes
// through byte_counts (ABI v1.5); its entropy findings are those of the
// same module built natively, which counts them itself.
func TestEntropyOnTheHostMatchesNative(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}})
	rng := rand.New(rand.NewPCG(5, 6))
	var data []byte
	for range 40 { // runs of random, zero and text bytes: regions open and close
		n := 1 + rng.IntN(20_000)
		switch rng.IntN(3) {
		case 0:
			for range n {
				data = append(data, byte(rng.Uint32()))
			}
		case 1:
			data = append(data, make([]byte, n)...)
		default:
			data = append(data, strings.Repeat("entropy ", n/8+1)[:n]...)
		}
	}
	words := func(fs []core.Finding) string {
		var out []string
		for _, f := range fs {
			if f.Kind == filetype.KindEntropy {
				d, _ := json.Marshal(f.Detail)
				out = append(out, fmt.Sprintf("%s@%d+%d:%s", f.Rule, f.Offset, f.Length, d))
			}
		}
		return strings.Join(out, " ")
	}
	var native []core.Finding
	a := filetype.New(func(f core.Finding) { native = append(native, f) })
	a.Begin(core.FileMeta{Name: "mixed.bin"})
	for p := data; len(p) > 0; p = p[min(7000, len(p)):] {
		a.Feed(p[:min(7000, len(p))])
	}
	a.Finish()
	want := words(native)
	if !strings.Contains(want, filetype.RuleHighEntropyRegion) {
		t.Fatalf("test data makes no high-entropy region: %s", want)
	}
	if got := words(findings(run(t, e, "mixed.bin", data, 7000), "filetype")); got != want {
		t.Fatalf("engine's filetype entropy:\n%s\nnative:\n%s", got, want)
	}
}
