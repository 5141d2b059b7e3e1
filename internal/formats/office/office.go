// Package office reads Microsoft Office documents for the file processor:
// OLE compound files (.doc, .xls, .ppt, .msg, vbaProject.bin) with their
// VBA projects and embedded objects, and Office Open XML packages (.docx,
// .docm, .xlsx, .xlsm, .pptx) with their macros, external relationships
// and DDE fields.
//
// Every function reads hostile input: it never panics, bounds its work and
// its allocations, reports what it finds to a formats.Sink and streams
// extracted parts out as children through a formats.Meter.
package office

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"athena/internal/core"
	"athena/internal/formats"
)

// Finding kinds of this package.
const (
	KindOLE        = "ole"            // metadata: streams, storages
	KindOOXML      = "ooxml"          // metadata: app, macros
	KindVBA        = "vba"            // metadata: project, modules
	KindAutoExec   = "vba_autoexec"   // a macro that runs by itself
	KindSuspicious = "vba_suspicious" // keywords that run, download, obfuscate
	KindExternal   = "external_relationship"
	KindDDE        = "dde"
	KindOLENative  = "ole10native"
)

// Detect names the container format from a file's first bytes: "ole" for
// a compound file, "ooxml" for a zip whose first bytes name an Office
// part, "" otherwise.
func Detect(head []byte) string {
	if bytes.HasPrefix(head, cfbSignature) {
		return "ole"
	}
	if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		for _, s := range []string{"[Content_Types].xml", "word/", "xl/", "ppt/", "_rels/.rels"} {
			if bytes.Contains(head, []byte(s)) {
				return "ooxml"
			}
		}
	}
	return ""
}

// emitter streams children through the meter. After a broken budget or
// a sink error it emits nothing more, but the analysis goes on so that
// findings are still reported; err keeps the sink's error for the caller.
type emitter struct {
	m       *formats.Meter
	sink    formats.Sink
	format  string
	stopped bool
	err     error
}

// child emits one child; a failure stops later children (see emitter).
func (e *emitter) child(name string, r io.Reader, compressed int64) {
	if e.stopped {
		return
	}
	if err := e.m.Member(); err != nil {
		e.stopped = true
		budgetFinding(e.sink, e.format, name, err)
		return
	}
	clean, problem := formats.SanitizePath(name)
	if problem != "" {
		e.sink.Finding(core.Finding{
			Kind: formats.KindPath, Severity: core.Medium,
			Detail: map[string]any{"path": truncate(name, 512), "problem": problem},
		})
	}
	if err := e.sink.Child(clean, e.m.Reader(r, compressed)); err != nil {
		e.stopped = true
		e.err = err
		budgetFinding(e.sink, e.format, name, err)
	}
}

// budgetFinding reports err when it is a broken budget (a ratio also as a
// bomb).
func budgetFinding(sink formats.Sink, format, member string, err error) {
	var be *formats.BudgetError
	if !errors.As(err, &be) {
		return
	}
	sink.Finding(core.Finding{Kind: formats.KindBudget, Severity: core.Medium, Detail: map[string]any{
		"budget": be.Budget, "limit": be.Limit, "member": truncate(member, 512), "format": format,
	}})
	if be.Budget == "ratio" {
		sink.Finding(core.Finding{Kind: formats.KindBomb, Severity: core.High, Detail: map[string]any{
			"reason": "expansion ratio", "limit": be.Limit, "member": truncate(member, 512), "format": format,
		}})
	}
}

// malformed reports a parse problem.
func malformed(sink formats.Sink, format string, err error) {
	sink.Finding(core.Finding{
		Kind: formats.KindMalformed, Severity: core.Low,
		Detail: map[string]any{"format": format, "error": truncate(err.Error(), 1024)},
	})
}

// guard turns a panic into a malformed finding: the last line of defence.
func guard(sink formats.Sink, format string) {
	if p := recover(); p != nil {
		malformed(sink, format, fmt.Errorf("parser panic: %v", p))
	}
}

