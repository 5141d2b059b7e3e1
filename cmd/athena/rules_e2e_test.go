package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"athena/internal/core"
	"athena/internal/testkit"
)

// rulesScanArgs starts an athena rules scan command line with the test's
// modules and compilation cache.
func rulesScanArgs() []string {
	return []string{"rules", "scan", "--modules", modulesDir, "--cache-dir", cacheDir}
}

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// markerRule matches the text "ATHENA-MARKER-<name>".
func markerRule(name string) string {
	return fmt.Sprintf("rule marker_%s {\n  meta:\n    severity = \"high\"\n  strings:\n    $m = \"ATHENA-MARKER-%s\"\n  condition:\n    $m\n}\n",
		strings.ToLower(name), strings.ToUpper(name))
}

func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.yar"), markerRule("one"))
	out, errOut, code := athena(t, "rules", "check", good)
	if code != 0 || !strings.Contains(out, "1 rules in 1 files: ok") {
		t.Fatalf("check of a good file: exit %d, out %q, err %q", code, out, errOut)
	}
	bad := writeFile(t, filepath.Join(dir, "bad.yar"), "rule a {\n  condition:\n    $missing\n}\n")
	_, errOut, code = athena(t, "rules", "check", bad)
	if code != 1 || !strings.Contains(errOut, bad+":3:") {
		t.Fatalf("check of a bad file: exit %d, stderr %q; want exit 1 and %s:3:col", code, errOut, bad)
	}
}

// TestRulesScanMatchesYara compares athena rules scan with yara on a small
// hand-written set; the generated conformance corpus is in
// TestRulesConformance.
func TestRulesScanMatchesYara(t *testing.T) {
	dir := t.TempDir()
	rules := writeFile(t, filepath.Join(dir, "r.yar"), `
rule text_and_hex {
  strings:
    $t = "needle"
    $h = { 6E 65 ?? 64 6C [1-4] 68 }
  condition:
    any of them
}
rule counted {
  strings:
    $a = "aa"
  condition:
    #a >= 3 and filesize < 1000
}
rule at_start {
  condition:
    uint16(0) == 0x4241
}
private rule hidden {
  strings:
    $p = "needle"
  condition:
    $p
}
rule uses_hidden {
  condition:
    hidden and not at_start
}
`)
	files := filepath.Join(dir, "files")
	os.Mkdir(files, 0o755)
	writeFile(t, filepath.Join(files, "1.txt"), "AB a needle, aaaa, and a needxl__h")
	writeFile(t, filepath.Join(files, "2.txt"), "nothing at all")
	writeFile(t, filepath.Join(files, "3.txt"), "needle needle")
	want, err := exec.Command("yara", "-s", "-r", rules, files).Output()
	if err != nil {
		t.Fatalf("yara: %v", err)
	}
	got, errOut, code := athena(t, append(rulesScanArgs(), "-s", "-r", rules, files)...)
	if code != 0 {
		t.Fatalf("rules scan: exit %d: %s", code, errOut)
	}
	if a, b := sortedLines(string(want)), sortedLines(got); a != b {
		t.Errorf("yara and athena differ.\nyara:\n%s\nathena:\n%s", want, got)
	}
}

// sortedLines groups yara output by file (a rule line and its string lines)
// and sorts the groups: yara's order across files is not deterministic.
func sortedLines(out string) string {
	var groups []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "0x") && len(groups) > 0 {
			groups[len(groups)-1] += "\n" + line
			continue
		}
		groups = append(groups, line)
	}
	slices.Sort(groups)
	return strings.Join(groups, "\n")
}

