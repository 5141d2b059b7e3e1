// Package pdf reads PDF documents for the file processor, leniently:
// objects are found by scanning for "N G obj" instead of trusting the xref
// table, streams are decoded within a budget, object streams are opened,
// and what makes a PDF dangerous (JavaScript, automatic actions, launch
// actions, embedded files, obfuscated names) is reported as findings, with
// JavaScript and embedded files streamed out as children.
package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"athena/internal/core"
	"athena/internal/formats"
)

// Finding kinds of this package.
const (
	KindPDF         = "pdf"             // metadata: pdfid keyword counts, version
	KindJavaScript  = "pdf_javascript"  // JavaScript in the document
	KindLaunch      = "pdf_launch"      // /Launch actions
	KindAutoAction  = "pdf_auto_action" // /OpenAction, /AA
	KindObfuscation = "pdf_obfuscation" // #xx escapes in names
	KindURI         = "pdf_uri"         // /URI targets
	KindEmbedded    = "pdf_embedded_file"
	KindSuspicious  = "pdf_suspicious" // /JBIG2Decode, /RichMedia, /XFA: exploit surfaces
)

// MaxScanBytes caps how much of a file is read into memory and scanned;
// the rest is not analysed (the "pdf" finding says so). A variable so the
// guest can fit it to its memory limit.
var MaxScanBytes int64 = 64 << 20

// maxDecoded caps the decoded stream bytes one file may cost (object
// streams, scripts, embedded files); maxStream one stream.
const (
	maxDecoded = 128 << 20
	maxStream  = 64 << 20
)

// Detect reports whether head holds "%PDF-" within its first 1024 bytes.
func Detect(head []byte) bool {
	return bytes.Contains(head[:min(len(head), 1024+5)], []byte("%PDF-"))
}

// pdfid's keywords, in its order.
var keywords = []string{
	"obj", "endobj", "stream", "endstream", "xref", "trailer", "startxref",
	"/Page", "/Encrypt", "/ObjStm", "/JS", "/JavaScript", "/AA", "/OpenAction",
	"/AcroForm", "/JBIG2Decode", "/RichMedia", "/Launch", "/EmbeddedFile", "/XFA", "/URI",
}

// keywordSet holds the keywords, byLength the same by length (at most
// three of each); maxKeyword is the longest.
var keywordSet, byLength, maxKeyword = func() (map[string]bool, [][]string, int) {
	set, longest := map[string]bool{}, 0
	for _, k := range keywords {
		set[k] = true
		longest = max(longest, len(k))
	}
	by := make([][]string, longest+1)
	for _, k := range keywords {
		by[len(k)] = append(by[len(k)], k)
	}
	return set, by, longest
}()

// Byte classes of the keyword scan: a token is a run of regular bytes, or
// '/' and the run after it (a name).
const (
	regular = iota
	space
	delim // other than '/'
	slash
)

var class = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case isSpace(byte(c)):
			t[c] = space
		case c == '/':
			t[c] = slash
		case isDelim(byte(c)):
			t[c] = delim
		}
	}
	return t
}()

// countKeywords counts pdfid's keywords in b, names after #xx decoding;
// obf counts the keyword names that were hex-escaped. It looks at every
// token of the file, compressed streams included, so it only looks up
// tokens short enough to be a keyword and decodes only names with '#'.
func countKeywords(b []byte, counts map[string]int, obf map[string]int) {
	for i := 0; i < len(b); {
		switch class[b[i]] {
		case space, delim:
			i++
			continue
		}
		start := i
		if b[i] == '/' {
			i++
		}
		for i < len(b) && class[b[i]] == regular {
			i++
		}
		tok := b[start:i]
		switch {
		case len(tok) > 64:
		case tok[0] == '/' && bytes.IndexByte(tok, '#') >= 0:
			if n, esc := decodeName(tok[1:]); keywordSet["/"+n] {
				counts["/"+n]++
				if esc {
					obf["/"+n]++
				}
			}
		case len(tok) <= maxKeyword:
			for _, k := range byLength[len(tok)] {
				if k[len(k)-1] == tok[len(tok)-1] && k == string(tok) {
					counts[k]++
					break
				}
			}
		}
	}
}

