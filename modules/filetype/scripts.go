package filetype

import (
	"iter"
	"regexp"
	"slices"
	"strings"
	"unicode/utf16"
)

// Script detection.
//
// Each script type has a table of weighted rules run on the head of the
// file normalised by scriptText: decoded from UTF-16 when it starts with a
// UTF-16 byte order mark (PowerShell often writes one), ASCII letters in
// lower case (all these languages but JScript ignore case, and obfuscators
// vary it), every line starting with "\n" and no indentation. A rule counts
// its matches up to a cap and adds its weight for each, so one repeated
// idiom cannot carry a file alone. A type qualifies when its score reaches
// threshold and, if it has key rules, at least one key rule matched.
//
// Two families are ranked differently:
//
//   - markup containers (HTA, WSF) embed VBScript or JScript, so a container
//     that qualifies wins over any statement language, HTA before WSF;
//   - statement languages (PowerShell, VBScript, JScript, batch) compete on
//     score. On a tie the type whose extensions include the declared one
//     wins (the name is untrusted, so it never adds score), then the first
//     in scriptTypes order.
//
// The weights were set so that the usual idioms of each language clear the
// threshold in a few lines while prose that happens to mention a keyword
// ("echo", "set", "Dim", a cmdlet name) does not: the weak, ambiguous
// signals weigh 1 and are capped, the unambiguous ones ("@echo off", "On
// Error Resume Next", "new ActiveXObject(") weigh 4 to 6.
//
// Rules are written to be cheap on the 4 KiB head: most regular expressions
// start with a literal ("\n" stands for a line start, hence the
// normalisation), which Go's regexp finds with a fast substring search, and
// PowerShell cmdlets are found by a scanner rather than by a 35-way
// alternation.

// family is a bit set of script families.
type family uint8

const (
	markup     family = 1 << iota // HTA, WSF
	statements                    // PowerShell, VBScript, JScript, batch
)

// threshold is the score a script type needs to qualify.
const threshold = 6

// rule is one weighted indicator.
type rule struct {
	count  func(text string, max int) int // matches in text, at most max
	weight int
	max    int  // matches counted at most
	key    bool // the type needs at least one key rule to match, if it has any
}

// re is a rule that counts the matches of a regular expression.
func re(expr string, weight, max int) rule {
	x := regexp.MustCompile(expr)
	return rule{
		count:  func(text string, max int) int { return len(x.FindAllStringIndex(text, max)) },
		weight: weight,
		max:    max,
	}
}

// cmdletRule is a rule that counts the cmdlets for which ok is true.
func cmdletRule(ok func(text string, c cmdlet) bool, weight, max int) rule {
	return rule{
		count: func(text string, max int) int {
			n := 0
			for c := range cmdlets(text) {
				if n == max {
					break
				}
				if ok(text, c) {
					n++
				}
			}
			return n
		},
		weight: weight,
		max:    max,
	}
}

// asKey marks a rule as a key rule.
func asKey(r rule) rule {
	r.key = true
	return r
}

// scriptType is one script type with its indicators.
type scriptType struct {
	name, mime, ext string
	family          family
	exts            []string // declared extensions that break a tie in its favour
	rules           []rule
}

