package office

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// A bounded reader for Compound File Binary files (MS-CFB). It trusts no
// count or chain in the file: every sector chain is followed with loop
// detection and a length cap, the directory is walked with a visited set,
// and nothing is allocated from a length the file gives without a cap.

const (
	cfbFree       = 0xFFFFFFFF
	cfbEndOfChain = 0xFFFFFFFE
	cfbFATSect    = 0xFFFFFFFD
	cfbDIFSect    = 0xFFFFFFFC
	cfbNoStream   = 0xFFFFFFFF

	cfbMaxSectors = 1 << 22 // 2 GiB of 512-byte sectors, far past any budget
	cfbMaxEntries = 1 << 16 // directory entries read
	cfbMaxStream  = 64 << 20

	maxStorageDepth = 32
)

var (
	errNotCFB     = errors.New("office: not a compound file")
	errCFBChain   = errors.New("office: broken sector chain")
	errCFBTooBig  = errors.New("office: stream too large")
	cfbSignature  = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	errCFBEntries = errors.New("office: too many directory entries")
)

// cfbEntry is one directory entry, with its full path once the tree is walked.
type cfbEntry struct {
	name        string
	typ         byte // 1 storage, 2 stream, 5 root
	left, right uint32
	child       uint32
	start       uint32
	size        uint64
	path        string // "Macros/VBA/dir"; "" for the root
	parent      int    // index of the parent storage, -1 for the root
}

// cfb is an opened compound file.
type cfb struct {
	r           io.ReaderAt
	size        int64
	sectorSize  int64
	miniSize    int64
	miniCutoff  uint64
	fat         []uint32
	miniFAT     []uint32
	entries     []cfbEntry
	miniStream  []byte
	warnings    []string
	maxStream   int64
	miniStreamE error
	// readBudget is how many more bytes sector reads may fetch: streams
	// that share sectors must not multiply the work. Spent, reads fail.
	readBudget int64
	spent      bool
	children   map[childKey]int // see childNamed
}

func (c *cfb) warn(format string, args ...any) {
	if len(c.warnings) < 20 {
		c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
	}
}

