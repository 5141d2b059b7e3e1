package yaragen

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Result is a scan report in canonical form: which rules matched which
// files, and with which string matches. It is what ParseOutput builds from
// `yara` output and what Diff compares; two scans are equal when their
// Results are, whatever order the scanner printed things in.
type Result struct {
	// Files maps a file path, as the scanner printed it, to the rules that
	// matched it, by rule name.
	Files map[string]map[string]RuleMatch
}

// RuleMatch is one rule that matched one file.
type RuleMatch struct {
	// Tags is what `-g` printed between the first brackets; nil when the
	// output had no tags column.
	Tags []string
	// Meta is what `-m` printed, one `name=value` entry each, verbatim
	// (yara prints integers as `name =5`); nil when the output had no meta
	// column.
	Meta []string
	// Strings are the `-s` lines of the match, sorted by offset, then
	// identifier, then data. Empty without `-s`.
	Strings []StringMatch
}

// StringMatch is one `0xOFFSET:$id: data` line of `yara -s`.
type StringMatch struct {
	Offset uint64
	ID     string // with its '$'
	// Data is the matched bytes as yara prints them: text strings with
	// printable ASCII verbatim and other bytes as \xHH, hex strings as
	// upper-case hex pairs separated by spaces. It is kept verbatim.
	Data string
}

func (m StringMatch) String() string { return fmt.Sprintf("0x%x:%s: %s", m.Offset, m.ID, m.Data) }

// Pairs is the number of (rule, file) matches in r.
func (r Result) Pairs() int {
	n := 0
	for _, rules := range r.Files {
		n += len(rules)
	}
	return n
}

// Matched reports whether rule matched file.
func (r Result) Matched(rule, file string) bool {
	_, ok := r.Files[file][rule]
	return ok
}

// TrimPrefix returns r with prefix removed from every file path, so that
// outputs of scanners given differently spelled directories compare equal.
func (r Result) TrimPrefix(prefix string) Result {
	out := Result{Files: make(map[string]map[string]RuleMatch, len(r.Files))}
	for f, rules := range r.Files {
		out.Files[strings.TrimPrefix(f, prefix)] = rules
	}
	return out
}

// ParseOutput parses the standard output of `yara [-s] [-g] [-m] [-r]` into
// a Result. Rule lines read `RULE [TAGS] [META] PATH` (bracket columns only
// with -g and -m); string lines read `0xOFFSET:$ID: DATA` and belong to the
// rule line above them. Blocks may come in any order (yara -p interleaves
// files) and are sorted. Empty lines are ignored; anything else, such as a
// string line before any rule line, is an error naming the line. The
// output of -c, -n and -v is not supported.
func ParseOutput(out []byte) (Result, error) {
	res := Result{Files: map[string]map[string]RuleMatch{}}
	var cur *RuleMatch
	var curFile, curRule string
	flush := func() {
		if cur == nil {
			return
		}
		rules := res.Files[curFile]
		if rules == nil {
			rules = map[string]RuleMatch{}
			res.Files[curFile] = rules
		}
		if prev, ok := rules[curRule]; ok {
			cur.Strings = append(prev.Strings, cur.Strings...)
		}
		sortStrings(cur.Strings)
		rules[curRule] = *cur
		cur = nil
	}
	for n, line := range bytes.Split(out, []byte("\n")) {
		s := strings.TrimSuffix(string(line), "\r")
		if s == "" {
			continue
		}
		if m, ok := parseStringLine(s); ok {
			if cur == nil {
				return Result{}, fmt.Errorf("yaragen: output line %d: string match before any rule: %q", n+1, s)
			}
			cur.Strings = append(cur.Strings, m)
			continue
		}
		rule, rm, file, err := parseRuleLine(s)
		if err != nil {
			return Result{}, fmt.Errorf("yaragen: output line %d: %w", n+1, err)
		}
		flush()
		cur, curRule, curFile = &rm, rule, file
	}
	flush()
	return res, nil
}

// parseStringLine parses `0xOFFSET:$ID: DATA`.
func parseStringLine(s string) (StringMatch, bool) {
	if !strings.HasPrefix(s, "0x") {
		return StringMatch{}, false
	}
	colon := strings.IndexByte(s, ':')
	if colon < 3 || colon+1 >= len(s) || s[colon+1] != '$' {
		return StringMatch{}, false
	}
	off, err := strconv.ParseUint(s[2:colon], 16, 64)
	if err != nil {
		return StringMatch{}, false
	}
	rest := s[colon+1:]
	sep := strings.Index(rest, ": ")
	if sep < 0 {
		// A match with empty data prints "0x0:$a: " and may have lost its
		// trailing space.
		if !strings.HasSuffix(rest, ":") || !isIdent(rest[1:len(rest)-1]) {
			return StringMatch{}, false
		}
		return StringMatch{Offset: off, ID: rest[:len(rest)-1]}, true
	}
	id := rest[:sep]
	if !isIdent(id[1:]) {
		return StringMatch{}, false
	}
	return StringMatch{Offset: off, ID: id, Data: rest[sep+2:]}, true
}

