package patterns

import (
	"bytes"
	"testing"

	"athena/internal/core"
	"athena/internal/rules"
	"athena/internal/testkit"
)

func configured(t *testing.T, src string) (*Analyzer, *[]core.Finding) {
	t.Helper()
	var found []core.Finding
	a := New(func(f core.Finding) { found = append(found, f) }).(*Analyzer)
	var set *rules.Set
	var err error
	if src == "" {
		set, err = rules.Builtin()
	} else {
		set, err = rules.Compile([]rules.Source{{Name: "t.yar", Data: []byte(src)}}, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Configure(set.Plan); err != nil {
		t.Fatal(err)
	}
	return a, &found
}

func scanChunks(t *testing.T, a *Analyzer, data []byte, chunk int, opts map[string]string) {
	t.Helper()
	if err := a.Begin(core.FileMeta{Name: "f", Size: -1, Options: opts}); err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(chunk, len(data))
		if err := a.Feed(data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	if err := a.Finish(); err != nil {
		t.Fatal(err)
	}
}

func TestBuiltinRulesFindEICARInAnyChunking(t *testing.T) {
	data := append(bytes.Repeat([]byte("harmless "), 1000), testkit.EICAR()...)
	for _, chunk := range []int{1, 7, 4096, len(data)} {
		a, found := configured(t, "")
		scanChunks(t, a, data, chunk, nil)
		if len(*found) != 1 {
			t.Fatalf("chunk %d: findings %+v, want one", chunk, *found)
		}
		f := (*found)[0]
		if f.Kind != Kind || f.Rule != "eicar_test_file" || f.Severity != core.High || f.Offset != 9000 || f.Length != 68 {
			t.Errorf("chunk %d: finding %+v", chunk, f)
		}
		if f.Detail["description"] != "EICAR anti-virus test file" {
			t.Errorf("chunk %d: detail %v", chunk, f.Detail)
		}
	}
}

func TestEarlyRuleIsReportedDuringFeed(t *testing.T) {
	a, found := configured(t, `rule early { strings: $a = "marker" condition: $a }
rule late { strings: $a = "marker" condition: $a and filesize > 10 }`)
	if err := a.Begin(core.FileMeta{Size: -1}); err != nil {
		t.Fatal(err)
	}
	a.Feed([]byte("a marker and more bytes"))
	if len(*found) != 1 || (*found)[0].Rule != "early" {
		t.Fatalf("after the feed: %+v, want the early rule only", *found)
	}
	a.Finish()
	if len(*found) != 2 || (*found)[1].Rule != "late" {
		t.Fatalf("after finish: %+v, want early then late", *found)
	}
}

func TestStringsOptionListsEveryMatch(t *testing.T) {
	a, found := configured(t, `rule r : tag1 { meta: severity = "low" strings: $a = "ab" $h = { 63 64 } condition: any of them }`)
	scanChunks(t, a, bytes.Repeat([]byte("abcd"), 100), 64, map[string]string{"strings": "all"})
	var total int
	for _, f := range (*found)[1:] {
		if f.Kind != KindStrings {
			t.Fatalf("finding %+v, want only pattern_strings after the rule", f)
		}
		total += len(f.Detail["strings"].([]map[string]any))
	}
	if r := (*found)[0]; r.Severity != core.Low || r.Detail["matches"].(int) < 1 {
		t.Errorf("rule finding %+v", r)
	}
	if total != 200 || len(*found) != 1+200/StringsPerFinding+1 {
		t.Errorf("%d string matches in %d findings, want 200 in batches of %d", total, len(*found)-1, StringsPerFinding)
	}
}

func TestWithoutRuleSet(t *testing.T) {
	a := New(func(core.Finding) {}).(*Analyzer)
	if err := a.Begin(core.FileMeta{}); err == nil {
		t.Error("Begin without a rule set succeeded")
	}
	if err := a.Configure([]byte("not a plan")); err == nil {
		t.Error("Configure accepted garbage")
	}
}