// Caps on decompressed VBA source: real modules are kilobytes, and the
// RLE expands a 6-byte chunk to 4 KiB.
const (
	maxModuleSource = 16 << 20
	maxProjects     = 16 // dir streams in one file
	maxVBASource    = 64 << 20
)

// maxStreamBytes caps a stream read into memory for analysis.
func maxStreamBytes(m *formats.Meter) int64 {
	return min(m.Budget().MaxMemberBytes, cfbMaxStream)
}

// ExtractOLE reads an OLE compound file: it reports its streams, extracts
// any VBA project (each module's source as the child "vba/<Module>.bas",
// a "vba" finding listing the modules, auto-exec and suspicious keyword
// findings), and emits embedded objects (Ole10Native payloads, embedded
// packages and streams that hold a known file format) as children. A file
// that is not a compound file is reported malformed; the error is the
// sink's, when it refused a child.
func ExtractOLE(r io.ReaderAt, size int64, m *formats.Meter, sink formats.Sink) error {
	defer guard(sink, "ole")
	c, oerr := openCFB(r, size, maxStreamBytes(m))
	if oerr != nil {
		malformed(sink, "ole", oerr)
		return nil
	}
	e := &emitter{m: m, sink: sink, format: "ole"}
	var streams, storages int
	var names []string
	for _, en := range c.entries {
		if en.path == "" {
			continue
		}
		switch en.typ {
		case 1:
			storages++
		case 2:
			streams++
		default:
			continue
		}
		if len(names) < 200 {
			names = append(names, truncate(en.path, 128))
		}
	}
	detail := map[string]any{
		"streams": streams, "storages": storages, "entries": names,
		"sector_size": c.sectorSize, "app": oleApp(c),
	}
	if len(names) == 200 {
		detail["entries_truncated"] = true
	}
	if len(c.warnings) > 0 {
		detail["warnings"] = c.warnings
		malformed(sink, "ole", errors.New(strings.Join(c.warnings, "; ")))
	}
	sink.Finding(core.Finding{Kind: KindOLE, Severity: core.Info, Detail: detail})

	if c.find("EncryptedPackage") >= 0 || c.find("EncryptionInfo") >= 0 {
		// A password-protected OOXML document: the package is encrypted
		// (MS-OFFCRYPTO) and not decrypted here.
		sink.Finding(core.Finding{Kind: formats.KindEncrypted, Severity: core.Low,
			Detail: map[string]any{"member": "EncryptedPackage", "decrypted": false, "format": "ooxml"}})
	}
	extractVBA(c, e, sink)
	scanXLM(c, sink)
	extractEmbedded(c, e, sink)
	if c.spent {
		sink.Finding(core.Finding{Kind: formats.KindBudget, Severity: core.Medium,
			Detail: map[string]any{"budget": "ole_reads", "limit": 4*size + 16<<20,
				"reason": "directory entries share sectors; reading stopped"}})
	}
	return e.err
}

// oleApp guesses the application from well-known stream names.
func oleApp(c *cfb) string {
	switch {
	case c.find("WordDocument") >= 0:
		return "word"
	case c.find("Workbook") >= 0 || c.find("Book") >= 0:
		return "excel"
	case c.find("PowerPoint Document") >= 0:
		return "powerpoint"
	case c.find("EncryptedPackage") >= 0:
		return "encrypted_ooxml"
	case c.find("__properties_version1.0") >= 0:
		return "outlook"
	case c.find("VBA/dir") >= 0 || c.find("PROJECT") >= 0:
		return "vba_project"
	}
	return ""
}