// openCFB parses the header, FAT, MiniFAT and directory of r.
func openCFB(r io.ReaderAt, size int64, maxStream int64) (*cfb, error) {
	var h [512]byte
	if size < 512 {
		return nil, errNotCFB
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("office: read header: %w", err)
	}
	if string(h[:8]) != string(cfbSignature) {
		return nil, errNotCFB
	}
	if maxStream <= 0 || maxStream > cfbMaxStream {
		maxStream = cfbMaxStream
	}
	c := &cfb{r: r, size: size, maxStream: maxStream, readBudget: 4*size + 16<<20}
	le := binary.LittleEndian
	shift := le.Uint16(h[0x1E:])
	switch shift {
	case 9, 12:
	default:
		c.warn("sector shift %d", shift)
		shift = 9
	}
	c.sectorSize = 1 << shift
	mshift := le.Uint16(h[0x20:])
	if mshift != 6 {
		c.warn("mini sector shift %d", mshift)
		mshift = 6
	}
	c.miniSize = 1 << mshift
	c.miniCutoff = uint64(le.Uint32(h[0x38:]))
	if c.miniCutoff != 4096 {
		c.warn("mini stream cutoff %d", c.miniCutoff)
		c.miniCutoff = 4096
	}
	numFAT := le.Uint32(h[0x2C:])
	firstDir := le.Uint32(h[0x30:])
	firstMiniFAT := le.Uint32(h[0x3C:])
	numMiniFAT := le.Uint32(h[0x40:])
	firstDIFAT := le.Uint32(h[0x44:])
	numDIFAT := le.Uint32(h[0x48:])

	// The sectors the file can hold bound every count.
	fileSectors := uint32(min((size-512+c.sectorSize-1)/c.sectorSize, cfbMaxSectors))
	perSector := uint32(c.sectorSize / 4)

	// DIFAT: 109 entries in the header, then a chain of DIFAT sectors.
	var difat []uint32
	for i := 0; i < 109; i++ {
		difat = append(difat, le.Uint32(h[0x4C+4*i:]))
	}
	seen := map[uint32]bool{}
	sec := firstDIFAT
	buf := make([]byte, c.sectorSize)
	for n := uint32(0); sec < cfbDIFSect && n < numDIFAT && n < fileSectors; n++ {
		if seen[sec] || !c.readSector(sec, buf) {
			c.warn("DIFAT chain broken at sector %d", sec)
			break
		}
		seen[sec] = true
		for i := uint32(0); i < perSector-1; i++ {
			difat = append(difat, le.Uint32(buf[4*i:]))
		}
		sec = le.Uint32(buf[4*(perSector-1):])
	}
	// FAT.
	if numFAT > fileSectors {
		numFAT = fileSectors
	}
	for i, s := range difat {
		if uint32(i) >= numFAT && numFAT > 0 {
			break
		}
		if s >= cfbDIFSect {
			continue
		}
		if !c.readSector(s, buf) {
			c.warn("FAT sector %d unreadable", s)
			continue
		}
		for j := uint32(0); j < perSector; j++ {
			c.fat = append(c.fat, le.Uint32(buf[4*j:]))
		}
		if uint32(len(c.fat)) >= fileSectors+perSector {
			break
		}
	}
	if len(c.fat) == 0 {
		return nil, fmt.Errorf("%w: no FAT", errNotCFB)
	}
	// MiniFAT.
	if mf, err := c.readChain(firstMiniFAT, int64(min(numMiniFAT, fileSectors))*c.sectorSize); err == nil {
		for i := 0; i+4 <= len(mf); i += 4 {
			c.miniFAT = append(c.miniFAT, le.Uint32(mf[i:]))
		}
	} else if firstMiniFAT < cfbDIFSect {
		c.warn("MiniFAT: %v", err)
	}
	// Directory.
	dir, err := c.readChain(firstDir, min(int64(fileSectors)*c.sectorSize, cfbMaxEntries*128))
	if err != nil {
		if len(dir) == 0 {
			return nil, fmt.Errorf("office: directory: %w", err)
		}
		c.warn("directory: %v", err)
	}
	for i := 0; i+128 <= len(dir); i += 128 {
		e := dir[i : i+128]
		nl := int(le.Uint16(e[0x40:]))
		if nl > 64 {
			nl = 64
		}
		u := make([]uint16, 0, 32)
		for j := 0; j+1 < nl; j += 2 {
			v := le.Uint16(e[j:])
			if v == 0 {
				break
			}
			u = append(u, v)
		}
		c.entries = append(c.entries, cfbEntry{
			name:   string(utf16.Decode(u)),
			typ:    e[0x42],
			left:   le.Uint32(e[0x44:]),
			right:  le.Uint32(e[0x48:]),
			child:  le.Uint32(e[0x4C:]),
			start:  le.Uint32(e[0x74:]),
			size:   le.Uint64(e[0x78:]),
			parent: -1,
		})
	}
	if len(c.entries) == 0 || c.entries[0].typ != 5 {
		c.warn("first directory entry is not the root")
		if len(c.entries) == 0 {
			return nil, fmt.Errorf("%w: empty directory", errNotCFB)
		}
	}
	if shift == 9 {
		// Version 3 files keep only the low 32 bits of a stream size.
		for i := range c.entries {
			c.entries[i].size &= 0xFFFFFFFF
		}
	}
	c.walk()
	return c, nil
}

// readSector reads sector s into buf (len sectorSize); false past the file.
func (c *cfb) readSector(s uint32, buf []byte) bool {
	off := (int64(s) + 1) * c.sectorSize
	if s >= cfbMaxSectors || off+c.sectorSize > c.size+c.sectorSize {
		return false
	}
	if c.readBudget -= c.sectorSize; c.readBudget < 0 {
		if !c.spent {
			c.spent = true
			c.warn("read budget spent: streams share sectors")
		}
		return false
	}
	n, err := c.r.ReadAt(buf, off)
	if n < len(buf) {
		if n == 0 || (err != nil && err != io.EOF) {
			return false
		}
		clear(buf[n:]) // a truncated last sector reads as zeros
	}
	return true
}

// readChain reads up to limit bytes of the FAT chain starting at start.
func (c *cfb) readChain(start uint32, limit int64) ([]byte, error) {
	if start >= cfbDIFSect {
		return nil, errCFBChain
	}
	var out []byte
	seen := map[uint32]bool{}
	buf := make([]byte, c.sectorSize)
	for s := start; s != cfbEndOfChain; {
		if int64(len(out)) >= limit {
			return out[:limit], nil
		}
		if seen[s] || s >= uint32(len(c.fat)) {
			return out, fmt.Errorf("%w at sector %d", errCFBChain, s)
		}
		seen[s] = true
		if !c.readSector(s, buf) {
			return out, fmt.Errorf("%w: sector %d outside file", errCFBChain, s)
		}
		out = append(out, buf...)
		s = c.fat[s]
	}
	if int64(len(out)) > limit {
		out = out[:limit]
	}
	return out, nil
}