// scriptTypes in priority order: containers first, then the statement
// languages in tie-break order.
var scriptTypes = []*scriptType{
	{
		name: "hta", mime: "application/hta", ext: ".hta", family: markup,
		exts: []string{".hta"},
		rules: []rule{
			re(`<hta:application\b`, threshold, 1),
		},
	},
	{
		// A job or package element and a script element with a language
		// attribute are both needed: 3+3.
		name: "wsf", mime: "text/x-wsf", ext: ".wsf", family: markup,
		exts: []string{".wsf"},
		rules: []rule{
			re(`<(?:job|package)\b[^<>]*>`, 3, 1),
			re(`<script\b[^<>]*\blanguage\s*=`, 3, 1),
		},
	},
	{
		// Cmdlet names alone, as in prose about PowerShell, are not
		// enough: the key rules look for PowerShell syntax.
		name: "powershell", mime: "text/x-powershell", ext: ".ps1", family: statements,
		exts: []string{".ps1", ".psm1", ".psd1"},
		rules: []rule{
			cmdletRule(func(_ string, c cmdlet) bool { return abusedCmdlets[c.name] }, 3, 3),
			cmdletRule(func(string, cmdlet) bool { return true }, 1, 3),
			asKey(cmdletRule(cmdletWithParameter, 2, 2)),
			asKey(cmdletRule(cmdletPiped, 2, 2)),
			asKey(re(`\nparam\s*\(`, 3, 1)),
			asKey(re(`\$env:`, 3, 1)),
			asKey(re(`-enc(?:odedcommand)?\s`, 3, 1)),
			asKey(re(`-(?:nop|noprofile|noni|noninteractive|w(?:indowstyle)?\s+hidden|ep\s+bypass|exec(?:utionpolicy)?\s+bypass)\b`, 2, 3)),
			asKey(re(`iex\b`, 3, 1)),
			asKey(re(`\[system\.[a-z]`, 3, 1)),
			asKey(re(`\]::[a-z]`, 2, 2)),
			asKey(re(`\n\$[a-z_][a-z0-9_]*\s*=`, 1, 3)),
			asKey(re(` -(?:eq|ne|lt|gt|le|ge|like|notlike|match|contains|replace|join|split|f)\s`, 1, 2)),
			asKey(re(`(?s)<#.*?#>`, 1, 1)),
		},
	},
	{
		name: "vbscript", mime: "text/vbscript", ext: ".vbs", family: statements,
		exts: []string{".vbs", ".vbe"},
		rules: []rule{
			re(`on\s+error\s+resume\s+next\b`, 4, 1),
			re(`\noption\s+explicit\b`, 3, 1),
			re(`\ndim\s+[a-z_]`, 2, 2),
			// VBScript's Set has spaces around "=", batch's set does not.
			re(`\nset\s+[a-z_][a-z0-9_]*\s+=\s`, 2, 2),
			re(`createobject\s*\(`, 2, 2),
			re(`\n(?:(?:private|public)\s+)?sub\s+[a-z_]`, 2, 2),
			re(`\nend\s+(?:sub|function|if|with|select)\b`, 2, 3),
			re(`then[ \t]*\n`, 1, 3),
			re(`wscript\.[a-z]`, 1, 2),
			re(`msgbox\b`, 1, 1),
			re(`chrw?\s*\(`, 1, 2),
			re(`execute(?:global)?\s*[("a-z]`, 1, 1),
		},
	},
	{
		// Plain JavaScript is not JScript: it needs ActiveX or the
		// Windows Script Host object.
		name: "jscript", mime: "text/jscript", ext: ".js", family: statements,
		exts: []string{".js", ".jse"},
		rules: []rule{
			asKey(re(`new\s+activexobject\s*\(`, 5, 2)),
			asKey(re(`wscript\.[a-z]`, 1, 2)),
			re(`wscript\.createobject\s*\(`, 2, 2),
			re(`getobject\s*\(`, 1, 1),
			re(`var\s+[a-z_$][\w$]*\s*=`, 1, 3),
			re(`;[ \t]*\n`, 1, 2),
			re(`function\s*[\w$]*\s*\([^)]*\)\s*\{`, 1, 2),
			re(`eval\s*\(`, 1, 1),
			re(`try\s*\{`, 1, 1),
		},
	},
	{
		name: "batch", mime: "text/x-msdos-batch", ext: ".bat", family: statements,
		exts: []string{".bat", ".cmd"},
		rules: []rule{
			re(`\n@\s*echo\s+off\b`, 6, 1),
			re(`\necho\s+off\b`, 3, 1),
			re(`\n@?set\s+(?:/[ap]\s+)?"?[a-z_][a-z0-9_]*=`, 2, 3),
			re(`\n@?setlocal\b`, 3, 1),
			re(`%~[a-z]*[0-9]`, 3, 1),
			re(`%[a-z_][a-z0-9_]*%`, 1, 3),
			re(`\n@?goto\s+:?[a-z_]`, 2, 2),
			re(`\n:[a-z_][a-z0-9_]*[ \t]*\n`, 1, 2),
			re(`\n(?:@?rem\s|::)`, 2, 2),
			re(`\n@?if\s+(?:/i\s+)?(?:not\s+)?(?:exist|errorlevel|defined)\b`, 2, 2),
			re(`call\s+:`, 2, 1),
			re(`cmd(?:\.exe)?\s+/[ck]\b`, 2, 1),
			re(`>\s*nul\b`, 1, 2),
			re(`\n@?echo[ \t.]`, 1, 2),
		},
	},
}

// detectScript returns the script type of head among the families fam
// admits, or nil. ext is the declared extension, lower case with its dot.
func detectScript(head []byte, fam family, ext string) *scriptType {
	text := scriptText(head)
	var best *scriptType
	bestScore := 0
	for _, st := range scriptTypes {
		if st.family&fam == 0 {
			continue
		}
		score, ok := st.score(text)
		if !ok {
			continue
		}
		if st.family == markup {
			return st
		}
		if best == nil || score > bestScore ||
			score == bestScore && !slices.Contains(best.exts, ext) && slices.Contains(st.exts, ext) {
			best, bestScore = st, score
		}
	}
	return best
}

