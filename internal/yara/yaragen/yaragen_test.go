package yaragen

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestDeterministic(t *testing.T) {
	o := Options{Seed: 42, Files: 60, Rules: 200}
	a, b := Files(o), Files(o)
	if len(a) != 60 {
		t.Fatalf("Files: got %d files, want 60", len(a))
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Data, b[i].Data) {
			t.Fatalf("file %d differs between two runs", i)
		}
	}
	if !bytes.Equal(Rules(o), Rules(o)) {
		t.Fatal("Rules differs between two runs")
	}
	// More files keep the earlier ones.
	more := Files(Options{Seed: 42, Files: 80})
	for i := range a {
		if !bytes.Equal(a[i].Data, more[i].Data) {
			t.Fatalf("file %d changed when adding files", i)
		}
	}
	if other := Files(Options{Seed: 43, Files: 60}); bytes.Equal(other[5].Data, a[5].Data) {
		t.Error("seeds 42 and 43 gave the same file 5")
	}
	if bytes.Equal(Rules(o), Rules(Options{Seed: 43, Files: 60, Rules: 200})) {
		t.Error("seeds 42 and 43 gave the same rules")
	}

	dir := t.TempDir()
	if err := Corpus(dir, o); err != nil {
		t.Fatal(err)
	}
	for _, f := range a {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.Data) {
			t.Fatalf("%s on disk differs from Files", f.Name)
		}
	}
}

func TestCorpusShape(t *testing.T) {
	files := Files(Options{Seed: 7})
	if len(files) != 120 {
		t.Fatalf("default corpus: got %d files, want 120", len(files))
	}
	got := map[string]int{}
	var largest int
	for _, f := range files {
		got[f.kind]++
		largest = max(largest, len(f.Data))
		if len(f.Data) > 256*1024 {
			t.Errorf("%s: %d bytes, want at most 256 KiB", f.Name, len(f.Data))
		}
	}
	for _, k := range kinds {
		if got[k.name] == 0 {
			t.Errorf("no %s file in the corpus", k.name)
		}
	}
	for _, k := range []string{"empty", "sentinel"} {
		if got[k] == 0 {
			t.Errorf("no %s file in the corpus", k)
		}
	}
	if largest < 64*1024 {
		t.Errorf("largest file %d bytes, want some over 64 KiB", largest)
	}
	if len(files[0].Data) != 0 {
		t.Error("file 0 is not empty")
	}
	if src := Rules(Options{Seed: 7}); bytes.Count(src, []byte("\nrule "))+
		bytes.Count(src, []byte("\nprivate rule "))+bytes.Count(src, []byte("\nglobal ")) != 600 {
		t.Error("default rule set does not have 600 rules")
	}
}

