// Package core holds the domain types that every part of Athena shares: the
// file a client streams in, the findings that modules report about it, the
// events a job produces and the verdict that ends it.
//
// It is a leaf: it imports nothing of Athena's, so the gateway, the engine,
// the wire codecs and the wasm guests can all depend on it without cycles.
// Its JSON forms are part of the module ABI (modules/README.md) and of the
// event schema, so field names change only with a version bump.
package core

import (
	"encoding/json"
	"fmt"
)

// Severity ranks a finding. The zero value is Info.
type Severity int

// Severities in increasing order.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

// String returns the lower-case name used on the wire.
func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a wire name such as "high".
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if n == name {
			return Severity(i), nil
		}
	}
	return Info, fmt.Errorf("core: unknown severity %q", name)
}

// MarshalText encodes the severity as its wire name.
func (s Severity) MarshalText() ([]byte, error) {
	if s < Info || s > Critical {
		return nil, fmt.Errorf("core: invalid severity %d", int(s))
	}
	return []byte(severityNames[s]), nil
}

// UnmarshalText decodes a wire name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// FileMeta describes a file as the client declared it. It is what a module's
// begin call receives (as JSON), so a module may use it but must not trust it.
type FileMeta struct {
	// Name is the client's file name, for display only.
	Name string `json:"name,omitempty"`
	// Size is the declared size in bytes, or -1 when the client did not say.
	Size int64 `json:"size"`
	// Options carry per-job settings a module may honour.
	Options map[string]string `json:"options,omitempty"`
}

// Finding kinds that the host itself emits.
const (
	// KindAnalysisFailed reports that a module could not analyse the file
	// (deadline, trap, out of memory, guest panic). Detail "reason" says why.
	KindAnalysisFailed = "analysis_failed"
	// KindBudgetExceeded reports that a budget (depth, children, extracted
	// bytes...) cut the analysis short. Detail "budget" names it.
	KindBudgetExceeded = "budget_exceeded"
)

// Finding is one observation a module made about a file.
//
// Modules emit findings through the ABI's emit import as JSON of this shape;
// the host sets Module itself and ignores what the guest put there.
type Finding struct {
	Module   string         `json:"module"`
	Kind     string         `json:"kind"`
	Rule     string         `json:"rule,omitempty"`
	Severity Severity       `json:"severity"`
	Offset   int64          `json:"offset"`
	Length   int64          `json:"length,omitempty"`
	Detail   map[string]any `json:"detail,omitempty"`
	// Path locates the extracted child the finding is about ("a.zip >
	// docs/x.docm"); empty for the file itself.
	Path string `json:"path,omitempty"`
}

// Hashes are the cryptographic digests of a whole file, hex encoded. The host
// computes them natively while the file streams.
type Hashes struct {
	MD5    string `json:"md5"`
	SHA1   string `json:"sha1"`
	SHA256 string `json:"sha256"`
	SHA512 string `json:"sha512"`
}

// Verdict labels, from best to worst.
const (
	LabelClean      = "clean"
	LabelSuspicious = "suspicious"
	LabelMalicious  = "malicious"
)

// Verdict is the scored conclusion of a job.
type Verdict struct {
	Label   string   `json:"label"`
	Score   int      `json:"score"`
	Reasons []string `json:"reasons,omitempty"`
	SHA256  string   `json:"sha256"`
	Size    int64    `json:"size"`
	Hashes  Hashes   `json:"hashes"`
	Cached  bool     `json:"cached"`
	// Partial is true when a module failed or a budget ran out: the verdict
	// is built from what completed and must not be cached.
	Partial bool `json:"partial,omitempty"`
	// Fingerprint identifies the engine pipeline (modules, rule set,
	// result-changing settings) that computed the verdict; the verdict cache
	// keys verdicts by it. Empty from engines that predate the cache.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Score maps a severity to the 0-100 score of a verdict built from it.
func (s Severity) Score() int {
	return [...]int{0, 20, 50, 80, 100}[min(max(s, Info), Critical)]
}

// VerdictFrom applies the interim scoring rule: the highest severity among
// the findings decides. High or critical is malicious, low or medium is
// suspicious, anything else is clean. Reasons list the findings at the top
// severity in order, without duplicates, with the child path when a child
// holds them. analysis_failed and budget_exceeded findings make the verdict
// partial but never raise it by themselves.
func VerdictFrom(findings []Finding) Verdict {
	var v Verdict
	top := Info
	for _, f := range findings {
		if f.Kind == KindAnalysisFailed || f.Kind == KindBudgetExceeded {
			v.Partial = true
			continue
		}
		top = max(top, f.Severity)
	}
	switch {
	case top >= High:
		v.Label = LabelMalicious
	case top >= Low:
		v.Label = LabelSuspicious
	default:
		v.Label = LabelClean
	}
	v.Score = top.Score()
	if top > Info {
		seen := map[string]bool{}
		for _, f := range findings {
			if f.Severity != top || f.Kind == KindAnalysisFailed {
				continue
			}
			r := f.Module + ": " + f.Kind
			if f.Rule != "" {
				r += " " + f.Rule
			}
			if f.Path != "" {
				r += " in " + f.Path
			}
			if !seen[r] {
				seen[r] = true
				v.Reasons = append(v.Reasons, r)
			}
		}
	}
	return v
}

// Event types.
const (
	EventProgress = "progress"
	EventFinding  = "finding"
	EventChild    = "child"
	EventVerdict  = "verdict"
	EventError    = "error"
)

// SchemaVersion is the version of the event schema (docs/events.md).
const SchemaVersion = 1

// Event is one message of a job's event stream. Exactly one of the payload
// fields is set, matching Type. Seq numbers a job's events from 1 without gaps.
type Event struct {
	V        int       `json:"v"`
	Job      string    `json:"job,omitempty"`
	Seq      int64     `json:"seq"`
	Type     string    `json:"type"`
	Progress *Progress `json:"progress,omitempty"`
	Finding  *Finding  `json:"finding,omitempty"`
	Child    *Child    `json:"child,omitempty"`
	Verdict  *Verdict  `json:"verdict,omitempty"`
	Error    *Error    `json:"error,omitempty"`
}

// Progress reports bytes analysed so far.
type Progress struct {
	Bytes int64 `json:"bytes"`
}

// Child announces a member extracted from the file (an archive entry, an
// embedded object, a decoded layer) that is analysed in its own right.
type Child struct {
	// Path locates the member from the top file: "a.zip > docs/x.docm".
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// Label is the child's verdict label once it is known.
	Label string `json:"label,omitempty"`
}

// Error is a machine-readable error code plus a message for people.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// MarshalLine encodes an event as one NDJSON line (with its newline).
func (e Event) MarshalLine() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
