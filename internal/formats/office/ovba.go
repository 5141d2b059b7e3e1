package office

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// MS-OVBA: the RLE compression of VBA streams (section 2.4.1) and the dir
// stream that lists a project's modules (section 2.3.4.2).

var errOVBA = errors.New("office: bad compressed container")

// decompressOVBA decodes a CompressedContainer. It stops at limit decoded
// bytes and returns what it decoded with an error when the data is broken
// (a truncated container still yields its complete chunks and the decoded
// part of the last one).
func decompressOVBA(src []byte, limit int) ([]byte, error) {
	if len(src) == 0 || src[0] != 0x01 {
		return nil, fmt.Errorf("%w: signature", errOVBA)
	}
	out := make([]byte, 0, min(len(src)*3, limit, 1<<20))
	pos := 1
	for pos < len(src) {
		if len(out) >= limit {
			return out[:limit], nil
		}
		if pos+2 > len(src) {
			return out, fmt.Errorf("%w: truncated chunk header", errOVBA)
		}
		hdr := binary.LittleEndian.Uint16(src[pos:])
		size := int(hdr&0x0FFF) + 3 // chunk size including its header
		compressed := hdr&0x8000 != 0
		end := min(pos+size, len(src))
		data := src[pos+2 : end]
		pos += size
		chunkStart := len(out)
		if !compressed {
			// A raw chunk holds exactly 4096 bytes.
			out = append(out, data[:min(len(data), 4096)]...)
			if len(data) < 4096 && pos < len(src) {
				return out, fmt.Errorf("%w: short raw chunk", errOVBA)
			}
			continue
		}
		for i := 0; i < len(data); {
			flags := data[i]
			i++
			for bit := 0; bit < 8 && i < len(data); bit++ {
				if len(out)-chunkStart >= 4096 {
					break
				}
				if flags&(1<<bit) == 0 {
					out = append(out, data[i])
					i++
					continue
				}
				if i+2 > len(data) {
					return out, fmt.Errorf("%w: truncated copy token", errOVBA)
				}
				tok := int(binary.LittleEndian.Uint16(data[i:]))
				i += 2
				diff := len(out) - chunkStart
				bits := 4
				for (1 << bits) < diff {
					bits++
				}
				lengthMask := 0xFFFF >> bits
				length := (tok & lengthMask) + 3
				offset := (tok >> (16 - bits)) + 1
				if offset > diff {
					return out, fmt.Errorf("%w: copy token reaches before its chunk", errOVBA)
				}
				from := len(out) - offset
				for k := 0; k < length; k++ {
					out = append(out, out[from+k])
				}
			}
			if len(out) >= limit {
				return out[:limit], nil
			}
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// vbaModule is one module of a VBA project as the dir stream lists it.
type vbaModule struct {
	Name   string `json:"name"`
	Stream string `json:"stream"`
	// StreamUnicode is the UTF-16 stream name, used when the code page
	// name does not match the directory.
	StreamUnicode string `json:"-"`
	TextOffset    uint32 `json:"-"`
	Type          string `json:"type,omitempty"` // "procedural" or "class" (documents, forms, classes)
}

// vbaProject is what the dir stream says about a project.
type vbaProject struct {
	Name     string
	CodePage uint16
	Modules  []vbaModule
}

const maxModules = 1000

// parseDir reads a decompressed dir stream. It is lenient: it walks the
// id/size records, takes what it recognises and stops at the terminator or
// at the first record that runs past the end.
func parseDir(b []byte) (vbaProject, error) {
	var p vbaProject
	var cur *vbaModule
	le := binary.LittleEndian
	flush := func() {
		if cur != nil && (cur.Stream != "" || cur.Name != "") && len(p.Modules) < maxModules {
			if cur.Stream == "" {
				cur.Stream = cur.Name
			}
			if cur.Name == "" {
				cur.Name = cur.Stream
			}
			p.Modules = append(p.Modules, *cur)
		}
		cur = nil
	}
	for pos := 0; pos+6 <= len(b); {
		id := le.Uint16(b[pos:])
		size := int(le.Uint32(b[pos+2:]))
		pos += 6
		if id == 0x0009 { // PROJECTVERSION: Size says 4 but 6 bytes follow
			size = 6
		}
		if size < 0 || size > len(b)-pos {
			flush()
			return p, fmt.Errorf("office: dir record 0x%04x runs past the stream", id)
		}
		data := b[pos : pos+size]
		pos += size
		switch id {
		case 0x0003: // PROJECTCODEPAGE
			if len(data) >= 2 {
				p.CodePage = le.Uint16(data)
			}
		case 0x0004: // PROJECTNAME
			p.Name = string(data)
		case 0x0019: // MODULENAME starts a module
			flush()
			cur = &vbaModule{Name: string(data)}
		case 0x0047: // MODULENAMEUNICODE
			if cur != nil && cur.Name == "" {
				cur.Name = utf16le(data)
			}
		case 0x001A: // MODULESTREAMNAME
			if cur != nil {
				cur.Stream = string(data)
			}
		case 0x0032: // MODULESTREAMNAMEUNICODE
			if cur != nil {
				cur.StreamUnicode = utf16le(data)
			}
		case 0x0031: // MODULEOFFSET
			if cur != nil && len(data) >= 4 {
				cur.TextOffset = le.Uint32(data)
			}
		case 0x0021:
			if cur != nil {
				cur.Type = "procedural"
			}
		case 0x0022:
			if cur != nil {
				cur.Type = "class"
			}
		case 0x002B: // module terminator
			flush()
		case 0x0010: // end of the dir stream
			flush()
			return p, nil
		}
	}
	flush()
	return p, nil
}

func utf16le(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, binary.LittleEndian.Uint16(b[i:]))
	}
	return string(utf16.Decode(u))
}