// extraction holds one file's state.
type extraction struct {
	m        *formats.Meter
	sink     formats.Sink
	objs     map[int64]*object // latest definition of each number
	all      []*object
	budget   int // decoded bytes left for analysis
	stopped  bool
	err      error
	decoded  map[*object][]byte
	failures []string
}

// Extract reads a PDF: it reports pdfid keyword counts (Kind "pdf"),
// decodes streams (Flate, ASCIIHex, ASCII85, LZW, RunLength, chained)
// within the budget, parses object streams, emits JavaScript as children
// "js/obj-N.js" and embedded files as children named by their /UF or /F
// name, and flags JavaScript (high with /OpenAction or /AA), /Launch
// (high), /URI targets and obfuscated names. Broken files give partial
// results and a malformed finding; the error is the sink's, when it
// refused a child.
func Extract(r io.ReaderAt, size int64, m *formats.Meter, sink formats.Sink) (err error) {
	defer func() {
		if p := recover(); p != nil {
			sink.Finding(core.Finding{Kind: formats.KindMalformed, Severity: core.Low,
				Detail: map[string]any{"format": "pdf", "error": fmt.Sprintf("parser panic: %v", p)}})
		}
	}()
	n := min(size, MaxScanBytes)
	if n < 0 {
		n = 0
	}
	b := make([]byte, n)
	got, rerr := r.ReadAt(b, 0)
	b = b[:got]
	if rerr != nil && !errors.Is(rerr, io.EOF) && got == 0 {
		return fmt.Errorf("pdf: read: %w", rerr)
	}
	bud := m.Budget()
	x := &extraction{m: m, sink: sink, objs: map[int64]*object{}, decoded: map[*object][]byte{},
		budget: int(min(bud.MaxTotalBytes, maxDecoded))}

	meta := map[string]any{}
	if i := bytes.Index(b[:min(len(b), 1029)], []byte("%PDF-")); i >= 0 {
		v := b[i+5 : min(i+8, len(b))]
		meta["version"] = string(bytes.TrimRightFunc(v, func(r rune) bool { return r < '0' || r > '9' }))
		if i > 0 {
			meta["header_offset"] = i
		}
	} else {
		meta["header"] = "missing"
	}
	if size > n {
		meta["scanned_bytes"] = n
		meta["size"] = size
	}
	counts := map[string]int{}
	obfKeys := map[string]int{}
	countKeywords(b, counts, obfKeys)

	obfNames := 0
	for _, o := range scanObjects(b, &obfNames) {
		o := o
		x.add(&o)
	}
	// Object streams: decode and parse their objects.
	var inner []*object
	for _, o := range x.all {
		d, _ := o.value.(pdfDict)
		if d == nil || o.stream == nil || d["Type"] != pdfName("ObjStm") {
			continue
		}
		data := x.decode(o)
		if data == nil {
			continue
		}
		countKeywords(data, counts, obfKeys)
		for _, io := range parseObjStm(data, d, o.offset, &obfNames) {
			io := io
			inner = append(inner, &io)
		}
	}
	for _, o := range inner {
		x.add(o)
	}
	meta["objects"] = len(x.all)
	meta["objects_in_objstm"] = len(inner)
	kw := map[string]int{}
	for _, k := range keywords {
		kw[k] = counts[k]
	}
	meta["keywords"] = kw
	if len(obfKeys) > 0 {
		meta["obfuscated_keywords"] = obfKeys
	}
	if obfNames > 0 {
		meta["obfuscated_names"] = obfNames
	}
	if !bytes.Contains(b[max(0, len(b)-1024):], []byte("%%EOF")) {
		meta["eof_marker"] = "missing"
	}

	x.analyse(counts)
	if len(x.failures) > 0 {
		meta["decode_failures"] = x.failures
	}
	sink.Finding(core.Finding{Kind: KindPDF, Severity: core.Info, Detail: meta})
	if len(obfKeys) > 0 || obfNames > 0 {
		sev := core.Low
		if len(obfKeys) > 0 {
			sev = core.Medium
		}
		sink.Finding(core.Finding{Kind: KindObfuscation, Rule: "pdf_hex_names", Severity: sev,
			Detail: map[string]any{"escaped_names": obfNames, "escaped_keywords": obfKeys}})
	}
	sus := map[string]int{}
	for _, k := range []string{"/JBIG2Decode", "/RichMedia", "/XFA"} {
		if counts[k] > 0 {
			sus[k] = counts[k]
		}
	}
	if len(sus) > 0 {
		sink.Finding(core.Finding{Kind: KindSuspicious, Rule: "pdf_exploit_surface", Severity: core.Low,
			Detail: map[string]any{"keywords": sus}})
	}
	if counts["/Encrypt"] > 0 {
		sink.Finding(core.Finding{Kind: formats.KindEncrypted, Severity: core.Low,
			Detail: map[string]any{"member": "", "decrypted": false, "format": "pdf"}})
	}
	if _, hasHeader := meta["version"]; !hasHeader || len(x.all) == 0 {
		sink.Finding(core.Finding{Kind: formats.KindMalformed, Severity: core.Low,
			Detail: map[string]any{"format": "pdf", "error": fmt.Sprintf("header %v, %d objects", hasHeader, len(x.all))}})
	}
	return x.err
}