// score returns the type's score on text and whether the type qualifies.
func (st *scriptType) score(text string) (int, bool) {
	score, hasKey, keyHit := 0, false, false
	for _, rl := range st.rules {
		n := rl.count(text, rl.max)
		score += n * rl.weight
		hasKey = hasKey || rl.key
		keyHit = keyHit || rl.key && n > 0
	}
	return score, score >= threshold && (keyHit || !hasKey)
}

// PowerShell cmdlets.

// psVerbs are the common approved PowerShell verbs.
var psVerbs = setOf("get", "set", "new", "remove", "invoke", "start", "stop", "write",
	"read", "add", "clear", "copy", "move", "import", "export", "convertto",
	"convertfrom", "test", "enable", "disable", "register", "resolve", "split",
	"join", "measure", "sort", "wait", "update", "format", "out", "select",
	"where", "foreach")

// abusedCmdlets are the cmdlets malicious scripts lean on.
var abusedCmdlets = setOf("invoke-expression", "invoke-webrequest", "invoke-restmethod",
	"invoke-command", "invoke-item", "invoke-wmimethod", "new-object", "start-process",
	"start-sleep", "start-job", "start-bitstransfer", "add-type", "set-executionpolicy",
	"get-childitem", "get-content", "get-item", "get-process", "get-wmiobject",
	"get-ciminstance", "get-itemproperty", "set-content", "set-itemproperty",
	"set-mppreference", "out-file", "out-null", "out-string", "write-host",
	"write-output", "convertto-securestring", "convertfrom-securestring",
	"remove-item", "copy-item", "new-item", "test-path", "import-module",
	"where-object", "foreach-object", "select-object")

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// cmdlet is a Verb-Noun word in the text, such as "get-childitem".
type cmdlet struct {
	name       string
	start, end int // bounds in the text
}

// cmdlets yields the words of text made of a verb of psVerbs, a hyphen and
// a noun of at least two letters, in order.
func cmdlets(text string) iter.Seq[cmdlet] {
	return func(yield func(cmdlet) bool) {
		for i := 0; ; i++ {
			d := strings.IndexByte(text[i:], '-')
			if d < 0 {
				return
			}
			i += d
			start := i
			for start > 0 && isLetter(text[start-1]) {
				start--
			}
			end := i + 1
			for end < len(text) && isLetter(text[end]) {
				end++
			}
			if start > 0 && isWordByte(text[start-1]) || end < len(text) && isWordByte(text[end]) ||
				end-i-1 < 2 || !psVerbs[text[start:i]] {
				continue
			}
			if !yield(cmdlet{name: text[start:end], start: start, end: end}) {
				return
			}
		}
	}
}

// cmdletWithParameter reports whether c is followed by a named parameter,
// as in "get-childitem -recurse".
func cmdletWithParameter(text string, c cmdlet) bool {
	rest := strings.TrimLeft(text[c.end:], " \t")
	return len(rest) >= 3 && rest[0] == '-' && isLetter(rest[1]) && isLetter(rest[2])
}

// cmdletPiped reports whether a pipeline feeds c, as in "... | where-object".
func cmdletPiped(text string, c cmdlet) bool {
	before := strings.TrimRight(text[:c.start], " \t\n")
	return strings.HasSuffix(before, "|")
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' }

func isWordByte(b byte) bool { return isLetter(b) || '0' <= b && b <= '9' || b == '_' }

// scriptText returns head normalised for the rules: decoded from UTF-16
// when it starts with a UTF-16 byte order mark (an odd trailing byte is
// dropped), without a UTF-8 byte order mark, with ASCII letters in lower
// case, carriage returns turned into line feeds, blank lines dropped, and
// each line preceded by "\n" without its indentation; the text also ends
// with "\n".
func scriptText(head []byte) string {
	switch {
	case len(head) >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF:
		head = head[3:]
	case len(head) >= 2 && head[0] == 0xFF && head[1] == 0xFE:
		head = decodeUTF16(head[2:], func(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 })
	case len(head) >= 2 && head[0] == 0xFE && head[1] == 0xFF:
		head = decodeUTF16(head[2:], func(b []byte) uint16 { return uint16(b[1]) | uint16(b[0])<<8 })
	}
	text := make([]byte, 0, len(head)+2)
	text = append(text, '\n')
	lineStart := true
	for _, c := range head {
		switch {
		case c == '\r' || c == '\n':
			if lineStart {
				continue // blank line
			}
			c, lineStart = '\n', true
		case lineStart && (c == ' ' || c == '\t'):
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
			lineStart = false
		default:
			lineStart = false
		}
		text = append(text, c)
	}
	return string(append(text, '\n'))
}

// decodeUTF16 decodes b, whose code units unit reads, to UTF-8.
func decodeUTF16(b []byte, unit func([]byte) uint16) []byte {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = unit(b[2*i:])
	}
	return []byte(string(utf16.Decode(u)))
}
