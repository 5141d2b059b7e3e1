package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"athena/internal/corpus"
)

// ndbStats counts what buildSigs wrote and what it had to approximate.
type ndbStats struct {
	Strings    int `json:"strings"`        // strings of the rule set
	Signatures int `json:"signatures"`     // .ndb plus .ldb lines
	NDB        int `json:"ndb_signatures"` // body signatures
	LDB        int `json:"ldb_signatures"` // nocase strings, as logical signatures with ::i
	Regexps    int `json:"regexps"`        // regexps written as literal parts joined by {n-m} gaps
	Normalized int `json:"normalized"`     // hex and regexp signatures normalizeSig rewrote
	Simplified int `json:"simplified"`     // signatures clamd refused, cut to their longest fixed part
	Skipped    int `json:"skipped"`        // strings with no signature
}

// sigDB is a ClamAV signature database equivalent to a generated rule set:
// the lines of a .ndb file and of a .ldb file.
type sigDB struct {
	NDB, LDB []string
	Stats    ndbStats
}

// buildSigs converts the strings of a generated rule set to ClamAV
// signatures, one per string and one more for the wide form of an "ascii
// wide" string. Body signatures (.ndb, "Name:0:*:hex") hold every string
// but the nocase ones: ClamAV's body signatures cannot say "any case" (a
// per-letter alternation leaves no static two bytes for its matcher), so a
// nocase string becomes a one-subsignature logical signature (.ldb) with
// the ::i modifier (::w, ::a for wide, ascii). Approximations, all towards
// matching more: a rule's condition is not kept (any one string is a
// detection), fullword is dropped, a regular expression becomes its literal
// parts joined by {min-max} byte gaps (a digit class [0-9]{a,b} and a group
// of alternatives become gaps of their length range); see also
// simplifySig.
func buildSigs(strs []corpus.RuleString) sigDB {
	db := sigDB{Stats: ndbStats{Strings: len(strs)}}
	for _, s := range strs {
		name := ndbName(s.Rule + "_" + s.ID)
		switch s.Kind {
		case corpus.StringText:
			wide, ascii := s.Has("wide"), !s.Has("wide") || s.Has("ascii")
			if s.Has("nocase") {
				mods := "i"
				if wide {
					mods += "w"
					if ascii {
						mods += "a"
					}
				}
				db.LDB = append(db.LDB, fmt.Sprintf("%s;Engine:81-255,Target:0;0;%s::%s", name, hex.EncodeToString(s.Text), mods))
				continue
			}
			if ascii {
				db.NDB = append(db.NDB, ndbLine(name, textHex(s.Text, false)))
			}
			if wide {
				db.NDB = append(db.NDB, ndbLine(name+"_wide", textHex(s.Text, true)))
			}
		case corpus.StringHex:
			sig, err := yaraHexToNDB(s.Source)
			if err == nil {
				sig, err = db.normalize(sig)
			}
			if err != nil {
				db.Stats.Skipped++
				continue
			}
			db.NDB = append(db.NDB, ndbLine(name, sig))
		case corpus.StringRegexp:
			sig, err := regexpToNDB(s.Source)
			if err == nil {
				sig, err = db.normalize(sig)
			}
			if err != nil {
				db.Stats.Skipped++
				continue
			}
			db.Stats.Regexps++
			db.NDB = append(db.NDB, ndbLine(name, sig))
		default:
			db.Stats.Skipped++
		}
	}
	db.count()
	return db
}

func (db *sigDB) normalize(sig string) (string, error) {
	n, err := normalizeSig(sig)
	if err == nil && n != sig {
		db.Stats.Normalized++
	}
	return n, err
}

func (db *sigDB) count() {
	db.Stats.NDB, db.Stats.LDB = len(db.NDB), len(db.LDB)
	db.Stats.Signatures = len(db.NDB) + len(db.LDB)
}

func ndbLine(name, sig string) string { return name + ":0:*:" + sig }