// extractVBA finds every storage holding a "dir" stream (Macros/VBA,
// _VBA_PROJECT_CUR/VBA, VBA in vbaProject.bin) and extracts its modules.
func extractVBA(c *cfb, e *emitter, sink formats.Sink) {
	scan := newMacroScan()
	left := maxVBASource // decompressed source bytes left for this file
	modules := 0         // modules looked at, all projects
	dirs := 0            // dir streams looked at
	var projects []map[string]any
	for i, en := range c.entries {
		if en.typ != 2 || !strings.EqualFold(cleanName(en.name), "dir") || en.parent < 0 {
			continue
		}
		if dirs++; dirs > maxProjects {
			malformed(sink, "vba", fmt.Errorf("more than %d VBA projects", maxProjects))
			break
		}
		raw, err := c.stream(i)
		if err != nil && len(raw) == 0 {
			malformed(sink, "vba", fmt.Errorf("dir stream %s: %w", en.path, err))
			continue
		}
		dir, err := decompressOVBA(raw, 16<<20)
		if err != nil && len(dir) == 0 {
			malformed(sink, "vba", fmt.Errorf("dir stream %s: %w", en.path, err))
			continue
		}
		proj, err := parseDir(dir)
		if err != nil {
			malformed(sink, "vba", fmt.Errorf("dir stream %s: %w", en.path, err))
		}
		prefix := strings.TrimSuffix(en.path, "dir")
		var mods []map[string]any
		used := map[int]bool{i: true}
		for _, mod := range proj.Modules {
			if modules++; modules > maxModules {
				break
			}
			md := map[string]any{"name": truncate(mod.Name, 128), "stream": truncate(mod.Stream, 128)}
			if mod.Type != "" {
				md["type"] = mod.Type
			}
			si := c.childNamed(en.parent, cleanName(mod.Stream))
			if si < 0 && mod.StreamUnicode != "" {
				si = c.childNamed(en.parent, cleanName(mod.StreamUnicode))
			}
			if si >= 0 {
				used[si] = true
			}
			if si < 0 {
				md["error"] = "stream missing"
				mods = append(mods, md)
				continue
			}
			data, err := c.stream(si)
			if err != nil {
				md["error"] = truncate(err.Error(), 256)
			}
			if int64(mod.TextOffset) >= int64(len(data)) {
				md["error"] = "source offset past the stream"
				mods = append(mods, md)
				continue
			}
			if left <= 0 {
				md["error"] = "source budget spent"
				mods = append(mods, md)
				continue
			}
			src, derr := decompressOVBA(data[mod.TextOffset:], int(min(int64(left), maxModuleSource, e.m.Budget().MaxMemberBytes)))
			left -= len(src)
			if derr != nil {
				md["error"] = truncate(derr.Error(), 256)
			}
			md["source_bytes"] = len(src)
			mods = append(mods, md)
			scan.add(mod.Name, src)
			name := "vba/" + moduleFile(mod.Name)
			e.child(name, bytes.NewReader(src), int64(len(data))-int64(mod.TextOffset))
		}
		// Streams the dir stream does not list (a damaged or edited dir)
		// may still hold source: look for a compressed "Attribute VB_".
		for si, se := range c.entries {
			if used[si] || se.typ != 2 || se.parent != en.parent || left <= 0 {
				continue
			}
			name := cleanName(se.name)
			if strings.EqualFold(name, "_VBA_PROJECT") || strings.HasPrefix(strings.ToUpper(name), "__SRP_") {
				continue
			}
			data, _ := c.stream(si)
			off := findSource(data)
			if off < 0 {
				continue
			}
			src, _ := decompressOVBA(data[off:], int(min(int64(left), maxModuleSource, e.m.Budget().MaxMemberBytes)))
			left -= len(src)
			mods = append(mods, map[string]any{"name": truncate(name, 128), "stream": truncate(name, 128),
				"source_bytes": len(src), "unlisted": true})
			scan.add(name, src)
			e.child("vba/"+moduleFile(name), bytes.NewReader(src), int64(len(data)-off))
		}
		projects = append(projects, map[string]any{
			"storage": strings.TrimSuffix(prefix, "/"), "project": truncate(proj.Name, 128),
			"code_page": proj.CodePage, "modules": truncateList(mods, 100),
		})
	}
	if len(projects) == 0 {
		return
	}
	d := map[string]any{"projects": truncateList(projects, 10)}
	if len(projects) > 10 {
		d["projects_truncated"] = len(projects)
	}
	sink.Finding(core.Finding{Kind: KindVBA, Severity: core.Info, Detail: d})
	reportMacros(scan, sink)
}