// TestYara compiles the rules with the reference yara, scans the corpus and
// checks that every feature gets hits and misses, that the output parses and
// round-trips, and that Diff sees planted differences.
func TestYara(t *testing.T) {
	yara, err := exec.LookPath("yara")
	if err != nil {
		t.Fatal("yara is a test dependency (make deps installs it): ", err)
	}
	o := Options{Seed: 1}
	dir := t.TempDir()
	corpus := filepath.Join(dir, "corpus")
	if err := Corpus(corpus, o); err != nil {
		t.Fatal(err)
	}
	src, features := Generate(o)
	rules := filepath.Join(dir, "rules.yar")
	if err := os.WriteFile(rules, src, 0o644); err != nil {
		t.Fatal(err)
	}
	compile := exec.Command(yara, "-w", rules, os.DevNull)
	var compileErr bytes.Buffer
	compile.Stderr = &compileErr
	if err := compile.Run(); err != nil || compileErr.Len() > 0 {
		t.Fatalf("yara does not compile the rules: %v\n%s", err, compileErr.Bytes())
	}

	scan := func() Result {
		res, err := Reference(context.Background(), yara, rules, corpus)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := scan()
	again := scan()
	if d := Diff(res, again); len(d) > 0 {
		t.Fatalf("two yara -p 2 scans differ: %v", d[:min(len(d), 10)])
	}
	round, err := ParseOutput(res.Format())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(round, res) {
		t.Fatalf("ParseOutput(Format()) does not round-trip: %v", Diff(res, round))
	}

	files := Files(o)
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(corpus, filepath.FromSlash(f.Name))
	}
	for _, i := range []int{1, 2} {
		if n := len(res.Files[paths[i]]); n != 0 {
			t.Errorf("sentinel %s matched %d rules, want 0 (global rules)", files[i].Name, n)
		}
	}
	for file := range res.Files {
		if !strings.HasPrefix(file, corpus) {
			t.Errorf("unexpected path %q in output", file)
		}
	}

	cov := Coverage(res, features, paths)
	t.Logf("%d rules, %d files, %d matches; per feature:\n%s", len(features), len(files), res.Pairs(), FormatCoverage(cov))
	for _, f := range Features() {
		c := cov[f]
		if c.Rules < 5 || c.Hits == 0 || c.Misses == 0 || c.RulesHit == 0 {
			t.Errorf("feature %s: %d rules, %d hits, %d misses; want at least 5 rules, hits and misses", f, c.Rules, c.Hits, c.Misses)
		}
	}
	if len(cov) != len(Features()) {
		t.Errorf("rules report features Features() does not list: %d vs %d", len(cov), len(Features()))
	}

	// With tags and metadata: the same matches, and the columns parse.
	out, err := exec.Command(yara, "-s", "-g", "-m", "-r", "-w", rules, corpus).Output()
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := ParseOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(res, tagged); len(d) > 0 {
		t.Errorf("-g -m scan differs: %v", d[:min(len(d), 10)])
	}
	var withTags, withMeta int
	for _, rules := range tagged.Files {
		for _, rm := range rules {
			if rm.Tags == nil || rm.Meta == nil {
				t.Fatalf("-g -m output without tag or meta column: %+v", rm)
			}
			if len(rm.Tags) > 0 {
				withTags++
			}
			if len(rm.Meta) > 0 {
				withMeta++
			}
		}
	}
	if withTags == 0 || withMeta == 0 {
		t.Errorf("-g -m: %d matches with tags, %d with metadata; want some of each", withTags, withMeta)
	}
	if round, err := ParseOutput(tagged.Format()); err != nil || !reflect.DeepEqual(round, tagged) {
		t.Errorf("-g -m output does not round-trip: %v", err)
	}

	var strs int
	for _, rules := range res.Files {
		for _, rm := range rules {
			strs += len(rm.Strings)
		}
	}
	if strs == 0 {
		t.Error("no string matches in yara -s output")
	}

	// Plant differences and make sure Diff reports each.
	got := Result{Files: map[string]map[string]RuleMatch{}}
	for f, rules := range res.Files {
		got.Files[f] = map[string]RuleMatch{}
		for r, m := range rules {
			m.Strings = append([]StringMatch(nil), m.Strings...)
			got.Files[f][r] = m
		}
	}
	var victimFile, victimRule string
	for _, f := range sortedKeys(got.Files) {
		for _, r := range sortedKeys(got.Files[f]) {
			if len(got.Files[f][r].Strings) > 0 && victimFile == "" {
				victimFile, victimRule = f, r
			}
		}
	}
	m := got.Files[victimFile][victimRule]
	m.Strings[0].Offset++
	got.Files[victimFile][victimRule] = m
	gone := sortedKeys(got.Files[paths[3]])[0]
	delete(got.Files[paths[3]], gone)
	if got.Files[paths[0]] == nil {
		got.Files[paths[0]] = map[string]RuleMatch{}
	}
	got.Files[paths[0]]["r9999_extra"] = RuleMatch{}
	d := Diff(res, got)
	want := []string{
		"missing match: rule " + gone + " on " + paths[3],
		"extra match: rule r9999_extra on " + paths[0],
		"rule " + victimRule + " on " + victimFile + ": missing string match",
		"rule " + victimRule + " on " + victimFile + ": extra string match",
	}
	if len(d) != len(want) {
		t.Fatalf("Diff: got %d lines, want %d:\n%s", len(d), len(want), strings.Join(d, "\n"))
	}
	for _, w := range want {
		found := false
		for _, line := range d {
			found = found || strings.HasPrefix(line, w)
		}
		if !found {
			t.Errorf("Diff lacks %q:\n%s", w, strings.Join(d, "\n"))
		}
	}
}

