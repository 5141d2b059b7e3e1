// Package patterns is the analysis logic of Athena's patterns module: it
// finds literal and hex byte patterns in a file that streams in chunks of
// any size.
//
// # Patterns
//
// A Rule's pattern is either literal bytes or, when Rule.Hex is set, a hex
// string in a subset of YARA's hex-string syntax:
//
//	4D 5A ?? 00 [64-192] 54 68 69 73
//
// Each token is a byte ("4D"), a full wildcard ("??"), a nibble wildcard
// ("4?" or "?A") or a bounded jump ("[n-m]" or "[n]": between n and m
// arbitrary bytes, m at most MaxJump). Whitespace between tokens is
// optional. A jump may not start or end a pattern nor follow another jump,
// a pattern may match at most MaxPatternLen bytes, and it must hold at
// least one fully fixed byte. Literal patterns are case-sensitive.
//
// # Matching
//
// Compile picks from each pattern an anchor, its longest run of fixed bytes
// (the first on a tie), and builds one Aho-Corasick automaton over all the
// anchors. The Analyzer runs every byte through the automaton once and
// verifies each anchor hit against the wildcards and jumps around it: the
// part before the anchor against a window of the last bytes of the file,
// the part after it as the following bytes arrive. The window holds the
// longest pattern plus one internal block (Feed scans 16 KiB at a time),
// and a verification waits for at most one pattern length of bytes, so
// memory per file is bounded whatever the file size.
//
// # Findings
//
// A match is a start offset and the shortest length at which the pattern
// matches there. Each (rule, start) is reported once, as a finding of kind
// Kind, during the Feed that delivers its last byte. The matches completed
// by one Feed are reported in order of end offset, then rule index, then
// start offset, so the same bytes give the same findings in the same order
// whatever the chunking. At most MaxFindingsPerRule matches are reported
// per rule and file; Finish then reports one summary finding of length 0
// for each rule that had more, with the total count.
package patterns

import (
	"fmt"

	"athena/internal/core"
)

// Kind is the kind of every finding this package emits.
const Kind = "pattern"

// Limits on rules and findings.
const (
	// MaxFindingsPerRule is how many matches of one rule are reported per
	// file; the rest are counted in the rule's summary finding.
	MaxFindingsPerRule = 100
	// MaxPatternLen is the longest match a pattern may have, jumps included.
	MaxPatternLen = 1024
	// MaxJump is the largest bound of a hex jump.
	MaxJump = 255
)

// Rule is one pattern to look for.
type Rule struct {
	// Name is the finding's rule; unique within a set.
	Name string
	// Pattern is the bytes to find: literal bytes, or a hex string (see
	// the package documentation) when Hex is set.
	Pattern string
	// Hex says that Pattern is a hex string.
	Hex bool
	// Severity is the severity of the rule's findings.
	Severity core.Severity
	// Description says what a match means; findings carry it in their
	// detail as "description".
	Description string
}

// ParseError reports a rule whose pattern does not compile.
type ParseError struct {
	Rule string // the rule's name
	Col  int    // 1-based byte column in the pattern, 0 for the whole pattern
	Msg  string
}

// Error implements error.
func (e *ParseError) Error() string {
	if e.Col == 0 {
		return fmt.Sprintf("patterns: rule %q: %s", e.Rule, e.Msg)
	}
	return fmt.Sprintf("patterns: rule %q: col %d: %s", e.Rule, e.Col, e.Msg)
}

// Set is a compiled, immutable set of rules. It may be shared by any number
// of Analyzers, concurrently.
type Set struct {
	rules  []Rule
	pats   []pattern // pats[i] is rules[i]'s pattern
	ac     automaton // over the anchors; outputs are rule indices
	maxLen int       // the longest match of any pattern
}

// Compile checks and compiles rules. Rule names must be non-empty and
// unique and severities valid; a pattern that does not parse gives a
// *ParseError.
func Compile(rules []Rule) (*Set, error) {
	s := &Set{rules: append([]Rule(nil), rules...)}
	names := make(map[string]bool, len(rules))
	anchors := make([][]byte, len(rules))
	for i, r := range rules {
		switch {
		case r.Name == "":
			return nil, fmt.Errorf("patterns: rule %d: empty name", i)
		case names[r.Name]:
			return nil, fmt.Errorf("patterns: rule %q: duplicate name", r.Name)
		case r.Severity < core.Info || r.Severity > core.Critical:
			return nil, fmt.Errorf("patterns: rule %q: invalid severity %d", r.Name, int(r.Severity))
		}
		names[r.Name] = true
		p, err := parsePattern(r)
		if err != nil {
			return nil, err
		}
		s.pats = append(s.pats, p)
		anchors[i] = p.anchor()
		s.maxLen = max(s.maxLen, p.maxLen)
	}
	s.ac = newAutomaton(anchors)
	return s, nil
}