// findSource returns the offset of a compressed container whose text
// starts with "Attribute" (every module's source does), or -1.
func findSource(data []byte) int {
	for from := 0; from < len(data); {
		i := bytes.Index(data[from:], []byte("\x00Attribut"))
		if i < 0 {
			return -1
		}
		at := from + i - 3
		if at >= 0 && data[at] == 0x01 && data[at+2]&0x70 == 0x30 {
			return at
		}
		from += i + 1
	}
	return -1
}

// reportMacros turns a keyword scan into findings: auto-exec alone is
// medium, high with a keyword that executes or downloads; suspicious
// keywords are medium when they execute or download, low otherwise.
func reportMacros(s *macroScan, sink formats.Sink) {
	var danger []string
	for _, k := range sortedKeys(s.Suspicious) {
		if dangerous(k) {
			danger = append(danger, k)
		}
	}
	if len(s.AutoExec) > 0 {
		sev := core.Medium
		if len(danger) > 0 {
			sev = core.High
		}
		triggers := map[string]any{}
		for _, k := range sortedKeys(s.AutoExec) {
			triggers[k] = s.AutoExec[k]
		}
		d := map[string]any{"triggers": triggers}
		if len(danger) > 0 {
			d["with"] = danger
		}
		sink.Finding(core.Finding{Kind: KindAutoExec, Rule: "vba_autoexec", Severity: sev, Detail: d})
	}
	if len(s.Suspicious) > 0 {
		sev := core.Low
		if len(danger) > 0 {
			sev = core.Medium
		}
		kw := map[string]any{}
		for _, k := range sortedKeys(s.Suspicious) {
			kw[k] = map[string]any{"modules": s.Suspicious[k], "means": describe(k)}
		}
		sink.Finding(core.Finding{Kind: KindSuspicious, Rule: "vba_keywords", Severity: sev, Detail: map[string]any{"keywords": kw}})
	}
	if s.ChrCalls >= 20 {
		sink.Finding(core.Finding{Kind: KindSuspicious, Rule: "vba_chr_obfuscation", Severity: core.Medium,
			Detail: map[string]any{"chr_calls": s.ChrCalls, "means": "strings built from character codes"}})
	}
}

// moduleFile makes a module name a file name ending in .bas.
func moduleFile(name string) string {
	name = cleanName(name)
	name = strings.Map(func(r rune) rune {
		if r == ':' || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|' {
			return '_'
		}
		return r
	}, name)
	if name == "." || name == ".." {
		name = "_"
	}
	return truncate(name, 128) + ".bas"
}

// embeddedMagic are the first bytes of formats worth handing back to the
// engine when a stream holds them.
var embeddedMagic = [][]byte{
	[]byte("MZ"), []byte("PK\x03\x04"), []byte("%PDF"), cfbSignature, []byte("{\\rt"),
	[]byte("\x7fELF"), []byte("Rar!"), []byte("7z\xbc\xaf\x27\x1c"),
}

