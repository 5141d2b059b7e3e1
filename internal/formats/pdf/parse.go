package pdf

import (
	"bytes"
	"sort"
	"strconv"
)

// A lenient PDF object parser: objects are found by scanning for
// "N G obj" rather than trusting the xref table, and each value is parsed
// with caps on depth and size.

type (
	pdfDict  map[string]any
	pdfArray []any
	pdfName  string
	pdfRef   struct{ num, gen int64 }
)

// object is one indirect object found in the file or in an object stream.
type object struct {
	num, gen int64
	offset   int64 // in the file; for objects in an object stream, the stream's
	value    any
	stream   []byte // raw stream data, nil when the object has none
	inObjStm bool
	alias    bool // shares its value with an earlier object: not walked again
}

const (
	maxDepth       = 64
	maxItems       = 100000 // elements of one array or dictionary
	maxObjects     = 200000
	maxStringBytes = 16 << 20
)

// parser reads values from b.
type parser struct {
	b          []byte
	pos        int
	obfuscated int // names with #xx escapes
	items      int
}

func isDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func (p *parser) skipSpace() {
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		if isSpace(c) {
			p.pos++
			continue
		}
		if c == '%' {
			for p.pos < len(p.b) && p.b[p.pos] != '\n' && p.b[p.pos] != '\r' {
				p.pos++
			}
			continue
		}
		return
	}
}

// token reads a run of regular characters.
func (p *parser) token() []byte {
	start := p.pos
	for p.pos < len(p.b) && !isSpace(p.b[p.pos]) && !isDelim(p.b[p.pos]) {
		p.pos++
	}
	return p.b[start:p.pos]
}

// name reads a name after its '/', decoding #xx escapes.
func (p *parser) name() pdfName {
	raw := p.token()
	n, esc := decodeName(raw)
	if esc {
		p.obfuscated++
	}
	return pdfName(n)
}

// decodeName decodes #xx escapes; esc says whether there were any.
func decodeName(raw []byte) (string, bool) {
	if bytes.IndexByte(raw, '#') < 0 {
		return string(raw), false
	}
	out := make([]byte, 0, len(raw))
	esc := false
	for i := 0; i < len(raw); i++ {
		if raw[i] == '#' && i+2 < len(raw) {
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if ok1 && ok2 {
				out = append(out, hi<<4|lo)
				i += 2
				esc = true
				continue
			}
		}
		out = append(out, raw[i])
	}
	return string(out), esc
}