// walk resolves every entry's path from the red-black tree under the root.
func (c *cfb) walk() {
	visited := make([]bool, len(c.entries))
	type item struct {
		idx    uint32
		parent int
		prefix string
		depth  int
	}
	if len(c.entries) == 0 {
		return
	}
	visited[0] = true
	stack := []item{}
	if c.entries[0].child < uint32(len(c.entries)) {
		stack = append(stack, item{c.entries[0].child, 0, "", 0})
	}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.idx >= uint32(len(c.entries)) || visited[it.idx] {
			continue
		}
		visited[it.idx] = true
		e := &c.entries[it.idx]
		e.parent = it.parent
		e.path = it.prefix + cleanName(e.name)
		for _, s := range []uint32{e.left, e.right} {
			if s < uint32(len(c.entries)) {
				stack = append(stack, item{s, it.parent, it.prefix, it.depth})
			}
		}
		if e.typ == 1 && e.child < uint32(len(c.entries)) {
			// Real documents nest storages a few levels deep; a deeper
			// chain only makes paths (and their memory) grow.
			if it.depth >= maxStorageDepth {
				c.warn("storages nested deeper than %d", maxStorageDepth)
				continue
			}
			stack = append(stack, item{e.child, int(it.idx), e.path + "/", it.depth + 1})
		}
	}
}

// cleanName makes an entry name printable: control characters (as in
// "\x01Ole10Native", "\x05SummaryInformation") are dropped and slashes
// replaced.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20:
			return -1
		case r == '/' || r == '\\':
			return '_'
		}
		return r
	}, s)
	if s == "" {
		return "_"
	}
	return s
}

// stream reads entry i's content, capped at c.maxStream.
func (c *cfb) stream(i int) ([]byte, error) {
	if i < 0 || i >= len(c.entries) {
		return nil, errCFBChain
	}
	e := c.entries[i]
	if e.typ != 2 {
		return nil, fmt.Errorf("office: entry %q is not a stream", e.name)
	}
	if int64(e.size) > c.maxStream || e.size > 1<<62 {
		return nil, fmt.Errorf("%w: %q is %d bytes", errCFBTooBig, e.path, e.size)
	}
	if e.size < c.miniCutoff {
		return c.miniRead(e.start, int64(e.size))
	}
	b, err := c.readChain(e.start, int64(e.size))
	if err == nil && int64(len(b)) < int64(e.size) {
		err = fmt.Errorf("%w: %q short", errCFBChain, e.path)
	}
	return b, err
}

// miniRead reads size bytes of the mini stream chain starting at start.
func (c *cfb) miniRead(start uint32, size int64) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	if c.miniStream == nil && c.miniStreamE == nil {
		root := c.entries[0]
		lim := min(int64(root.size), int64(len(c.miniFAT))*c.miniSize, c.maxStream)
		c.miniStream, c.miniStreamE = c.readChain(root.start, lim)
		if c.miniStream == nil {
			c.miniStream = []byte{}
		}
	}
	out := make([]byte, 0, min(size, 4096))
	seen := map[uint32]bool{}
	for s := start; int64(len(out)) < size; {
		if s == cfbEndOfChain || seen[s] || s >= uint32(len(c.miniFAT)) {
			return out, fmt.Errorf("%w: mini sector %d", errCFBChain, s)
		}
		seen[s] = true
		if c.readBudget -= c.miniSize; c.readBudget < 0 {
			if !c.spent {
				c.spent = true
				c.warn("read budget spent: streams share sectors")
			}
			return out, fmt.Errorf("%w: read budget spent", errCFBChain)
		}
		off := int64(s) * c.miniSize
		if off+c.miniSize > int64(len(c.miniStream)) {
			return out, fmt.Errorf("%w: mini sector %d outside mini stream", errCFBChain, s)
		}
		out = append(out, c.miniStream[off:off+c.miniSize]...)
		s = c.miniFAT[s]
	}
	return out[:size], nil
}

// find returns the index of the entry at path (case-insensitive), or -1.
func (c *cfb) find(path string) int {
	for i, e := range c.entries {
		if e.path != "" && strings.EqualFold(e.path, path) {
			return i
		}
	}
	return -1
}

// childNamed returns the index of the entry called name directly under
// storage parent (case-insensitive), or -1. The first call indexes the
// directory, so lookups stay cheap however many modules a file lists.
func (c *cfb) childNamed(parent int, name string) int {
	if c.children == nil {
		c.children = make(map[childKey]int, len(c.entries))
		for i, e := range c.entries {
			if e.path == "" {
				continue
			}
			k := childKey{e.parent, strings.ToLower(cleanName(e.name))}
			if _, dup := c.children[k]; !dup {
				c.children[k] = i
			}
		}
	}
	if i, ok := c.children[childKey{parent, strings.ToLower(name)}]; ok {
		return i
	}
	return -1
}

type childKey struct {
	parent int
	name   string
}