// extractEmbedded emits Ole10Native payloads, "Package" and "CONTENTS"
// streams of embedded objects, and any other stream starting with a known
// file format.
func extractEmbedded(c *cfb, e *emitter, sink formats.Sink) {
	for i, en := range c.entries {
		if en.typ != 2 || en.path == "" || en.size == 0 {
			continue
		}
		name := cleanName(en.name)
		isNative := strings.EqualFold(name, "Ole10Native")
		isPackage := strings.EqualFold(name, "Package") || strings.EqualFold(name, "CONTENTS")
		if !isNative && !isPackage {
			// Peek at the head before reading a whole stream.
			if en.size < 4 || strings.EqualFold(name, "dir") {
				continue
			}
			head, _ := c.streamHead(i, 8)
			known := false
			for _, mg := range embeddedMagic {
				if bytes.HasPrefix(head, mg) {
					known = true
					break
				}
			}
			if !known {
				continue
			}
		}
		data, err := c.stream(i)
		if err != nil {
			malformed(sink, "ole", fmt.Errorf("stream %s: %w", en.path, err))
			if len(data) == 0 {
				continue
			}
		}
		if isNative {
			n, perr := parseOle10Native(data)
			if perr != nil {
				malformed(sink, "ole10native", fmt.Errorf("%s: %w", en.path, perr))
				continue
			}
			sink.Finding(core.Finding{Kind: KindOLENative, Severity: core.Low, Detail: map[string]any{
				"stream": en.path, "label": truncate(n.label, 256), "file": truncate(n.file, 512),
				"temp_path": truncate(n.temp, 512), "size": len(n.data),
				"executable": isExecutableName(n.file) || bytes.HasPrefix(n.data, []byte("MZ")),
			}})
			if isExecutableName(n.file) || bytes.HasPrefix(n.data, []byte("MZ")) {
				sink.Finding(core.Finding{Kind: KindOLENative, Rule: "ole_embedded_executable", Severity: core.High,
					Detail: map[string]any{"stream": en.path, "file": truncate(n.file, 512)}})
			}
			base := n.file
			if j := strings.LastIndexAny(base, `\/`); j >= 0 {
				base = base[j+1:]
			}
			if base == "" {
				base = "payload"
			}
			e.child("ole10native/"+base, bytes.NewReader(n.data), -1)
			continue
		}
		e.child("streams/"+en.path, bytes.NewReader(data), -1)
	}
}

// streamHead reads the first n bytes of stream i without reading it all.
func (c *cfb) streamHead(i int, n int) ([]byte, error) {
	en := c.entries[i]
	if en.size < c.miniCutoff {
		return c.miniRead(en.start, min(int64(n), int64(en.size)))
	}
	if en.start >= uint32(len(c.fat)) {
		return nil, errCFBChain
	}
	buf := make([]byte, c.sectorSize)
	if !c.readSector(en.start, buf) {
		return nil, errCFBChain
	}
	return buf[:min(n, len(buf))], nil
}

type ole10Native struct {
	label, file, temp string
	data              []byte
}

var errNative = errors.New("bad Ole10Native stream")

// parseOle10Native reads the packager payload of an embedded object:
// size, flags, label, source path, two reserved words, temp path, data
// size and data. Streams that hold only size and data are read as such.
func parseOle10Native(b []byte) (ole10Native, error) {
	var n ole10Native
	le := func(p int) int64 {
		return int64(b[p]) | int64(b[p+1])<<8 | int64(b[p+2])<<16 | int64(b[p+3])<<24
	}
	if len(b) < 6 {
		return n, errNative
	}
	total := le(0)
	pos := 6
	cstr := func() (string, bool) {
		i := bytes.IndexByte(b[pos:], 0)
		if i < 0 || i > 4096 {
			return "", false
		}
		s := string(b[pos : pos+i])
		pos += i + 1
		return s, true
	}
	var ok bool
	if n.label, ok = cstr(); ok {
		if n.file, ok = cstr(); ok && pos+8 <= len(b) {
			pos += 8
			if n.temp, ok = cstr(); ok && pos+4 <= len(b) {
				sz := le(pos)
				pos += 4
				if sz >= 0 && sz <= int64(len(b)-pos) {
					n.data = b[pos : pos+int(sz)]
					return n, nil
				}
			}
		}
	}
	// Fallback: the whole stream after the size is the payload.
	n = ole10Native{}
	if total <= 0 || total > int64(len(b)-4) {
		total = int64(len(b) - 4)
	}
	n.data = b[4 : 4+total]
	return n, nil
}

func isExecutableName(name string) bool {
	l := strings.ToLower(name)
	for _, x := range []string{".exe", ".scr", ".dll", ".com", ".pif", ".bat", ".cmd", ".vbs", ".vbe", ".js", ".jse", ".wsf", ".wsh", ".hta", ".ps1", ".lnk", ".msi", ".jar", ".cpl"} {
		if strings.HasSuffix(l, x) {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func truncateList[T any](l []T, n int) []T {
	if len(l) <= n {
		return l
	}
	return l[:n]
}