// value parses one value at p.pos. It always advances on garbage.
func (p *parser) value(depth int) any {
	p.skipSpace()
	if p.pos >= len(p.b) {
		return nil
	}
	if depth > maxDepth {
		p.pos++
		return nil
	}
	c := p.b[p.pos]
	switch {
	case c == '<' && p.pos+1 < len(p.b) && p.b[p.pos+1] == '<':
		p.pos += 2
		d := pdfDict{}
		for p.items < maxItems {
			p.skipSpace()
			if p.pos >= len(p.b) {
				return d
			}
			if p.b[p.pos] == '>' {
				p.pos++
				if p.pos < len(p.b) && p.b[p.pos] == '>' {
					p.pos++
				}
				return d
			}
			if p.b[p.pos] != '/' {
				// Not a key: skip the value and go on.
				before := p.pos
				p.value(depth + 1)
				if p.pos == before {
					p.pos++
				}
				if bytes.HasPrefix(p.b[p.pos:], []byte("endobj")) || bytes.HasPrefix(p.b[p.pos:], []byte("stream")) {
					return d
				}
				continue
			}
			p.pos++
			k := p.name()
			p.items++
			p.skipSpace()
			if p.pos < len(p.b) && p.b[p.pos] == '>' {
				d[string(k)] = nil
				continue
			}
			d[string(k)] = p.value(depth + 1)
		}
		return d
	case c == '<':
		p.pos++
		end := bytes.IndexByte(p.b[p.pos:], '>')
		if end < 0 {
			end = len(p.b) - p.pos
		}
		s, _ := asciiHexDecode(p.b[p.pos:p.pos+end], maxStringBytes)
		p.pos = min(p.pos+end+1, len(p.b))
		return s
	case c == '[':
		p.pos++
		var a pdfArray
		for p.items < maxItems {
			p.skipSpace()
			if p.pos >= len(p.b) {
				return a
			}
			if p.b[p.pos] == ']' {
				p.pos++
				return a
			}
			if bytes.HasPrefix(p.b[p.pos:], []byte("endobj")) {
				return a
			}
			before := p.pos
			v := p.value(depth + 1)
			p.items++
			if p.pos == before {
				p.pos++
				continue
			}
			a = append(a, v)
		}
		return a
	case c == '(':
		return p.literal()
	case c == '/':
		p.pos++
		return p.name()
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		t := p.token()
		if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			// N G R?
			save := p.pos
			p.skipSpace()
			g := p.token()
			if gen, err := strconv.ParseInt(string(g), 10, 32); err == nil && len(g) > 0 {
				p.skipSpace()
				if p.pos < len(p.b) && p.b[p.pos] == 'R' && (p.pos+1 == len(p.b) || isSpace(p.b[p.pos+1]) || isDelim(p.b[p.pos+1])) {
					p.pos++
					return pdfRef{n, gen}
				}
			}
			p.pos = save
			return n
		}
		f, _ := strconv.ParseFloat(string(t), 64)
		if len(t) == 0 {
			p.pos++
		}
		return f
	case c == ')' || c == ']' || c == '>' || c == '{' || c == '}':
		p.pos++
		return nil
	}
	t := p.token()
	switch string(t) {
	case "true":
		return true
	case "false":
		return false
	case "null", "":
		if len(t) == 0 {
			p.pos++
		}
		return nil
	}
	return pdfName("") // an unknown keyword
}

// literal reads a (string) with nesting and escapes.
func (p *parser) literal() []byte {
	p.pos++
	var out []byte
	depth := 1
	for p.pos < len(p.b) && len(out) < maxStringBytes {
		c := p.b[p.pos]
		p.pos++
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return out
			}
		case '\\':
			if p.pos >= len(p.b) {
				return out
			}
			e := p.b[p.pos]
			p.pos++
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if p.pos < len(p.b) && p.b[p.pos] == '\n' {
					p.pos++
				}
				continue
			case '\n':
				continue
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for k := 0; k < 2 && p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '7'; k++ {
						v = v*8 + int(p.b[p.pos]-'0')
						p.pos++
					}
					c = byte(v)
				} else {
					c = e
				}
			}
		}
		out = append(out, c)
	}
	return out
}

