package corpus

import (
	"fmt"
	"strconv"
	"strings"
)

// StringKind is the kind of a YARA string in a generated rule.
type StringKind string

// The kinds of strings Rules writes.
const (
	StringText   StringKind = "text"   // "..." with modifiers
	StringHex    StringKind = "hex"    // { ... }
	StringRegexp StringKind = "regexp" // /.../
)

// RuleString is one string of one rule of a generated rule set.
type RuleString struct {
	Rule string     // the rule's name
	ID   string     // the string's identifier, without the $
	Kind StringKind // text, hex or regexp
	// Text is the unescaped bytes of a text string, as written (a nocase
	// string in the case it was written in).
	Text []byte
	// Source is a hex string's tokens between the braces ("4D 5A ?? [0-2]
	// ( 01 02 | 03 )") or a regular expression between the slashes.
	Source string
	// Modifiers are a text string's modifiers: nocase, wide, ascii, fullword.
	Modifiers []string
}

// Has reports whether the string carries modifier m.
func (s RuleString) Has(m string) bool {
	for _, x := range s.Modifiers {
		if x == m {
			return true
		}
	}
	return false
}

// RuleStrings lists the strings of Rules(n, seed), rule by rule, in order:
// for equivalent signature sets in other scanners' formats (the
// side-by-side benchmark writes a ClamAV .ndb from it).
func RuleStrings(n int, seed int64) ([]RuleString, error) {
	return ParseRuleStrings(Rules(n, seed))
}

// ParseRuleStrings parses the strings out of a rule set in the layout Rules
// writes (one rule header per line, one string per line); it is not a YARA
// parser.
func ParseRuleStrings(src []byte) ([]RuleString, error) {
	var out []RuleString
	rule := ""
	for i, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "rule "); ok {
			rule = strings.TrimSpace(name)
			continue
		}
		if !strings.HasPrefix(line, "$") {
			continue
		}
		id, def, ok := strings.Cut(line[1:], "=")
		if !ok {
			continue // a condition such as "$a" alone
		}
		s := RuleString{Rule: rule, ID: strings.TrimSpace(id)}
		def = strings.TrimSpace(def)
		var err error
		switch {
		case strings.HasPrefix(def, `"`):
			s.Kind = StringText
			var rest string
			s.Text, rest, err = unquoteYARA(def)
			s.Modifiers = strings.Fields(rest)
		case strings.HasPrefix(def, "{") && strings.HasSuffix(def, "}"):
			s.Kind = StringHex
			s.Source = strings.TrimSpace(def[1 : len(def)-1])
		case strings.HasPrefix(def, "/"):
			end := strings.LastIndexByte(def, '/')
			if end <= 0 {
				err = fmt.Errorf("unterminated regular expression")
				break
			}
			s.Kind = StringRegexp
			s.Source = def[1:end]
		default:
			err = fmt.Errorf("unknown string %q", def)
		}
		if err != nil {
			return nil, fmt.Errorf("corpus: line %d: %w", i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// unquoteYARA reads a YARA text string at the start of s (escapes \" \\
// \xNN \n \t \r) and returns its bytes and what follows it.
func unquoteYARA(s string) ([]byte, string, error) {
	var b []byte
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b, s[i+1:], nil
		case c != '\\':
			b = append(b, c)
		case i+1 >= len(s):
			return nil, "", fmt.Errorf("string %s: trailing backslash", s)
		default:
			i++
			switch s[i] {
			case '"', '\\':
				b = append(b, s[i])
			case 'n':
				b = append(b, '\n')
			case 't':
				b = append(b, '\t')
			case 'r':
				b = append(b, '\r')
			case 'x':
				if i+2 >= len(s) {
					return nil, "", fmt.Errorf("string %s: short \\x escape", s)
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return nil, "", fmt.Errorf("string %s: %w", s, err)
				}
				b = append(b, byte(v))
				i += 2
			default:
				return nil, "", fmt.Errorf("string %s: unknown escape \\%c", s, s[i])
			}
		}
	}
	return nil, "", fmt.Errorf("string %s: unterminated", s)
}
