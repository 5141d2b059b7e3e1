// Package k6 holds Athena's k6 load-test scripts (see README.md). It has no
// Go code of its own: its test checks the scripts' syntax with node and that
// README.md's threshold table is what the scripts declare.
package k6

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestScriptsParse checks every script is a valid ES module.
func TestScriptsParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is a test dependency (make deps installs nodejs)")
	}
	scripts, _ := filepath.Glob("*.js")
	if len(scripts) < 4 {
		t.Fatalf("scripts %v, want ws_upload.js, http2_upload.js, cache_mix.js and lib.js", scripts)
	}
	for _, s := range scripts {
		t.Run(s, func(t *testing.T) {
			f, err := os.Open(s)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd := exec.Command(node, "--input-type=module", "--check")
			cmd.Stdin = f
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("node --check %s: %v\n%s", s, err, out)
			}
		})
	}
}

// thresholdLine is one `'metric': ['expression'],` line of a script's
// thresholds.
var thresholdLine = regexp.MustCompile(`(?m)^\s*'([^']+)':\s*\['([^']+)'\],?\s*$`)

// readmeRow is one row of README.md's threshold table.
var readmeRow = regexp.MustCompile("(?m)^\\| `([a-z0-9_]+\\.js)` \\| `([^`]+)` \\| `([^`]+)` \\|")

// TestThresholdsMatchREADME checks that README.md's threshold table and the
// scripts' thresholds blocks list the same thresholds.
func TestThresholdsMatchREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range readmeRow.FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]+" "+m[2]+" "+m[3]] = true
	}
	declared := map[string]bool{}
	for _, s := range []string{"ws_upload.js", "http2_upload.js", "cache_mix.js"} {
		src, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		block := string(src)
		start := strings.Index(block, "thresholds: {")
		if start < 0 {
			t.Errorf("%s has no thresholds", s)
			continue
		}
		block = block[start:]
		block = block[:strings.Index(block, "\n  },")]
		for _, m := range thresholdLine.FindAllStringSubmatch(block, -1) {
			declared[s+" "+m[1]+" "+m[2]] = true
		}
	}
	for _, want := range []string{
		"cache_mix.js http_req_duration{name:verdict_lookup} p(95)<200",
		"cache_mix.js http_reqs{name:verdict_lookup} rate>1000",
		"cache_mix.js athena_cache_hits rate>0.8",
	} {
		if !declared[want] {
			t.Errorf("product target %q is not a threshold", want)
		}
	}
	for _, k := range keys(documented) {
		if !declared[k] {
			t.Errorf("README.md lists threshold %q; the script does not declare it", k)
		}
	}
	for _, k := range keys(declared) {
		if !documented[k] {
			t.Errorf("threshold %q is not in README.md's table", k)
		}
	}
	if len(documented) == 0 {
		t.Errorf("no threshold rows found in README.md")
	}
}

func keys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