// objHeaders finds at most n object headers "N G obj" in b, where N is 1
// to 10 digits, G 1 to 5, both followed by PDF white space, and "obj" is
// not followed by a word character. Each is [start, end, N start, N end,
// G start, G end], exactly what the regexp
// `(\d{1,10})[\x00\t\n\f\r ]+(\d{1,5})[\x00\t\n\f\r ]+obj\b` gives
// with FindAllSubmatchIndex (FuzzObjHeaders compares them), without
// running a regexp over every byte of the file: it looks for "obj" and
// reads the header backwards. The regexp was most of the file processor's
// time on large PDFs.
func objHeaders(b []byte, n int) [][]int {
	var out [][]int
	for from := 0; len(out) < n; {
		i := bytes.Index(b[from:], []byte("obj"))
		if i < 0 {
			break
		}
		k := from + i // "obj" starts here
		from = k + 3
		if from < len(b) && isWordByte(b[from]) {
			continue // obj\b
		}
		q := k
		for q > 0 && isSpace(b[q-1]) {
			q--
		}
		genEnd := q
		for q > 0 && isDigit(b[q-1]) {
			q--
		}
		genStart := q
		if genEnd == k || genEnd-genStart < 1 || genEnd-genStart > 5 {
			continue
		}
		for q > 0 && isSpace(b[q-1]) {
			q--
		}
		numEnd := q
		// The leftmost match takes the last 10 digits of a longer run.
		for q > 0 && isDigit(b[q-1]) && numEnd-q < 10 {
			q--
		}
		if numEnd == genStart || q == numEnd {
			continue
		}
		out = append(out, []int{q, k + 3, q, numEnd, genStart, genEnd})
	}
	return out
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isWordByte is a \w byte of Go's regexp: [0-9A-Za-z_].
func isWordByte(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

// scanObjects finds every "N G obj" in b and parses its value and stream.
func scanObjects(b []byte, obf *int) []object {
	var objs []object
	locs := objHeaders(b, maxObjects)
	for i, l := range locs {
		num, _ := strconv.ParseInt(string(b[l[2]:l[3]]), 10, 64)
		gen, _ := strconv.ParseInt(string(b[l[4]:l[5]]), 10, 64)
		end := len(b)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		p := &parser{b: b[:end], pos: l[1]}
		o := object{num: num, gen: gen, offset: int64(l[0])}
		o.value = p.value(0)
		p.skipSpace()
		if bytes.HasPrefix(p.b[p.pos:], []byte("stream")) {
			o.stream = streamData(b, p.pos+len("stream"), end, o.value)
		}
		*obf += p.obfuscated
		objs = append(objs, o)
	}
	return objs
}

// streamData returns the data of a stream whose keyword ends at start:
// /Length when it is direct and lands on "endstream", else everything up
// to the next "endstream" (or the next object).
func streamData(b []byte, start, limit int, v any) []byte {
	if start < len(b) && b[start] == '\r' {
		start++
	}
	if start < len(b) && b[start] == '\n' {
		start++
	}
	if start > limit {
		return nil
	}
	if d, ok := v.(pdfDict); ok {
		if n, ok := d["Length"].(int64); ok && n >= 0 && n <= int64(limit-start) {
			rest := b[start+int(n) : limit]
			i := 0
			for i < len(rest) && isSpace(rest[i]) {
				i++
			}
			if bytes.HasPrefix(rest[i:], []byte("endstream")) {
				return b[start : start+int(n)]
			}
		}
	}
	e := bytes.Index(b[start:limit], []byte("endstream"))
	if e < 0 {
		return b[start:limit]
	}
	data := b[start : start+e]
	if bytes.HasSuffix(data, []byte("\r\n")) {
		data = data[:len(data)-2]
	} else if bytes.HasSuffix(data, []byte("\n")) || bytes.HasSuffix(data, []byte("\r")) {
		data = data[:len(data)-1]
	}
	return data
}

// parseObjStm reads the objects of a decoded object stream: /N pairs of
// object number and offset, offsets relative to /First.
func parseObjStm(data []byte, d pdfDict, offset int64, obf *int) []object {
	n, _ := d["N"].(int64)
	first, _ := d["First"].(int64)
	if n <= 0 || first < 0 || first > int64(len(data)) {
		return nil
	}
	n = min(n, 100000)
	hp := &parser{b: data[:first]}
	type pair struct{ num, off int64 }
	var pairs []pair
	for i := int64(0); i < n; i++ {
		num, ok1 := hp.value(0).(int64)
		off, ok2 := hp.value(0).(int64)
		if !ok1 || !ok2 {
			break
		}
		pairs = append(pairs, pair{num, off})
	}
	// Each object is parsed only up to the next object's offset, and
	// objects sharing an offset share one parse: hostile headers cannot
	// make the work quadratic.
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].off < pairs[j].off })
	var objs []object
	var last any
	lastOff := int64(-1)
	for i, pr := range pairs {
		start := first + pr.off
		if pr.off < 0 || start >= int64(len(data)) {
			continue
		}
		alias := pr.off == lastOff
		if !alias {
			end := int64(len(data))
			for _, nx := range pairs[i+1:] {
				if nx.off > pr.off {
					end = min(end, first+nx.off)
					break
				}
			}
			p := &parser{b: data[:end], pos: int(start)}
			last, lastOff = p.value(0), pr.off
			*obf += p.obfuscated
		}
		objs = append(objs, object{num: pr.num, offset: offset, value: last, inObjStm: true, alias: alias})
	}
	return objs
}