func (x *extraction) add(o *object) {
	x.all = append(x.all, o)
	x.objs[o.num] = o
}

// decode returns o's decoded stream (cached), nil when it cannot be
// decoded or the analysis budget is spent. Unsupported filters (images)
// give nil.
func (x *extraction) decode(o *object) []byte {
	if d, ok := x.decoded[o]; ok {
		return d
	}
	d, _ := o.value.(pdfDict)
	data := o.stream
	filters := x.filters(d["Filter"])
	parms := x.resolve(d["DecodeParms"], 0)
	if parms == nil {
		parms = x.resolve(d["DP"], 0)
	}
	for i, f := range filters {
		if x.budget <= 0 {
			x.fail(fmt.Sprintf("obj %d: analysis budget spent", o.num))
			data = nil
			break
		}
		var p pdfDict
		switch pv := parms.(type) {
		case pdfDict:
			if i == len(filters)-1 || len(filters) == 1 {
				p = pv
			}
		case pdfArray:
			if i < len(pv) {
				p, _ = x.resolve(pv[i], 0).(pdfDict)
			}
		}
		out, err := decode(f, data, p, min(x.budget, int(min(x.m.Budget().MaxMemberBytes, maxStream))))
		if errors.Is(err, errUnsupported) {
			data = nil
			break
		}
		if err != nil {
			x.fail(fmt.Sprintf("obj %d %s: %v", o.num, f, err))
			if len(out) == 0 {
				data = nil
				break
			}
		}
		x.budget -= len(out)
		data = out
	}
	x.decoded[o] = data
	return data
}

func (x *extraction) fail(s string) {
	if len(x.failures) < 20 {
		x.failures = append(x.failures, s)
	}
}

// filters lists the filter names of a /Filter value (at most 8).
func (x *extraction) filters(v any) []string {
	var out []string
	switch f := x.resolve(v, 0).(type) {
	case pdfName:
		out = append(out, string(f))
	case pdfArray:
		for _, e := range f {
			if n, ok := x.resolve(e, 0).(pdfName); ok && len(out) < 8 {
				out = append(out, string(n))
			}
		}
	}
	return out
}

// resolve follows references (a few hops).
func (x *extraction) resolve(v any, depth int) any {
	for i := 0; i < 8; i++ {
		r, ok := v.(pdfRef)
		if !ok {
			return v
		}
		o := x.objs[r.num]
		if o == nil {
			return nil
		}
		v = o.value
	}
	return nil
}

// text returns a string value, or the decoded stream of a referenced
// stream object.
func (x *extraction) text(v any) ([]byte, int64, bool) {
	num := int64(-1)
	for i := 0; i < 8; i++ {
		r, ok := v.(pdfRef)
		if !ok {
			break
		}
		o := x.objs[r.num]
		if o == nil {
			return nil, num, false
		}
		num = r.num
		if o.stream != nil {
			return x.decode(o), num, true
		}
		v = o.value
	}
	switch s := v.(type) {
	case []byte:
		return s, num, true
	case pdfName:
		return []byte(s), num, true
	}
	return nil, num, false
}