// TestRulesLiveReload changes the rule set of a running athena serve from
// its --rules directory and through the shared bucket (athena rules push):
// new jobs use the new set, a broken set is refused and the old one stays,
// and verdicts carry the fingerprint of the set they were made with.
func TestRulesLiveReload(t *testing.T) {
	rulesDir := t.TempDir()
	ruleFile := writeFile(t, filepath.Join(rulesDir, "markers.yar"), markerRule("one"))
	natsPort := freePort(t)
	base, _ := startServe(t, 1, "--rules", rulesDir, "--rules-poll", "100ms", "--nats-port", fmt.Sprint(natsPort))
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	sampleDir := t.TempDir()
	n := 0
	// rulesFound scans a new file holding every marker and returns the
	// marker rules found and the verdict's fingerprint.
	rulesFound := func() (string, string) {
		n++
		p := writeFile(t, filepath.Join(sampleDir, fmt.Sprintf("s%d.txt", n)),
			fmt.Sprintf("file %d: ATHENA-MARKER-ONE ATHENA-MARKER-TWO ATHENA-MARKER-THREE\n", n))
		events, _, errOut := scanJSON(t, base, p)
		var found []string
		fp := ""
		for _, ev := range events {
			if ev.Finding != nil && strings.HasPrefix(ev.Finding.Rule, "marker_") {
				found = append(found, ev.Finding.Rule)
			}
			if ev.Verdict != nil {
				fp = ev.Verdict.Fingerprint
			}
		}
		if fp == "" {
			t.Fatalf("no verdict; stderr %s", errOut)
		}
		return strings.Join(found, ","), fp
	}
	waitRules := func(want string) string {
		t.Helper()
		var got, fp string
		testkit.WaitFor(t, 30*time.Second, "rules "+want, func() bool {
			got, fp = rulesFound()
			return got == want
		})
		return fp
	}
	fp1 := waitRules("marker_one")

	// Through the bucket.
	two := writeFile(t, filepath.Join(t.TempDir(), "two.yar"), markerRule("two"))
	out, errOut, code := athena(t, "rules", "push", "--nats", natsURL, two)
	if code != 0 || !strings.Contains(out, "pushed 1 rules") {
		t.Fatalf("push: exit %d, out %q, err %q", code, out, errOut)
	}
	fp2 := waitRules("marker_two")
	if fp2 == fp1 {
		t.Errorf("the fingerprint %s did not change with the rule set", fp1)
	}

	// A broken set is refused by push, and the engine keeps its set.
	broken := writeFile(t, filepath.Join(t.TempDir(), "broken.yar"), "rule x { condition: $nope }\n")
	if _, errOut, code := athena(t, "rules", "push", "--nats", natsURL, broken); code != 1 || !strings.Contains(errOut, broken+":1:") {
		t.Fatalf("push of a broken set: exit %d, stderr %q", code, errOut)
	}
	// A broken edit of the watched directory is refused too.
	writeFile(t, ruleFile, "rule x { condition: $nope }\n")
	if got, _ := rulesFound(); got != "marker_two" {
		t.Fatalf("after broken sets: %q, want marker_two still", got)
	}

	// The directory again: the last change wins.
	writeFile(t, ruleFile, markerRule("three"))
	waitRules("marker_three")

	// The verdict of the last scan is a detection under the new set.
	events, code, _ := scanJSON(t, base, writeFile(t, filepath.Join(sampleDir, "last.txt"), "ATHENA-MARKER-THREE"))
	if code != 1 || events[len(events)-1].Verdict.Label != core.LabelMalicious {
		t.Errorf("last scan: exit %d, verdict %+v", code, events[len(events)-1].Verdict)
	}
}

// TestCommandLineBeatsEnvironment: a repeatable flag given on the command
// line replaces its ATHENA_* variable instead of adding to it (serve passes
// --rules to engines that inherit the environment).
func TestCommandLineBeatsEnvironment(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.yar"), markerRule("one"))
	broken := writeFile(t, filepath.Join(dir, "broken.yar"), "rule x { condition: $nope }\n")
	sample := writeFile(t, filepath.Join(dir, "s.txt"), "ATHENA-MARKER-ONE")
	t.Setenv("ATHENA_RULES", broken)
	if _, errOut, code := athena(t, append(engineArgs("analyze"), sample)...); code != 2 || !strings.Contains(errOut, broken) {
		t.Fatalf("with the broken set from the environment: exit %d, stderr %q", code, errOut)
	}
	out, errOut, code := athena(t, append(engineArgs("analyze"), "--rules", good, sample)...)
	if code != 1 || !strings.Contains(out, "marker_one") {
		t.Fatalf("--rules on the command line: exit %d, stderr %q", code, errOut)
	}
}
