package office

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"

	"athena/internal/core"
	"athena/internal/formats"
)

// Test helpers: a small compound file writer, an MS-OVBA compressor, a VBA
// project builder and a recording sink. Everything a test reads is built
// here at test time.

// cfbNode is a storage (children set) or a stream (data set) to write.
type cfbNode struct {
	name     string
	data     []byte
	children []*cfbNode
	storage  bool
}

func stream(name string, data []byte) *cfbNode { return &cfbNode{name: name, data: data} }
func storage(name string, kids ...*cfbNode) *cfbNode {
	return &cfbNode{name: name, children: kids, storage: true}
}

// buildCFB writes a version 3 compound file (512-byte sectors) holding the
// given root children. Streams under 4096 bytes go to the mini stream.
func buildCFB(kids ...*cfbNode) []byte {
	const ss = 512
	le := binary.LittleEndian
	type dirEnt struct {
		n                  *cfbNode
		left, right, child uint32
		start              uint32
		size               uint64
		typ                byte
		name               string
	}
	root := &cfbNode{name: "Root Entry", children: kids, storage: true}
	var ents []*dirEnt
	var add func(n *cfbNode) uint32
	add = func(n *cfbNode) uint32 {
		idx := uint32(len(ents))
		d := &dirEnt{n: n, left: cfbNoStream, right: cfbNoStream, child: cfbNoStream, name: n.name, typ: 2}
		if n.storage {
			d.typ = 1
		}
		ents = append(ents, d)
		// Children chained through the right sibling pointers.
		var prev *dirEnt
		for _, k := range n.children {
			ki := add(k)
			if prev == nil {
				d.child = ki
			} else {
				prev.right = ki
			}
			prev = ents[ki]
		}
		return idx
	}
	add(root)
	ents[0].typ = 5

	// Mini stream and big streams.
	var mini []byte
	var miniFAT []uint32
	type big struct {
		e    *dirEnt
		data []byte
	}
	var bigs []big
	for _, d := range ents[1:] {
		if d.typ != 2 {
			continue
		}
		d.size = uint64(len(d.n.data))
		if len(d.n.data) == 0 {
			d.start = cfbEndOfChain
			continue
		}
		if len(d.n.data) < 4096 {
			first := uint32(len(mini) / 64)
			d.start = first
			nsec := (len(d.n.data) + 63) / 64
			for i := 0; i < nsec; i++ {
				if i == nsec-1 {
					miniFAT = append(miniFAT, cfbEndOfChain)
				} else {
					miniFAT = append(miniFAT, first+uint32(i)+1)
				}
			}
			p := make([]byte, nsec*64)
			copy(p, d.n.data)
			mini = append(mini, p...)
			continue
		}
		bigs = append(bigs, big{d, d.n.data})
	}
	secs := func(n int) int { return (n + ss - 1) / ss }
	nDir := secs(len(ents) * 128)
	nMiniFAT := secs(len(miniFAT) * 4)
	nMini := secs(len(mini))
	nBig := 0
	for _, b := range bigs {
		nBig += secs(len(b.data))
	}
	nFAT := 1
	for (nFAT + nDir + nMiniFAT + nMini + nBig) > nFAT*128 {
		nFAT++
	}
	if nFAT > 109 {
		panic("test CFB too large")
	}
	fat := make([]uint32, nFAT*128)
	for i := range fat {
		fat[i] = cfbFree
	}
	next := uint32(0)
	chain := func(n int) uint32 {
		if n == 0 {
			return cfbEndOfChain
		}
		start := next
		for i := 0; i < n; i++ {
			if i == n-1 {
				fat[next] = cfbEndOfChain
			} else {
				fat[next] = next + 1
			}
			next++
		}
		return start
	}
	for i := 0; i < nFAT; i++ {
		fat[next] = cfbFATSect
		next++
	}
	dirStart := chain(nDir)
	miniFATStart := chain(nMiniFAT)
	miniStart := chain(nMini)
	ents[0].start = miniStart
	ents[0].size = uint64(len(mini))
	if nMini == 0 {
		ents[0].start = cfbEndOfChain
	}
	var body bytes.Buffer
	pad := func(b []byte) []byte {
		p := make([]byte, secs(len(b))*ss)
		copy(p, b)
		return p
	}
	var bigData bytes.Buffer
	for _, b := range bigs {
		b.e.start = chain(secs(len(b.data)))
		bigData.Write(pad(b.data))
	}
	// Header.
	h := make([]byte, 512)
	copy(h, cfbSignature)
	le.PutUint16(h[0x18:], 0x3E)
	le.PutUint16(h[0x1A:], 3)
	le.PutUint16(h[0x1C:], 0xFFFE)
	le.PutUint16(h[0x1E:], 9)
	le.PutUint16(h[0x20:], 6)
	le.PutUint32(h[0x2C:], uint32(nFAT))
	le.PutUint32(h[0x30:], dirStart)
	le.PutUint32(h[0x38:], 4096)
	le.PutUint32(h[0x3C:], miniFATStart)
	if nMiniFAT == 0 {
		le.PutUint32(h[0x3C:], cfbEndOfChain)
	}
	le.PutUint32(h[0x40:], uint32(nMiniFAT))
	le.PutUint32(h[0x44:], cfbEndOfChain)
	for i := 0; i < 109; i++ {
		v := uint32(cfbFree)
		if i < nFAT {
			v = uint32(i)
		}
		le.PutUint32(h[0x4C+4*i:], v)
	}
	body.Write(h)
	fb := make([]byte, len(fat)*4)
	for i, v := range fat {
		le.PutUint32(fb[4*i:], v)
	}
	body.Write(fb)
	db := make([]byte, nDir*ss)
	for i, d := range ents {
		e := db[i*128:]
		u := utf16.Encode([]rune(d.name))
		for j, c := range u {
			le.PutUint16(e[2*j:], c)
		}
		le.PutUint16(e[0x40:], uint16(2*len(u)+2))
		e[0x42] = d.typ
		e[0x43] = 1
		le.PutUint32(e[0x44:], d.left)
		le.PutUint32(e[0x48:], d.right)
		le.PutUint32(e[0x4C:], d.child)
		le.PutUint32(e[0x74:], d.start)
		le.PutUint64(e[0x78:], d.size)
	}
	for i := len(ents); i < nDir*4; i++ {
		e := db[i*128:]
		le.PutUint32(e[0x44:], cfbNoStream)
		le.PutUint32(e[0x48:], cfbNoStream)
		le.PutUint32(e[0x4C:], cfbNoStream)
	}
	body.Write(db)
	mfb := make([]byte, nMiniFAT*ss)
	for i := range mfb[len(miniFAT)*4:] {
		mfb[len(miniFAT)*4+i] = 0xFF
	}
	for i, v := range miniFAT {
		le.PutUint32(mfb[4*i:], v)
	}
	body.Write(mfb)
	body.Write(pad(mini))
	body.Write(bigData.Bytes())
	return body.Bytes()
}