func TestParseOutput(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Result
		err  bool
	}{
		{name: "empty", in: "", want: Result{Files: map[string]map[string]RuleMatch{}}},
		{
			name: "plain and strings, any order",
			in: "b ./x\n" +
				"a ./x\n0x11:$a: HELLO\n0x0:$a: hello\n0xb:$h: 00 01 61\n" +
				"\n" +
				"a ./dir with space/y\n0x3e8:$t: x\\x00y\\x09z\"q\\w\\xFF\n",
			want: Result{Files: map[string]map[string]RuleMatch{
				"./x": {
					"a": {Strings: []StringMatch{{0, "$a", "hello"}, {0xb, "$h", "00 01 61"}, {0x11, "$a", "HELLO"}}},
					"b": {},
				},
				"./dir with space/y": {"a": {Strings: []StringMatch{{0x3e8, "$t", `x\x00y\x09z"q\w\xFF`}}}},
			}},
		},
		{
			name: "tags and meta",
			in:   "a [t1,t2] [author=\"x, [y]\",n =5,b=true] ./f1\n0x0:$: abc\nd [] [] f3\n",
			want: Result{Files: map[string]map[string]RuleMatch{
				"./f1": {"a": {Tags: []string{"t1", "t2"}, Meta: []string{`author="x, [y]"`, "n =5", "b=true"},
					Strings: []StringMatch{{0, "$", "abc"}}}},
				"f3": {"d": {Tags: []string{}, Meta: []string{}}},
			}},
		},
		{
			name: "meta only",
			in:   "a [s=\"a\\\"b\",i =-3] g1\n",
			want: Result{Files: map[string]map[string]RuleMatch{
				"g1": {"a": {Meta: []string{`s="a\"b"`, "i =-3"}}},
			}},
		},
		{name: "string before rule", in: "0x0:$a: abc\n", err: true},
		{name: "rule without path", in: "lonely\n", err: true},
		{name: "garbage", in: "a b\nnot-a-rule x\n", err: true},
		{name: "bad offset", in: "a b\n0xZZ:$a: x\n", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOutput([]byte(tt.in))
			if tt.err {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			round, err := ParseOutput(got.Format())
			if err != nil || !reflect.DeepEqual(round, got) {
				t.Fatalf("round trip: %v\n%+v\n%s", err, round, got.Format())
			}
		})
	}
}

func TestDiff(t *testing.T) {
	r := func(lines string) Result {
		res, err := ParseOutput([]byte(lines))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	tests := []struct {
		name      string
		want, got string
		diff      []string
	}{
		{"equal", "a f\n0x1:$a: x\n", "a f\n0x1:$a: x\n", nil},
		{"missing rule", "a f\nb f\n", "a f\n", []string{"missing match: rule b on f"}},
		{"extra rule", "a f\n", "a f\nb g\n", []string{"extra match: rule b on g"}},
		{"offset", "a f\n0x1:$a: x\n", "a f\n0x2:$a: x\n", []string{
			"rule a on f: missing string match 0x1:$a: x", "rule a on f: extra string match 0x2:$a: x"}},
		{"duplicate match", "a f\n0x1:$a: x\n0x1:$a: x\n", "a f\n0x1:$a: x\n", []string{
			"rule a on f: missing string match 0x1:$a: x"}},
		{"data", "a f\n0x1:$a: x\n", "a f\n0x1:$a: y\n", []string{
			"rule a on f: missing string match 0x1:$a: x", "rule a on f: extra string match 0x1:$a: y"}},
		{"tags", "a [x] f\n", "a [y] f\n", []string{"rule a on f: tags [x], got [y]"}},
		{"tags ignored when absent", "a [x] f\n", "a f\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(r(tt.want), r(tt.got))
			sort.Strings(got)
			want := append([]string(nil), tt.diff...)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("got %q\nwant %q", got, want)
			}
		})
	}
}

func FuzzParseOutput(f *testing.F) {
	f.Add([]byte("a [t] [m=1] ./x\n0x0:$a: hello\n0x5:$b: 00 01\n"))
	f.Add([]byte("rule path\n\nrule2 [] [] p\n0x10:$: \n"))
	f.Add([]byte("0x1:$a: x\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		res, err := ParseOutput(in)
		if err != nil {
			return
		}
		out := res.Format()
		again, err := ParseOutput(out)
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%q", err, out)
		}
		if !bytes.Equal(again.Format(), out) {
			t.Fatalf("Format not stable:\n%q\n%q", out, again.Format())
		}
		if d := Diff(res, res); len(d) > 0 {
			t.Fatalf("Diff of a result with itself: %v", d)
		}
	})
}
