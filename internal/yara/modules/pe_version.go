package modules

// The version information resource (RT_VERSION): a VS_VERSIONINFO tree
// whose StringFileInfo tables hold key/value pairs ("CompanyName",
// "OriginalFilename"...). Strings are UTF-16LE; like YARA we keep the low
// byte of each character, and stop at the first whose low byte is 0.

const (
	rtVersion       = 16
	maxVersionInfos = 1024 // pairs kept per file
	maxVersionRes   = 16   // RT_VERSION resources parsed per file
	maxWideString   = 4096 // bytes scanned for a string's NUL
)

type peVersionPair struct{ key, value []byte }

// versionNode is one node of the tree: its length, its key as stored
// (UTF-16LE, without the NUL) and the offset of its value or first
// child, after the key.
func (p *peFile) versionNode(off int64) (length int64, key []byte, body int64, ok bool) {
	length, ok = p.u16(off)
	if !ok || length == 0 || !p.fits(off, 6) {
		return 0, nil, 0, false
	}
	key, end := p.wideString(off + 6)
	return length, key, align4(end), true
}

// wideString reads a UTF-16LE string at off up to its NUL character (or
// the end of the data, or maxWideString bytes): the bytes before it, and
// the offset after it.
func (p *peFile) wideString(off int64) (raw []byte, end int64) {
	limit := min(int64(len(p.data)), off+maxWideString)
	for i := off; i+2 <= limit; i += 2 {
		if p.data[i] == 0 && p.data[i+1] == 0 {
			return p.data[off:i], i + 2
		}
	}
	return p.data[off:limit], limit
}

// narrow keeps the low byte of each character of a UTF-16LE string, up
// to the first whose low byte is 0, as YARA copies them.
func narrow(wide []byte) []byte {
	var s []byte
	for i := 0; i+1 < len(wide) && wide[i] != 0; i += 2 {
		s = append(s, wide[i])
	}
	return s
}

// isKey reports whether a stored key is exactly the ASCII name in UTF-16.
func isKey(raw []byte, name string) bool {
	if len(raw) != 2*len(name) {
		return false
	}
	for i := range len(name) {
		if raw[2*i] != name[i] || raw[2*i+1] != 0 {
			return false
		}
	}
	return true
}

func align4(v int64) int64 { return (v + 3) &^ 3 }

// parseVersionInfo adds the pairs of the VS_VERSIONINFO at off.
func (p *peFile) parseVersionInfo(off int64) {
	if p.versionRes++; p.versionRes > maxVersionRes {
		return
	}
	total, key, _, ok := p.versionNode(off)
	if !ok || !isKey(key, "VS_VERSION_INFO") {
		return
	}
	// The children follow the header, the key and VS_FIXEDFILEINFO.
	for child := off + 92; child < off+total; {
		clen, ckey, cbody, ok := p.versionNode(child)
		if !ok {
			return
		}
		if isKey(ckey, "StringFileInfo") {
			for table := cbody; table < child+clen; {
				tlen, _, tbody, ok := p.versionNode(table)
				if !ok {
					break
				}
				for s := tbody; s < table+tlen; {
					slen, skey, sbody, ok := p.versionNode(s)
					if !ok || len(p.version) >= maxVersionInfos {
						break
					}
					// The value is read to its NUL, even past the node.
					value, _ := p.wideString(sbody)
					p.version = append(p.version, peVersionPair{key: narrow(skey), value: narrow(value)})
					s += align4(slen)
				}
				table += align4(tlen)
			}
		}
		child += align4(clen)
	}
}