// write writes the database into dir as bench.ndb and bench.ldb.
func (db *sigDB) write(dir string) error {
	for _, f := range []struct {
		name  string
		lines []string
	}{{"bench.ndb", db.NDB}, {"bench.ldb", db.LDB}} {
		if len(f.lines) == 0 {
			os.Remove(filepath.Join(dir, f.name))
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(strings.Join(f.lines, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// simplifySig cuts a body signature ClamAV refused to its longest fixed
// part (bytes, ?? and nibble wildcards; no {n-m} jump, no alternation): a
// superset of the original's matches. ClamAV refuses some valid-looking
// patterns, such as an alternation of two-byte strings right after a jump
// ("aabb{0-8}c?(3157|6b11)1536"); it reports one line at a time.
func simplifySig(line string) (string, bool) {
	i := strings.LastIndexByte(line, ':')
	if i < 0 {
		return line, false
	}
	name, sig := line[:i+1], line[i+1:]
	best, cur := "", strings.Builder{}
	flush := func() {
		if cur.Len() > len(best) {
			best = cur.String()
		}
		cur.Reset()
	}
	depth := 0
	for j := 0; j < len(sig); j++ {
		switch c := sig[j]; {
		case c == '(' || c == '{':
			flush()
			depth++
		case c == ')' || c == '}':
			depth--
		case depth == 0:
			cur.WriteByte(c)
		}
	}
	flush()
	best = strings.Trim(best, "?")
	if len(best) < 4 || best == sig {
		return line, false
	}
	return name + best, true
}

// ndbName keeps the characters ClamAV allows in a signature name.
func ndbName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '.' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, s)
}

// textHex spells text in lower-case hex, wide
// with a zero byte after each byte (UTF-16LE of ASCII).
func textHex(text []byte, wide bool) string {
	var b strings.Builder
	for _, c := range text {
		b.WriteString(hex.EncodeToString([]byte{c}))
		if wide {
			b.WriteString("00")
		}
	}
	return b.String()
}

// yaraHexToNDB converts the tokens of a YARA hex string ("4D 5A ?? 4? [0-2]
// ( 01 02 | 03 )") to ClamAV's syntax ("4d5a??4?{0-2}(0102|03)").
func yaraHexToNDB(src string) (string, error) {
	var b strings.Builder
	depth := 0
	for _, tok := range strings.Fields(src) {
		switch {
		case tok == "(":
			depth++
			b.WriteByte('(')
		case tok == ")":
			if depth == 0 {
				return "", fmt.Errorf("hex %q: unbalanced )", src)
			}
			depth--
			b.WriteByte(')')
		case tok == "|":
			if depth == 0 {
				return "", fmt.Errorf("hex %q: | outside ( )", src)
			}
			b.WriteByte('|')
		case strings.HasPrefix(tok, "[") && strings.HasSuffix(tok, "]"):
			lo, hi, ok := strings.Cut(tok[1:len(tok)-1], "-")
			if !ok {
				hi = lo
			}
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || l > h || depth > 0 {
				return "", fmt.Errorf("hex %q: jump %s", src, tok)
			}
			fmt.Fprintf(&b, "{%d-%d}", l, h)
		case len(tok) == 2 && isHexOrQ(tok[0]) && isHexOrQ(tok[1]):
			b.WriteString(strings.ToLower(tok))
		default:
			return "", fmt.Errorf("hex %q: token %q", src, tok)
		}
	}
	if depth != 0 {
		return "", fmt.Errorf("hex %q: unbalanced (", src)
	}
	return b.String(), nil
}

func isHexOrQ(c byte) bool {
	return c == '?' || c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// regexpToNDB approximates the regular expressions Rules writes: escaped or
// plain literal bytes, [0-9]{a,b} (a gap of a to b bytes) and one level of
// ( alt | alt ) whose alternatives are literals or [0-9]{a,b} (a gap of the
// shortest to the longest alternative). Gaps at either end are dropped.
// Anything else is an error.
func regexpToNDB(re string) (string, error) {
	type part struct {
		lit    []byte
		lo, hi int // a gap when lit is nil
	}
	var parts []part
	addLit := func(c byte) {
		if n := len(parts); n > 0 && parts[n-1].lit != nil {
			parts[n-1].lit = append(parts[n-1].lit, c)
			return
		}
		parts = append(parts, part{lit: []byte{c}})
	}
	for i := 0; i < len(re); {
		if re[i] == '(' {
			end := strings.IndexByte(re[i:], ')')
			if end < 0 {
				return "", fmt.Errorf("regexp %q: unterminated (", re)
			}
			glo, ghi := -1, 0
			for _, alt := range strings.Split(re[i+1:i+end], "|") {
				lo, hi := 0, 0
				for j := 0; j < len(alt); {
					l, h, next, _, _, err := regexpAtom(re, alt, j)
					if err != nil {
						return "", err
					}
					lo, hi, j = lo+l, hi+h, next
				}
				if glo < 0 || lo < glo {
					glo = lo
				}
				ghi = max(ghi, hi)
			}
			parts = append(parts, part{lo: glo, hi: ghi})
			i += end + 1
			continue
		}
		lo, hi, next, c, isLit, err := regexpAtom(re, re, i)
		if err != nil {
			return "", err
		}
		if isLit {
			addLit(c)
		} else {
			parts = append(parts, part{lo: lo, hi: hi})
		}
		i = next
	}
	for len(parts) > 0 && parts[0].lit == nil {
		parts = parts[1:]
	}
	for len(parts) > 0 && parts[len(parts)-1].lit == nil {
		parts = parts[:len(parts)-1]
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("regexp %q: no literal bytes", re)
	}
	var b strings.Builder
	for _, p := range parts {
		if p.lit != nil {
			b.WriteString(hex.EncodeToString(p.lit))
		} else {
			fmt.Fprintf(&b, "{%d-%d}", p.lo, p.hi)
		}
	}
	return b.String(), nil
}

// regexpAtom reads one literal byte or one digit class [0-9]{a,b} at s[i:]
// (s is re or a part of it) and returns its length range, the index after
// it, and the byte when it is a literal.
func regexpAtom(re, s string, i int) (lo, hi, next int, lit byte, isLit bool, err error) {
	switch c := s[i]; {
	case c == '\\':
		if i+1 >= len(s) {
			return 0, 0, 0, 0, false, fmt.Errorf("regexp %q: trailing \\", re)
		}
		return 1, 1, i + 2, s[i+1], true, nil
	case strings.HasPrefix(s[i:], "[0-9]{"):
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return 0, 0, 0, 0, false, fmt.Errorf("regexp %q: unterminated {", re)
		}
		a, b, _ := strings.Cut(s[i+len("[0-9]{"):i+end], ",")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || lo > hi {
			return 0, 0, 0, 0, false, fmt.Errorf("regexp %q: repeat %s", re, s[i:i+end+1])
		}
		return lo, hi, i + end + 1, 0, false, nil
	case strings.IndexByte(`^$.|?*+()[]{}`, c) >= 0:
		return 0, 0, 0, 0, false, fmt.Errorf("regexp %q: unsupported %q", re, c)
	default:
		return 1, 1, i + 1, c, true, nil
	}
}

// sigTok is one token of a ClamAV body signature.
type sigTok struct {
	text   string // as written; "" for a jump
	lo, hi int    // a jump's range, or the token's length in bytes
	static bool   // a plain byte
	jump   bool
}

// normalizeSig rewrites a body signature into a form ClamAV's loader
// accepts more often, matching a superset: an alternation of unequal
// lengths becomes a jump of its length range; wildcards next to a jump and
// pieces between jumps without two plain bytes in a row join the jump; and
// adjacent jumps merge. ClamAV refuses, for instance, "{2-3}55{2-3}",
// "{0-6}{1-5}" and "{0-8}c?(3157|6b)".
func normalizeSig(sig string) (string, error) {
	var toks []sigTok
	for i := 0; i < len(sig); {
		switch sig[i] {
		case '{':
			end := strings.IndexByte(sig[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("signature %q: unterminated {", sig)
			}
			lo, hi, _ := strings.Cut(sig[i+1:i+end], "-")
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil {
				return "", fmt.Errorf("signature %q: jump %s", sig, sig[i:i+end+1])
			}
			toks = append(toks, sigTok{lo: l, hi: h, jump: true})
			i += end + 1
		case '(':
			end := strings.IndexByte(sig[i:], ')')
			if end < 0 {
				return "", fmt.Errorf("signature %q: unterminated (", sig)
			}
			alts := strings.Split(sig[i+1:i+end], "|")
			lo, hi := len(alts[0])/2, len(alts[0])/2
			for _, a := range alts {
				lo, hi = min(lo, len(a)/2), max(hi, len(a)/2)
			}
			t := sigTok{text: sig[i : i+end+1], lo: lo, hi: hi}
			if lo != hi {
				t = sigTok{lo: lo, hi: hi, jump: true}
			}
			toks = append(toks, t)
			i += end + 1
		default:
			if i+2 > len(sig) {
				return "", fmt.Errorf("signature %q: odd length", sig)
			}
			t := sig[i : i+2]
			toks = append(toks, sigTok{text: t, lo: 1, hi: 1, static: !strings.Contains(t, "?")})
			i += 2
		}
	}
	// Split into pieces between jumps; a piece without two plain bytes in
	// a row becomes a jump of its length; leading and trailing wildcards of
	// a piece next to a jump join that jump.
	type piece struct {
		toks []sigTok
		jump bool
		lo   int
		hi   int
	}
	var pieces []piece
	for _, t := range toks {
		if t.jump {
			pieces = append(pieces, piece{jump: true, lo: t.lo, hi: t.hi})
			continue
		}
		if n := len(pieces); n > 0 && !pieces[n-1].jump {
			pieces[n-1].toks = append(pieces[n-1].toks, t)
			continue
		}
		pieces = append(pieces, piece{toks: []sigTok{t}})
	}
	var out []piece
	addJump := func(lo, hi int) {
		if n := len(out); n > 0 && out[n-1].jump {
			out[n-1].lo += lo
			out[n-1].hi += hi
			return
		}
		out = append(out, piece{jump: true, lo: lo, hi: hi})
	}
	for i, p := range pieces {
		if p.jump {
			addJump(p.lo, p.hi)
			continue
		}
		run, best := 0, 0
		for _, t := range p.toks {
			if t.static {
				run++
				best = max(best, run)
			} else {
				run = 0
			}
		}
		if best < 2 {
			n := 0
			for _, t := range p.toks {
				n += t.lo
			}
			addJump(n, n)
			continue
		}
		ts := p.toks
		lead, trail := 0, 0
		if i > 0 {
			for len(ts) > 0 && !ts[0].static && ts[0].text[0] != '(' {
				ts, lead = ts[1:], lead+1
			}
		}
		if i < len(pieces)-1 {
			for len(ts) > 0 && !ts[len(ts)-1].static && ts[len(ts)-1].text[0] != '(' {
				ts, trail = ts[:len(ts)-1], trail+1
			}
		}
		if lead > 0 {
			addJump(lead, lead)
		}
		out = append(out, piece{toks: ts})
		if trail > 0 {
			addJump(trail, trail)
		}
	}
	for len(out) > 0 && out[0].jump {
		out = out[1:]
	}
	for len(out) > 0 && out[len(out)-1].jump {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		return "", fmt.Errorf("signature %q: nothing fixed", sig)
	}
	var b strings.Builder
	for _, p := range out {
		if p.jump {
			fmt.Fprintf(&b, "{%d-%d}", p.lo, p.hi)
			continue
		}
		for _, t := range p.toks {
			b.WriteString(t.text)
		}
	}
	return b.String(), nil
}
