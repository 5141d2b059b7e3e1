package office

import (
	"archive/zip"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"

	"athena/internal/core"
	"athena/internal/formats"
)

// maxXMLPart caps how much of one XML part is parsed, maxXMLTotal all
// parts of one package.
const (
	maxXMLPart  = 32 << 20
	maxXMLTotal = 128 << 20
)

// ExtractOOXML reads an Office Open XML package (a zip): it emits
// vbaProject.bin and embedded objects (word/embeddings/*, xl/embeddings/*,
// ppt/embeddings/*, activeX binaries) as children, reports external
// relationships (remote template injection is high), DDE fields and DDE
// links (high), and an "ooxml" finding with the application and whether
// the package carries macros. A file that is not a zip is reported
// malformed; the error is the sink's, when it refused a child.
func ExtractOOXML(r io.ReaderAt, size int64, m *formats.Meter, sink formats.Sink) error {
	defer guard(sink, "ooxml")
	zr, zerr := zip.NewReader(r, size)
	if zerr != nil {
		malformed(sink, "ooxml", zerr)
		return nil
	}
	e := &emitter{m: m, sink: sink, format: "ooxml"}
	left := int64(maxXMLTotal)
	readPart := func(f *zip.File, sink formats.Sink) string {
		if left <= 0 {
			return ""
		}
		s := readPart(f, min(left, maxXMLPart), sink)
		left -= int64(len(s))
		if left <= 0 {
			sink.Finding(core.Finding{Kind: formats.KindBudget, Severity: core.Low,
				Detail: map[string]any{"budget": "xml_analysis", "limit": maxXMLTotal, "member": f.Name}})
		}
		return s
	}
	meta := map[string]any{}
	var macros []string
	var parts int
	app := ""
	var external []map[string]any
	var dde []map[string]any

	for _, f := range zr.File {
		parts++
		name := f.Name
		lower := strings.ToLower(name)
		switch {
		case lower == "[content_types].xml":
			ct := readPart(f, sink)
			app = appFromContentTypes(ct, app)
			if strings.Contains(strings.ToLower(ct), "macroenabled") || strings.Contains(ct, "vbaProject") {
				meta["macro_enabled_type"] = true
			}
		case lower == "docprops/app.xml":
			if a := xmlText(readPart(f, sink), "Application"); a != "" {
				meta["application"] = truncate(a, 128)
			}
		case strings.HasSuffix(lower, ".rels"):
			for _, rel := range parseRels(readPart(f, sink)) {
				if !strings.EqualFold(rel.TargetMode, "External") {
					continue
				}
				typ := path.Base(rel.Type)
				d := map[string]any{"part": name, "type": typ, "target": truncate(rel.Target, 2048), "id": rel.ID}
				d["severity"] = externalSeverity(typ, rel.Target).String()
				external = append(external, d)
			}
		case strings.HasSuffix(lower, "vbaproject.bin"):
			macros = append(macros, name)
			emitZip(e, f)
		case strings.Contains(lower, "/embeddings/") || (strings.Contains(lower, "/activex/") && strings.HasSuffix(lower, ".bin")):
			emitZip(e, f)
		case strings.HasSuffix(lower, ".xml") && (strings.HasPrefix(lower, "word/") || strings.HasPrefix(lower, "xl/externallinks/")):
			for _, d := range findDDE(readPart(f, sink)) {
				d["part"] = name
				dde = append(dde, d)
			}
		}
		if strings.HasPrefix(lower, "xl/macrosheets/") || strings.HasPrefix(lower, "xl/intlmacrosheets/") {
			meta["excel4_macrosheets"] = true
		}
	}
	if app == "" {
		app = appFromNames(zr.File)
	}
	meta["app"] = app
	meta["parts"] = parts
	meta["macros"] = len(macros) > 0
	if len(macros) > 0 {
		meta["vba_projects"] = macros
	}
	sink.Finding(core.Finding{Kind: KindOOXML, Severity: core.Info, Detail: meta})
	if meta["excel4_macrosheets"] == true {
		sink.Finding(core.Finding{Kind: KindOOXML, Rule: "excel4_macrosheet", Severity: core.Medium,
			Detail: map[string]any{"means": "Excel 4 (XLM) macro sheets"}})
	}
	reportExternal(external, sink)
	if len(dde) > 0 {
		sink.Finding(core.Finding{Kind: KindDDE, Rule: "ooxml_dde", Severity: core.High,
			Detail: map[string]any{"fields": truncateList(dde, 50), "count": len(dde)}})
	}
	return e.err
}

