package office

import (
	"encoding/binary"

	"athena/internal/core"
	"athena/internal/formats"
)

// KindXLM reports Excel 4 (XLM) macro sheets in a BIFF8 workbook: the
// macros run from a cell formula (Auto_Open names) and survive where VBA
// is disabled, so a hidden macro sheet is high.
const KindXLM = "xlm_macrosheet"

// scanXLM walks the BIFF records of a Workbook stream for BOUNDSHEET8
// records (MS-XLS 2.4.28) whose sheet type is a macro sheet.
func scanXLM(c *cfb, sink formats.Sink) {
	i := c.find("Workbook")
	if i < 0 {
		i = c.find("Book")
	}
	if i < 0 {
		return
	}
	wb, _ := c.stream(i)
	var sheets []map[string]any
	hidden := false
	le := binary.LittleEndian
	for pos := 0; pos+4 <= len(wb); {
		typ := le.Uint16(wb[pos:])
		size := int(le.Uint16(wb[pos+2:]))
		pos += 4
		if pos+size > len(wb) {
			break
		}
		rec := wb[pos : pos+size]
		pos += size
		if typ != 0x0085 || len(rec) < 8 {
			continue
		}
		state, dt := rec[4]&0x03, rec[5]
		if dt != 0x01 { // 0x01: macro sheet (0x00 worksheet, 0x02 chart, 0x06 VBA module)
			continue
		}
		name := ""
		if n := int(rec[6]); len(rec) >= 8 {
			if rec[7]&1 == 0 && 8+n <= len(rec) {
				name = string(rec[8 : 8+n])
			} else if 8+2*n <= len(rec) {
				name = utf16le(rec[8 : 8+2*n])
			}
		}
		st := [...]string{"visible", "hidden", "very_hidden", "unknown"}[state]
		if state != 0 {
			hidden = true
		}
		if len(sheets) < 50 {
			sheets = append(sheets, map[string]any{"name": truncate(name, 256), "state": st})
		}
	}
	if len(sheets) == 0 {
		return
	}
	sev := core.Medium
	if hidden {
		sev = core.High
	}
	sink.Finding(core.Finding{Kind: KindXLM, Rule: "xls_excel4_macrosheet", Severity: sev,
		Detail: map[string]any{"sheets": sheets, "hidden": hidden}})
}