// compressOVBA is a greedy MS-OVBA compressor (section 2.4.1.3).
func compressOVBA(src []byte) []byte {
	out := []byte{0x01}
	for start := 0; start < len(src) || start == 0; start += 4096 {
		chunk := src[start:min(start+4096, len(src))]
		var c []byte
		for pos := 0; pos < len(chunk); {
			flagAt := len(c)
			c = append(c, 0)
			for bit := 0; bit < 8 && pos < len(chunk); bit++ {
				bits := 4
				for (1 << bits) < pos {
					bits++
				}
				maxLen := (0xFFFF >> bits) + 3
				maxOff := 1 << (16 - bits)
				bestLen, bestOff := 0, 0
				for off := 1; off <= pos && off <= maxOff; off++ {
					l := 0
					for l < maxLen && pos+l < len(chunk) && chunk[pos+l-off] == chunk[pos+l] {
						l++
					}
					if l > bestLen {
						bestLen, bestOff = l, off
					}
				}
				if bestLen >= 3 {
					tok := uint16((bestOff-1)<<(16-bits) | (bestLen - 3))
					c = binary.LittleEndian.AppendUint16(c, tok)
					c[flagAt] |= 1 << bit
					pos += bestLen
				} else {
					c = append(c, chunk[pos])
					pos++
				}
			}
		}
		hdr := uint16(len(c)+2-3) | 3<<12 | 0x8000
		out = binary.LittleEndian.AppendUint16(out, hdr)
		out = append(out, c...)
		if len(src) == 0 {
			break
		}
	}
	return out
}

// vbaSource is one module to put in a test project.
type vbaSource struct {
	name, code string
	class      bool
}