// emitZip emits one zip member as a child named by its path in the package.
func emitZip(e *emitter, f *zip.File) {
	if e.stopped {
		return
	}
	rc, err := f.Open()
	if err != nil {
		malformed(e.sink, "ooxml", fmt.Errorf("%s: %w", f.Name, err))
		return
	}
	defer rc.Close()
	e.child(f.Name, rc, int64(f.CompressedSize64))
}

// readPart reads an XML part, capped at maxXMLPart; errors become findings.
func readPart(f *zip.File, limit int64, sink formats.Sink) string {
	rc, err := f.Open()
	if err != nil {
		malformed(sink, "ooxml", fmt.Errorf("%s: %w", f.Name, err))
		return ""
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit))
	if err != nil {
		malformed(sink, "ooxml", fmt.Errorf("%s: %w", f.Name, err))
	}
	return string(b)
}

func appFromContentTypes(ct, def string) string {
	switch {
	case strings.Contains(ct, "wordprocessingml.document") || strings.Contains(ct, "ms-word."):
		return "word"
	case strings.Contains(ct, "spreadsheetml.sheet") || strings.Contains(ct, "ms-excel."):
		return "excel"
	case strings.Contains(ct, "presentationml.") || strings.Contains(ct, "ms-powerpoint."):
		return "powerpoint"
	case strings.Contains(ct, "wordprocessingml.template"):
		return "word"
	case strings.Contains(ct, "spreadsheetml.template"):
		return "excel"
	}
	return def
}

func appFromNames(files []*zip.File) string {
	for _, f := range files {
		switch {
		case strings.HasPrefix(f.Name, "word/"):
			return "word"
		case strings.HasPrefix(f.Name, "xl/"):
			return "excel"
		case strings.HasPrefix(f.Name, "ppt/"):
			return "powerpoint"
		}
	}
	return ""
}

type relationship struct {
	ID         string `xml:"Id,attr"`
	Type       string `xml:"Type,attr"`
	Target     string `xml:"Target,attr"`
	TargetMode string `xml:"TargetMode,attr"`
}

// parseRels reads the Relationship elements of a .rels part leniently:
// a syntax error ends the list, it does not drop it.
func parseRels(s string) []relationship {
	var out []relationship
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	for len(out) < 10000 {
		t, err := d.Token()
		if err != nil {
			break
		}
		se, ok := t.(xml.StartElement)
		if !ok || se.Name.Local != "Relationship" {
			continue
		}
		var r relationship
		for _, a := range se.Attr {
			switch a.Name.Local {
			case "Id":
				r.ID = a.Value
			case "Type":
				r.Type = a.Value
			case "Target":
				r.Target = a.Value
			case "TargetMode":
				r.TargetMode = a.Value
			}
		}
		out = append(out, r)
	}
	return out
}

// remoteTarget matches targets that fetch from elsewhere: URLs, file: and
// UNC paths, WebDAV.
var remoteTarget = regexp.MustCompile(`(?i)^\s*(https?:|file:|ftp:|\\\\|//|mhtml:|ms-[a-z-]+:|\w+:\\)`)

