package yaragen

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// ReferenceArgs are the arguments the reference scan passes to yara before
// the rules file and directory: print strings, recurse, no warnings, two
// threads (ParseOutput does not mind the order threads print in).
var ReferenceArgs = []string{"-s", "-r", "-w", "-p", "2"}

// Reference runs the reference scanner, yara (a path or a name on $PATH),
// over dir with the rules in rulesPath, and parses its output. Anything
// yara writes to standard error, such as a rule that fails to compile or a
// file it could not scan, is an error: a differential test must not compare
// against a partial scan.
func Reference(ctx context.Context, yara, rulesPath, dir string) (Result, error) {
	args := append(append([]string(nil), ReferenceArgs...), rulesPath, dir)
	cmd := exec.CommandContext(ctx, yara, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		return Result{}, fmt.Errorf("yaragen: %s %s: %v: %s", yara, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return ParseOutput(out)
}

// FeatureCount is how a feature fared in a scan: how many (non-private)
// rules use it, how many of those matched at least one file, and how many
// (rule, file) pairs matched and did not.
type FeatureCount struct {
	Rules, RulesHit int
	Hits, Misses    int
}

// Coverage counts, for every feature of Features, the hits and misses of the
// rules using it (features as Generate returns them) over the given file
// paths, as printed in res.
func Coverage(res Result, features map[string][]string, paths []string) map[string]FeatureCount {
	out := map[string]FeatureCount{}
	for _, f := range Features() {
		out[f] = FeatureCount{}
	}
	for rule, feats := range features {
		var hit int
		for _, p := range paths {
			if res.Matched(rule, p) {
				hit++
			}
		}
		for _, f := range feats {
			c := out[f]
			c.Rules++
			c.Hits += hit
			c.Misses += len(paths) - hit
			if hit > 0 {
				c.RulesHit++
			}
			out[f] = c
		}
	}
	return out
}

// FormatCoverage renders a Coverage table, one feature a line, sorted.
func FormatCoverage(cov map[string]FeatureCount) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-18s %6s %6s %8s %8s\n", "feature", "rules", "hit", "hits", "misses")
	names := make([]string, 0, len(cov))
	for f := range cov {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		c := cov[f]
		fmt.Fprintf(&b, "%-18s %6d %6d %8d %8d\n", f, c.Rules, c.RulesHit, c.Hits, c.Misses)
	}
	return b.String()
}