// buildDir writes a dir stream (uncompressed) for the modules; each
// module's source sits at offset cacheLen in its stream.
func buildDir(mods []vbaSource, cacheLen int) []byte {
	var b []byte
	rec := func(id uint16, data []byte) {
		b = binary.LittleEndian.AppendUint16(b, id)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
		b = append(b, data...)
	}
	rec(0x0001, []byte{1, 0, 0, 0})
	rec(0x0002, []byte{9, 4, 0, 0})
	rec(0x0014, []byte{9, 4, 0, 0})
	rec(0x0003, []byte{0xE4, 0x04})
	rec(0x0004, []byte("VBAProject"))
	rec(0x0005, nil)
	rec(0x0040, nil)
	// PROJECTVERSION: size 4, then 6 bytes.
	b = binary.LittleEndian.AppendUint16(b, 0x0009)
	b = binary.LittleEndian.AppendUint32(b, 4)
	b = append(b, 1, 0, 0, 0, 2, 0)
	rec(0x000C, nil)
	rec(0x003C, nil)
	rec(0x000F, binary.LittleEndian.AppendUint16(nil, uint16(len(mods))))
	rec(0x0013, []byte{0xFF, 0xFF})
	for _, m := range mods {
		rec(0x0019, []byte(m.name))
		rec(0x0047, []byte(string(utf16le16(m.name))))
		rec(0x001A, []byte(m.name))
		rec(0x0032, []byte(string(utf16le16(m.name))))
		rec(0x001C, nil)
		rec(0x0048, nil)
		rec(0x0031, binary.LittleEndian.AppendUint32(nil, uint32(cacheLen)))
		rec(0x001E, []byte{0, 0, 0, 0})
		rec(0x002C, []byte{0xFF, 0xFF})
		if m.class {
			rec(0x0022, nil)
		} else {
			rec(0x0021, nil)
		}
		rec(0x002B, nil)
	}
	rec(0x0010, nil)
	return b
}

func utf16le16(s string) []byte {
	var b []byte
	for _, c := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

// vbaStorage returns the VBA storage (dir, _VBA_PROJECT, module streams).
func vbaStorage(mods []vbaSource) *cfbNode {
	const cacheLen = 37
	kids := []*cfbNode{
		stream("_VBA_PROJECT", []byte{0xCC, 0x61, 0xFF, 0xFF, 0x00, 0x00, 0x00}),
		stream("dir", compressOVBA(buildDir(mods, cacheLen))),
	}
	for _, m := range mods {
		data := append(bytes.Repeat([]byte{0xAB}, cacheLen), compressOVBA([]byte(m.code))...)
		kids = append(kids, stream(m.name, data))
	}
	return storage("VBA", kids...)
}

// vbaProjectBin is a vbaProject.bin as found in a .docm or .xlsm.
func vbaProjectBin(mods []vbaSource) []byte {
	return buildCFB(vbaStorage(mods), stream("PROJECT", []byte("ID=\"{00000000-0000-0000-0000-000000000000}\"\r\n")))
}

// buildZip writes a zip of the given name/content pairs, in order.
func buildZip(t testing.TB, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		fw, err := w.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// recorder is a formats.Sink that keeps everything.
type recorder struct {
	findings []core.Finding
	children map[string][]byte
	order    []string
}

func (r *recorder) Finding(f core.Finding) { r.findings = append(r.findings, f) }
func (r *recorder) Child(path string, rd io.Reader) error {
	if r.children == nil {
		r.children = map[string][]byte{}
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	r.children[path] = b
	r.order = append(r.order, path)
	return nil
}

func (r *recorder) kinds() []string {
	var k []string
	for _, f := range r.findings {
		k = append(k, f.Kind+"/"+f.Severity.String())
	}
	sort.Strings(k)
	return k
}

// find returns the first finding of kind (and rule, when not empty).
func (r *recorder) find(kind, rule string) (core.Finding, bool) {
	for _, f := range r.findings {
		if f.Kind == kind && (rule == "" || f.Rule == rule) {
			return f, true
		}
	}
	return core.Finding{}, false
}

func (r *recorder) childNames() string {
	n := append([]string(nil), r.order...)
	sort.Strings(n)
	return strings.Join(n, ",")
}

func newMeter() *formats.Meter { return formats.NewMeter(formats.Budget{}) }
