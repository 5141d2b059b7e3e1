package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"athena/internal/yara/yaragen"
)

// TestRulesConformance is the differential test against Debian's yara
// 4.2: the generated corpus and rule set (internal/yara/yaragen) scanned by
// yara and by athena rules scan, through the pattern module and the
// engine, must give identical (rule, file) sets and string matches.
func TestRulesConformance(t *testing.T) {
	dir := t.TempDir()
	corpus := filepath.Join(dir, "corpus")
	o := yaragen.Options{Seed: 1}
	if err := yaragen.Corpus(corpus, o); err != nil {
		t.Fatal(err)
	}
	src, feats := yaragen.Generate(o)
	rules := filepath.Join(dir, "rules.yar")
	if err := os.WriteFile(rules, src, 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := yaragen.Reference(t.Context(), "yara", rules, corpus)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := athena(t, append(rulesScanArgs(), "-s", "-r", "-p", "2", rules, corpus)...)
	if code != 0 {
		t.Fatalf("athena rules scan: exit %d\n%s", code, errOut)
	}
	got, err := yaragen.ParseOutput([]byte(out))
	if err != nil {
		t.Fatalf("our output does not parse as yara's: %v", err)
	}
	if d := yaragen.Diff(want, got); len(d) > 0 {
		t.Errorf("%d differences from yara, first ones:\n%s", len(d), strings.Join(d[:min(40, len(d))], "\n"))
	}
	var paths []string
	for _, f := range yaragen.Files(o) {
		paths = append(paths, filepath.Join(corpus, f.Name))
	}
	t.Log(yaragen.FormatCoverage(yaragen.Coverage(want, feats, paths)))
}