// analyse walks every object's value for JavaScript, launch actions,
// URIs and embedded files.
func (x *extraction) analyse(counts map[string]int) {
	var js []map[string]any
	var launches []map[string]any
	var uris []string
	var embedded []map[string]any
	seenJS := map[string]bool{}
	emitted := map[*object]bool{}

	var walk func(o *object, v any, depth int)
	walk = func(o *object, v any, depth int) {
		if depth > maxDepth {
			return
		}
		switch t := v.(type) {
		case pdfArray:
			for _, e := range t {
				walk(o, e, depth+1)
			}
		case pdfDict:
			if jv, ok := t["JS"]; ok {
				src, num, ok := x.text(jv)
				if num < 0 {
					num = o.num
				}
				if ok && len(src) > 0 {
					name := fmt.Sprintf("js/obj-%d.js", num)
					if !seenJS[name] {
						seenJS[name] = true
						js = append(js, map[string]any{"object": num, "bytes": len(src), "head": headText(src, 200)})
						x.child(name, src, -1)
					}
				}
			}
			if s, _ := x.resolve(t["S"], 0).(pdfName); s == "Launch" || t["Launch"] != nil {
				l := map[string]any{"object": o.num}
				for _, k := range []string{"F", "Win", "P"} {
					if v, ok := t[k]; ok {
						l[k] = describeValue(x.resolve(v, 0))
					}
				}
				if len(launches) < 50 {
					launches = append(launches, l)
				}
			}
			if u, ok := t["URI"]; ok {
				if s, _, ok := x.text(u); ok && len(uris) < 200 {
					uris = append(uris, headText(s, 2048))
				}
			}
			if ef, ok := x.resolve(t["EF"], 0).(pdfDict); ok {
				name := ""
				for _, k := range []string{"UF", "F"} {
					if s, ok := x.resolve(t[k], 0).([]byte); ok && len(s) > 0 {
						name = pdfText(s)
						break
					}
				}
				for _, k := range []string{"F", "UF", "DOS", "Unix", "Mac"} {
					r, ok := ef[k].(pdfRef)
					if !ok {
						continue
					}
					so := x.objs[r.num]
					if so == nil || so.stream == nil || emitted[so] {
						continue
					}
					emitted[so] = true
					data := x.decode(so)
					if name == "" {
						name = fmt.Sprintf("embedded-obj-%d", r.num)
					}
					embedded = append(embedded, map[string]any{"name": headText([]byte(name), 512), "object": r.num, "bytes": len(data)})
					if len(embedded) <= 1000 {
						x.child(name, data, int64(len(so.stream)))
					}
					break
				}
			}
			for k, e := range t {
				if k == "JS" {
					continue
				}
				walk(o, e, depth+1)
			}
		}
	}
	// Walk objects in file order for stable output.
	for _, o := range x.all {
		if !o.alias {
			walk(o, o.value, 0)
		}
	}
	// Embedded file streams no file specification points at.
	for _, o := range x.all {
		d, _ := o.value.(pdfDict)
		if d == nil || o.stream == nil || emitted[o] || d["Type"] != pdfName("EmbeddedFile") {
			continue
		}
		emitted[o] = true
		data := x.decode(o)
		name := fmt.Sprintf("embedded-obj-%d", o.num)
		embedded = append(embedded, map[string]any{"name": name, "object": o.num, "bytes": len(data)})
		x.child(name, data, int64(len(o.stream)))
	}

	auto := counts["/OpenAction"] > 0 || counts["/AA"] > 0
	if auto {
		x.sink.Finding(core.Finding{Kind: KindAutoAction, Severity: core.Low,
			Detail: map[string]any{"open_action": counts["/OpenAction"], "additional_actions": counts["/AA"]}})
	}
	if len(js) > 0 || counts["/JS"] > 0 || counts["/JavaScript"] > 0 {
		sev, rule := core.Medium, "pdf_javascript"
		if auto {
			sev, rule = core.High, "pdf_auto_javascript"
		}
		x.sink.Finding(core.Finding{Kind: KindJavaScript, Rule: rule, Severity: sev,
			Detail: map[string]any{"scripts": truncateList(js, 50), "count": len(js), "automatic": auto}})
	}
	if len(launches) > 0 || counts["/Launch"] > 0 {
		x.sink.Finding(core.Finding{Kind: KindLaunch, Rule: "pdf_launch", Severity: core.High,
			Detail: map[string]any{"actions": launches, "count": counts["/Launch"]}})
	}
	if len(uris) > 0 {
		sort.Strings(uris)
		uris = dedupe(uris)
		x.sink.Finding(core.Finding{Kind: KindURI, Severity: core.Info,
			Detail: map[string]any{"uris": truncateList(uris, 100), "count": len(uris)}})
	}
	if len(embedded) > 0 {
		sev := core.Low
		for _, e := range embedded {
			if isExecutableName(e["name"].(string)) {
				sev = core.High
			}
		}
		x.sink.Finding(core.Finding{Kind: KindEmbedded, Severity: sev,
			Detail: map[string]any{"files": truncateList(embedded, 100), "count": len(embedded)}})
	}
}

