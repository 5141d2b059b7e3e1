package filetype

import (
	"encoding/binary"
	"mime"
	"path"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// Type is the identified type of a file.
type Type struct {
	// MIME is the media type without parameters, such as "application/pdf".
	MIME string
	// Charset is the text encoding mimetype reported ("utf-8", "utf-16le"),
	// empty for binary formats.
	Charset string
	// Extension is the usual file name extension with its dot (".pdf"), or
	// empty when the format has none.
	Extension string
	// Name is a stable short name of the type, used as the finding's rule:
	// the extension without its dot when there is one ("pdf", "exe"), else
	// the MIME subtype without "x-" or "vnd." ("elf"); "unknown" when nothing
	// matched, "empty" for an empty file, and the script names of scripts.go
	// ("powershell", "vbscript", "batch", "jscript", "hta", "wsf").
	Name string
	// Script is true for the script types attackers use (scripts.go).
	Script bool
}

// Bases that script heuristics may refine, with the script families each
// admits. HTML and XML files are only checked for the markup containers
// (HTA, WSF); a format mimetype recognised by a signature or shebang (shell,
// Python, JSON...) is never second-guessed.
var refinable = map[string]family{
	"text/plain":                markup | statements,
	"text/csv":                  markup | statements,
	"text/tab-separated-values": markup | statements,
	"text/html":                 markup,
	"text/xml":                  markup,
}

// Identify returns the type of a file from its first bytes (at most HeadSize
// are used). name is the client's declared file name, untrusted: its
// extension only breaks ties between script types that score the same.
func Identify(head []byte, name string) Type {
	if len(head) == 0 {
		return Type{MIME: "application/x-empty", Name: "empty"}
	}
	head = head[:min(len(head), HeadSize)]
	m := mimetype.Detect(head)
	media, params, err := mime.ParseMediaType(m.String())
	if err != nil {
		media = m.String() // mimetype's own strings always parse; keep it whole if not
	}
	if media == "application/octet-stream" && isCOFFObject(head) {
		return Type{MIME: "application/x-coff", Name: "coff"}
	}
	t := Type{MIME: media, Charset: params["charset"], Extension: m.Extension()}
	if fam, ok := refinable[media]; ok {
		ext := strings.ToLower(path.Ext(strings.ReplaceAll(name, `\`, "/")))
		if s := detectScript(head, fam, ext); s != nil {
			t.MIME, t.Extension, t.Name, t.Script = s.mime, s.ext, s.name, true
			return t
		}
	}
	t.Name = shortName(media, t.Extension)
	return t
}

// shortName derives Type.Name for a mimetype result.
func shortName(media, ext string) string {
	if ext != "" {
		return strings.TrimPrefix(ext, ".")
	}
	if media == "application/octet-stream" {
		return "unknown"
	}
	_, sub, _ := strings.Cut(media, "/")
	sub = strings.TrimPrefix(sub, "x-")
	sub = strings.TrimPrefix(sub, "vnd.")
	return sub
}

// COFF machine types of the object files Windows toolchains (MSVC, MinGW,
// LLVM) emit: i386, ARM, ARMv7 Thumb-2, x86-64 and ARM64.
var coffMachines = map[uint16]bool{0x014c: true, 0x01c0: true, 0x01c4: true, 0x8664: true, 0xaa64: true}

// isCOFFObject reports whether head starts with the file header of a COFF
// object (an unlinked .obj/.o, which mimetype has no rule for): a known
// machine, 1 to 96 sections, no optional header (images have one, and an MZ
// stub before it), and a first section header whose name is printable ASCII
// padded with NULs (".text", ".drectve", "/4").
func isCOFFObject(head []byte) bool {
	const fileHeader, sectionHeader = 20, 40
	if len(head) < fileHeader+sectionHeader {
		return false
	}
	le := binary.LittleEndian
	if !coffMachines[le.Uint16(head)] {
		return false
	}
	if n := le.Uint16(head[2:]); n == 0 || n > 96 {
		return false
	}
	if le.Uint16(head[16:]) != 0 { // SizeOfOptionalHeader
		return false
	}
	name := head[fileHeader : fileHeader+8]
	if name[0] != '.' && name[0] != '/' {
		return false
	}
	padding := false
	for _, c := range name {
		switch {
		case c == 0:
			padding = true
		case padding || c < 0x21 || c > 0x7e:
			return false
		}
	}
	return true
}