func isIdent(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// parseRuleLine parses `RULE [TAGS] [META] PATH`.
func parseRuleLine(s string) (string, RuleMatch, string, error) {
	var rm RuleMatch
	sp := strings.IndexByte(s, ' ')
	if sp <= 0 || !isIdent(s[:sp]) || sp+1 >= len(s) {
		return "", rm, "", fmt.Errorf("not a rule or string line: %q", s)
	}
	rule, rest := s[:sp], s[sp+1:]
	var groups []string
	for len(groups) < 2 && strings.HasPrefix(rest, "[") {
		end := closingBracket(rest)
		if end < 0 || end+1 >= len(rest) || rest[end+1] != ' ' {
			break // a path that starts with '['
		}
		groups = append(groups, rest[1:end])
		rest = rest[end+2:]
	}
	switch len(groups) {
	case 2:
		rm.Tags = splitTags(groups[0])
		rm.Meta = splitMeta(groups[1])
	case 1:
		if strings.Contains(groups[0], "=") {
			rm.Meta = splitMeta(groups[0])
		} else {
			rm.Tags = splitTags(groups[0])
		}
	}
	if rest == "" {
		return "", rm, "", fmt.Errorf("rule line without a path: %q", s)
	}
	return rule, rm, rest, nil
}

// closingBracket returns the index of the ']' closing the '[' at s[0],
// skipping quoted strings with backslash escapes, or -1.
func closingBracket(s string) int {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ']':
			return i
		}
	}
	return -1
}

func splitTags(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// splitMeta splits on the commas outside quoted strings.
func splitMeta(s string) []string {
	out := []string{}
	if s == "" {
		return out
	}
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ',':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func sortStrings(ms []StringMatch) {
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		if a.Offset != b.Offset {
			return a.Offset < b.Offset
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Data < b.Data
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Format prints r in yara's output format, files and rules sorted by name;
// ParseOutput(r.Format()) equals r.
func (r Result) Format() []byte {
	var b bytes.Buffer
	for _, file := range sortedKeys(r.Files) {
		rules := r.Files[file]
		for _, rule := range sortedKeys(rules) {
			rm := rules[rule]
			b.WriteString(rule)
			if rm.Tags != nil {
				b.WriteString(" [" + strings.Join(rm.Tags, ",") + "]")
			}
			if rm.Meta != nil {
				if rm.Tags == nil && len(rm.Meta) == 0 {
					b.WriteString(" []") // read back as empty tags
				}
				b.WriteString(" [" + strings.Join(rm.Meta, ",") + "]")
			}
			b.WriteString(" " + file + "\n")
			for _, m := range rm.Strings {
				b.WriteString(m.String() + "\n")
			}
		}
	}
	return b.Bytes()
}

// Diff lists the differences between an expected and an actual Result, one
// human-readable line each, sorted; it is empty when they are equal. Tags
// and metadata are compared only when both sides have them.
func Diff(want, got Result) []string {
	var out []string
	files := map[string]bool{}
	for f := range want.Files {
		files[f] = true
	}
	for f := range got.Files {
		files[f] = true
	}
	for _, file := range sortedKeys(files) {
		w, g := want.Files[file], got.Files[file]
		rules := map[string]bool{}
		for r := range w {
			rules[r] = true
		}
		for r := range g {
			rules[r] = true
		}
		for _, rule := range sortedKeys(rules) {
			wm, inW := w[rule]
			gm, inG := g[rule]
			switch {
			case !inG:
				out = append(out, fmt.Sprintf("missing match: rule %s on %s", rule, file))
				continue
			case !inW:
				out = append(out, fmt.Sprintf("extra match: rule %s on %s", rule, file))
				continue
			}
			if wm.Tags != nil && gm.Tags != nil && strings.Join(wm.Tags, ",") != strings.Join(gm.Tags, ",") {
				out = append(out, fmt.Sprintf("rule %s on %s: tags [%s], got [%s]", rule, file,
					strings.Join(wm.Tags, ","), strings.Join(gm.Tags, ",")))
			}
			if wm.Meta != nil && gm.Meta != nil && strings.Join(wm.Meta, ",") != strings.Join(gm.Meta, ",") {
				out = append(out, fmt.Sprintf("rule %s on %s: meta [%s], got [%s]", rule, file,
					strings.Join(wm.Meta, ","), strings.Join(gm.Meta, ",")))
			}
			out = append(out, diffStrings(rule, file, wm.Strings, gm.Strings)...)
		}
	}
	return out
}

func diffStrings(rule, file string, want, got []StringMatch) []string {
	count := map[StringMatch]int{}
	for _, m := range want {
		count[m]++
	}
	for _, m := range got {
		count[m]--
	}
	var out []string
	for _, m := range want {
		if count[m] > 0 {
			count[m]--
			out = append(out, fmt.Sprintf("rule %s on %s: missing string match %s", rule, file, m))
		}
	}
	for _, m := range got {
		if count[m] < 0 {
			count[m]++
			out = append(out, fmt.Sprintf("rule %s on %s: extra string match %s", rule, file, m))
		}
	}
	return out
}