// externalSeverity rates an external relationship: a remote template, OLE
// object or frame is high (remote template injection, Follina-style
// loads), other remote targets are low, hyperlinks info.
func externalSeverity(typ, target string) core.Severity {
	remote := remoteTarget.MatchString(target)
	switch strings.ToLower(typ) {
	case "attachedtemplate", "oleobject", "frame", "subdocument":
		if remote {
			return core.High
		}
		return core.Medium
	case "hyperlink":
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(target)), "ms-") {
			return core.High
		}
		return core.Info
	}
	if remote {
		return core.Low
	}
	return core.Info
}

func reportExternal(rels []map[string]any, sink formats.Sink) {
	if len(rels) == 0 {
		return
	}
	sort.SliceStable(rels, func(i, j int) bool {
		a, _ := core.ParseSeverity(rels[i]["severity"].(string))
		b, _ := core.ParseSeverity(rels[j]["severity"].(string))
		return a > b
	})
	top, _ := core.ParseSeverity(rels[0]["severity"].(string))
	rule := "ooxml_external_relationship"
	if top >= core.High {
		rule = "ooxml_remote_template"
	}
	sink.Finding(core.Finding{Kind: KindExternal, Rule: rule, Severity: top,
		Detail: map[string]any{"relationships": truncateList(rels, 50), "count": len(rels)}})
}

// ddeRe matches a DDE or DDEAUTO field instruction.
var ddeRe = regexp.MustCompile(`(?i)^\s*DDE(AUTO)?\b`)

// findDDE collects the field instructions of a WordprocessingML part
// (w:instrText runs between field begin and separate/end, and
// w:fldSimple/@w:instr) and of an Excel external link (ddeLink) and
// returns those that are DDE fields.
//
// Only the elements instrText, fldSimple and ddeLink can yield one, and
// XML element names cannot be escaped: a part that holds none of these
// names (most of a large document) is not decoded at all, which was most
// of the file processor's time on big .docx files.
func findDDE(s string) []map[string]any {
	if !strings.Contains(s, "instrText") && !strings.Contains(s, "fldSimple") && !strings.Contains(s, "ddeLink") {
		return nil
	}
	var out []map[string]any
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	var instr strings.Builder
	inInstr, inField := false, false
	flush := func() {
		if ddeRe.MatchString(instr.String()) && len(out) < 100 {
			out = append(out, map[string]any{"instruction": truncate(strings.TrimSpace(instr.String()), 1024)})
		}
		instr.Reset()
	}
	for {
		t, err := d.Token()
		if err != nil {
			break
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "instrText":
				inInstr = true
			case "fldChar":
				for _, a := range t.Attr {
					if a.Name.Local == "fldCharType" {
						switch a.Value {
						case "begin":
							flush()
							inField = true
						case "separate", "end":
							if inField {
								flush()
							}
							inField = false
						}
					}
				}
			case "fldSimple":
				for _, a := range t.Attr {
					if a.Name.Local == "instr" && ddeRe.MatchString(a.Value) && len(out) < 100 {
						out = append(out, map[string]any{"instruction": truncate(strings.TrimSpace(a.Value), 1024)})
					}
				}
			case "ddeLink":
				d := map[string]any{"dde_link": true}
				for _, a := range t.Attr {
					if a.Name.Local == "ddeService" || a.Name.Local == "ddeTopic" {
						d[a.Name.Local] = truncate(a.Value, 1024)
					}
				}
				if len(out) < 100 {
					out = append(out, d)
				}
			}
		case xml.EndElement:
			if t.Name.Local == "instrText" {
				inInstr = false
			}
		case xml.CharData:
			if inInstr && instr.Len() < 64<<10 {
				instr.Write(t)
			}
		}
	}
	flush()
	return out
}

// xmlText returns the text of the first element named local.
func xmlText(s, local string) string {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	in := false
	for {
		t, err := d.Token()
		if err != nil {
			return ""
		}
		switch t := t.(type) {
		case xml.StartElement:
			in = t.Name.Local == local
		case xml.CharData:
			if in {
				return strings.TrimSpace(string(t))
			}
		case xml.EndElement:
			in = false
		}
	}
}