// child emits one child through the meter. After a broken budget or a
// sink error it emits nothing more, but the analysis goes on so that
// findings are still reported; x.err keeps the sink's error.
func (x *extraction) child(name string, data []byte, compressed int64) {
	if x.stopped {
		return
	}
	if err := x.m.Member(); err != nil {
		x.stopped = true
		x.budgetFinding(name, err)
		return
	}
	clean, problem := formats.SanitizePath(name)
	if problem != "" {
		x.sink.Finding(core.Finding{Kind: formats.KindPath, Severity: core.Medium,
			Detail: map[string]any{"path": headText([]byte(name), 512), "problem": problem}})
	}
	if err := x.sink.Child(clean, x.m.Reader(bytes.NewReader(data), compressed)); err != nil {
		x.stopped = true
		x.err = err
		x.budgetFinding(name, err)
	}
}

// budgetFinding reports err when it is a broken budget (a ratio also as a
// bomb).
func (x *extraction) budgetFinding(member string, err error) {
	var be *formats.BudgetError
	if !errors.As(err, &be) {
		return
	}
	d := map[string]any{"budget": be.Budget, "limit": be.Limit, "member": headText([]byte(member), 512), "format": "pdf"}
	x.sink.Finding(core.Finding{Kind: formats.KindBudget, Severity: core.Medium, Detail: d})
	if be.Budget == "ratio" {
		x.sink.Finding(core.Finding{Kind: formats.KindBomb, Severity: core.High, Detail: map[string]any{
			"reason": "expansion ratio", "limit": be.Limit, "member": d["member"], "format": "pdf"}})
	}
}

// pdfText decodes a PDF text string: UTF-16BE with a BOM, else bytes.
func pdfText(s []byte) string {
	if len(s) >= 2 && s[0] == 0xFE && s[1] == 0xFF {
		var r []rune
		for i := 2; i+1 < len(s); i += 2 {
			r = append(r, rune(s[i])<<8|rune(s[i+1]))
		}
		return string(r)
	}
	return string(s)
}

func describeValue(v any) any {
	switch t := v.(type) {
	case []byte:
		return headText(t, 512)
	case pdfName:
		return string(t)
	case pdfDict:
		out := map[string]any{}
		for k, e := range t {
			if len(out) < 10 {
				switch e := e.(type) {
				case []byte:
					out[k] = headText(e, 512)
				case pdfName:
					out[k] = string(e)
				}
			}
		}
		return out
	}
	return fmt.Sprint(v)
}

func headText(b []byte, n int) string {
	s := pdfText(b)
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

func truncateList[T any](l []T, n int) []T {
	if len(l) <= n {
		return l
	}
	return l[:n]
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func isExecutableName(name string) bool {
	l := strings.ToLower(name)
	for _, x := range []string{".exe", ".scr", ".dll", ".com", ".pif", ".bat", ".cmd", ".vbs", ".js", ".hta", ".ps1", ".lnk", ".msi", ".jar", ".docm", ".xlsm"} {
		if strings.HasSuffix(l, x) {
			return true
		}
	}
	return false
}
