// Package patterns is the analysis logic of Athena's pattern module: it runs
// a compiled YARA rule set (internal/rules, internal/yara) over a file that
// streams in chunks of any size.
//
// The rule set arrives once per instance as the module's "rules" setting
// (module ABI v1.1): an encoded plan that the host compiled, which
// Configure decodes and turns into a scanner. Each file is then scanned as
// it streams.
//
// # Findings
//
// A matching rule is one finding of kind Kind, named after the rule. Rules
// whose truth cannot change once they hold (`any of them`, `$a and $b`...)
// are reported during the Feed that completes them; the others at Finish.
// Severity comes from the rule's meta `severity` (info, low, medium, high,
// critical; default medium), the description from meta `description`. The
// finding's offset and length are those of the rule's first string match;
// its detail has the rule's tags and meta, its index in the rule set, and
// the number of string matches (so far, for an early rule).
//
// When the file's options hold "strings" = "all" (what `athena rules scan
// -s` asks for), Finish also emits, for each matching rule, findings of
// kind KindStrings that list every string match with its data, in batches
// of StringsPerFinding, so a client can print what `yara -s` prints. (An
// early rule's finding has its matches up to that point only.)
package patterns

import (
	"errors"
	"runtime/debug"
	"strings"

	"athena/internal/core"
	"athena/internal/yara/plan"
	"athena/internal/yara/scan"
	"athena/modules/sdk"
)

// Finding kinds.
const (
	Kind        = "pattern"
	KindStrings = "pattern_strings"
)

// StringsPerFinding bounds the string matches one KindStrings finding lists,
// which keeps each finding well under the host's size limit.
const StringsPerFinding = 64

// Analyzer scans files with the rule set it was configured with.
type Analyzer struct {
	emit    sdk.Emit
	sc      *scan.Scanner
	strings bool // list string matches (options "strings": "all")
}

// New returns an Analyzer that has no rule set until Configure.
func New(emit sdk.Emit) sdk.Analyzer { return &Analyzer{emit: emit} }

// Configure loads an encoded plan.
func (a *Analyzer) Configure(setting []byte) error {
	// Building the scanner allocates mostly what it keeps, so collecting
	// on the way is wasted: with 10,000 rules it was a quarter of the
	// instance's start-up. The collector runs during the build only if the
	// heap nears 128 MiB (the module's memory limit is 256).
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(128 << 20))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	p, err := plan.Decode(setting)
	if err != nil {
		return err
	}
	// In wasm, the scan's per-byte loop runs natively on the host
	// (FindAtoms); the rest of the scan stays here.
	sc, err := scan.New(p, scan.Options{Find: sdk.FindAtoms})
	if err != nil {
		return err
	}
	a.sc = sc
	return nil
}

// Begin starts a file. The declared size is not trusted: filesize is what
// arrives.
func (a *Analyzer) Begin(meta core.FileMeta) error {
	if a.sc == nil {
		return errors.New("patterns: no rule set configured")
	}
	a.strings = meta.Options["strings"] == "all"
	a.sc.Begin(-1, a.reportRule)
	return nil
}

// Feed scans the next bytes; early rules are reported from inside.
func (a *Analyzer) Feed(chunk []byte) error {
	a.sc.Write(chunk)
	return nil
}

// Finish reports the rules decided at the end of the file.
func (a *Analyzer) Finish() error {
	for _, m := range a.sc.Finish() {
		if !m.Early {
			a.reportRule(m)
		}
		if a.strings {
			a.reportStrings(m) // all of them: an early report had the first only
		}
	}
	return nil
}

// reportRule emits the rule's finding.
func (a *Analyzer) reportRule(m scan.RuleMatch) {
	f := core.Finding{Kind: Kind, Rule: m.Rule, Severity: core.Medium,
		Detail: map[string]any{"matches": len(m.Strings), "rule_index": m.Index}}
	if len(m.Strings) > 0 {
		f.Offset, f.Length = m.Strings[0].Offset, int64(m.Strings[0].Length)
	}
	if len(m.Tags) > 0 {
		f.Detail["tags"] = m.Tags
	}
	meta := map[string]any{}
	for _, kv := range m.Meta {
		meta[kv.Key] = kv.Value
		switch kv.Key {
		case "severity":
			if s, ok := kv.Value.(string); ok {
				if sev, err := core.ParseSeverity(strings.ToLower(s)); err == nil {
					f.Severity = sev
				}
			}
		case "description":
			if s, ok := kv.Value.(string); ok {
				f.Detail["description"] = s
			}
		}
	}
	if len(meta) > 0 {
		f.Detail["meta"] = meta
	}
	a.emit(f)
}

// reportStrings emits the rule's string matches in batches.
func (a *Analyzer) reportStrings(m scan.RuleMatch) {
	for i := 0; i < len(m.Strings); i += StringsPerFinding {
		batch := m.Strings[i:min(i+StringsPerFinding, len(m.Strings))]
		list := make([]map[string]any, len(batch))
		for k, s := range batch {
			list[k] = map[string]any{"id": s.ID, "offset": s.Offset, "length": s.Length, "data": s.Data, "hex": s.Hex}
		}
		a.emit(core.Finding{Kind: KindStrings, Rule: m.Rule, Severity: core.Info, Offset: batch[0].Offset,
			Detail: map[string]any{"strings": list, "first": i, "total": len(m.Strings)}})
	}
}
