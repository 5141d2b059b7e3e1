// Package exe analyses executables: PE (Windows), ELF and Mach-O, thin and
// fat. Analyze reports each file's metadata as one Info finding of the
// format's kind ("pe", "elf", "macho") and its suspicious traits (packer
// hints, entry point anomalies, TLS callbacks, RWX segments, a large
// high-entropy overlay) as findings of their own, and streams the overlay,
// the bytes past the end of the image, out as the child "overlay".
//
// The PE and Mach-O parsers are lenient header walks of their own
// (debug/pe and debug/macho reject many of the malformed files malware is
// made of); ELF goes through debug/elf, with a header-only fallback when
// it refuses a file.
// Every list is capped, every read bounded; a file that breaks a parser
// yields a KindMalformed finding and whatever was found before.
package exe

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"athena/internal/core"
	"athena/internal/formats"
)

// Formats Detect returns.
const (
	FormatPE       = "pe"
	FormatELF      = "elf"
	FormatMachO    = "macho"
	FormatMachOFat = "macho-fat"
)

// Finding kinds of this package. The metadata findings (Info) are of the
// format's kind; a fat Mach-O yields one "macho" finding per architecture
// (with "fat_offset" in its detail) and one for the fat header.
const (
	KindPE    = "pe"
	KindELF   = "elf"
	KindMachO = "macho"

	// Traits.
	KindPacker       = "packer"             // detail: reasons, hint
	KindTLSCallbacks = "tls_callbacks"      // detail: count, callbacks
	KindEntryPoint   = "entrypoint_anomaly" // detail: entry_point, reason
	KindOverlay      = "overlay"            // detail: offset, size, sha256, entropy
	KindRWX          = "rwx_segment"        // detail: segments
)

const (
	// maxList caps every list in a finding's detail.
	maxList = 128
	// maxListBig caps the long lists (imports, symbols).
	maxListBig = 512
	// entropyBudget caps the bytes read to compute entropies in one file:
	// at most entropyPerByte times its size (sections, segments and
	// resources overlap) and at most 512 MiB. Past it entropies are left
	// out.
	entropyBudget  = 512 << 20
	entropyPerByte = 3
	// highEntropy is the Shannon entropy (bits per byte) from which data
	// looks compressed or encrypted.
	highEntropy = 7.2
	// largeOverlay is the overlay size from which a high-entropy overlay
	// is a medium-severity trait.
	largeOverlay = 256 << 10
)

// Detect names the executable format head (a file's first bytes, 64 are
// enough) begins with, or returns "".
func Detect(head []byte) string {
	if len(head) < 4 {
		if len(head) >= 2 && head[0] == 'M' && head[1] == 'Z' {
			return FormatPE
		}
		return ""
	}
	switch {
	case head[0] == 'M' && head[1] == 'Z':
		return FormatPE
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return FormatELF
	}
	switch binary.BigEndian.Uint32(head) {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
		return FormatMachO
	case 0xcafebabf:
		return FormatMachOFat
	case 0xcafebabe:
		// Java class files share the magic; their major version (>= 45)
		// reads as an architecture count no fat file has.
		if len(head) >= 8 {
			if n := binary.BigEndian.Uint32(head[4:]); n > 0 && n < 20 {
				return FormatMachOFat
			}
		}
	}
	return ""
}

// Analyze reports an executable's metadata and suspicious traits as
// findings, and emits its overlay (bytes after the last section / the end
// of the image) as a child "overlay" when non-empty. format is what Detect
// returned; m (not nil) accounts the overlay child. A malformed file
// yields a KindMalformed finding and whatever was parsed, not an error; a
// broken budget yields a KindBudget finding. The error is an unknown
// format, or the sink's Child failing for another reason than a budget
// (the host refusing): the caller should stop. Work is bounded by caps on
// every table and an entropy budget of three times the file size.
func Analyze(format string, r io.ReaderAt, size int64, m *formats.Meter, sink formats.Sink) (err error) {
	a := &analysis{src: newSource(r, size), meter: m, sink: sink, format: format, entropyLeft: min(entropyBudget, entropyPerByte*size+1<<20)}
	defer func() {
		if v := recover(); v != nil {
			a.malformed(fmt.Errorf("parser panic: %v", v))
			err = nil
		}
	}()
	switch format {
	case FormatPE:
		return a.pe()
	case FormatELF:
		return a.elf()
	case FormatMachO, FormatMachOFat:
		return a.macho()
	}
	return fmt.Errorf("exe: unknown format %q", format)
}

// analysis is the state of one Analyze call.
type analysis struct {
	src         *source
	meter       *formats.Meter
	sink        formats.Sink
	format      string
	entropyLeft int64
}

func (a *analysis) finding(kind string, sev core.Severity, off, length int64, detail map[string]any) {
	a.sink.Finding(core.Finding{Kind: kind, Severity: sev, Offset: off, Length: length, Detail: detail})
}

func (a *analysis) malformed(err error) {
	a.finding(formats.KindMalformed, core.Low, 0, 0, map[string]any{"format": a.format, "error": truncate(err.Error(), 512)})
}

// entropy is the Shannon entropy of [off, off+n) clipped to the file, or
// -1 when the range is empty or the file's entropy budget is spent.
func (a *analysis) entropy(off, n int64) float64 {
	off, n = clip(off, n, a.src.size)
	if n <= 0 || n > a.entropyLeft {
		return -1
	}
	a.entropyLeft -= n
	var hist [256]int64
	if _, err := io.Copy(histW{&hist}, io.NewSectionReader(a.src.r, off, n)); err != nil {
		return -1
	}
	return shannon(&hist, n)
}

// overlay reports and emits the bytes from off to the end of the file.
// The finding is Medium when the overlay is large and high-entropy.
func (a *analysis) overlay(off int64) error {
	if off < 0 || off >= a.src.size {
		return nil
	}
	n := a.src.size - off
	var hist [256]int64
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, histW{&hist}), io.NewSectionReader(a.src.r, off, n)); err != nil {
		a.malformed(fmt.Errorf("read overlay: %w", err))
		return nil
	}
	ent := shannon(&hist, n)
	sev := core.Info
	if ent >= highEntropy && n >= largeOverlay {
		sev = core.Medium
	}
	a.finding(KindOverlay, sev, off, n, map[string]any{
		"format": a.format, "offset": off, "size": n,
		"sha256": hex.EncodeToString(h.Sum(nil)), "entropy": round2(ent),
	})
	if err := a.meter.Member(); err != nil {
		a.budget(err, off, n)
		return nil
	}
	if err := a.sink.Child("overlay", a.meter.Reader(io.NewSectionReader(a.src.r, off, n), -1)); err != nil {
		if errors.Is(err, formats.ErrBudget) {
			a.budget(err, off, n)
			return nil
		}
		return err
	}
	return nil
}

// budget reports a broken budget while emitting the overlay.
func (a *analysis) budget(err error, off, n int64) {
	d := map[string]any{"member": "overlay", "error": err.Error()}
	var be *formats.BudgetError
	if errors.As(err, &be) {
		d["budget"], d["limit"] = be.Budget, be.Limit
	}
	a.finding(formats.KindBudget, core.Medium, off, n, d)
}

// maxFindingJSON is the size a finding's detail is trimmed to.
const maxFindingJSON = 30 << 10

// fit trims d until its JSON fits maxFindingJSON: the lists under keys,
// in order, are halved until it fits, or dropped when they cannot be;
// "trimmed" names the keys touched.
func fit(d map[string]any, keys ...string) {
	size := func() int {
		b, err := json.Marshal(d)
		if err != nil {
			return 0
		}
		return len(b)
	}
	var trimmed []string
	for _, k := range keys {
		for size() > maxFindingJSON {
			v, ok := d[k]
			if !ok {
				break
			}
			if len(trimmed) == 0 || trimmed[len(trimmed)-1] != k {
				trimmed = append(trimmed, k)
			}
			nv, ok := halve(v)
			if !ok {
				delete(d, k)
				break
			}
			d[k] = nv
		}
	}
	if len(trimmed) > 0 {
		d["trimmed"] = trimmed
	}
}

// halve returns the first half of a list (or of the "names" list in a
// map), false when v has no list left to cut.
func halve(v any) (any, bool) {
	switch v := v.(type) {
	case []string:
		if len(v) > 1 {
			return v[:len(v)/2], true
		}
	case []map[string]any:
		if len(v) > 1 {
			return v[:len(v)/2], true
		}
	case map[string]any:
		if names, ok := v["names"].([]string); ok && len(names) > 1 {
			c := make(map[string]any, len(v))
			for k, x := range v {
				c[k] = x
			}
			c["names"] = names[:len(names)/2]
			c["truncated"] = true
			return c, true
		}
	}
	return nil, false
}

// histW counts the bytes written to it.
type histW struct{ h *[256]int64 }

func (w histW) Write(p []byte) (int, error) {
	for _, b := range p {
		w.h[b]++
	}
	return len(p), nil
}

// shannon is the entropy in bits per byte of a histogram of n bytes.
func shannon(hist *[256]int64, n int64) float64 {
	if n <= 0 {
		return 0
	}
	var e float64
	for _, c := range hist {
		if c > 0 {
			p := float64(c) / float64(n)
			e -= p * math.Log2(p)
		}
	}
	return e
}

// entropyOf is the Shannon entropy of b.
func entropyOf(b []byte) float64 {
	var hist [256]int64
	histW{&hist}.Write(b)
	return shannon(&hist, int64(len(b)))
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// clip restricts [off, off+n) to [0, size).
func clip(off, n, size int64) (int64, int64) {
	if off < 0 || n <= 0 || off >= size {
		return 0, 0
	}
	if n > size-off {
		n = size - off
	}
	return off, n
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// printable returns b as a string with control and non-ASCII bytes
// escaped, at most n bytes of it.
func printable(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	var sb bytes.Buffer
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, `\x%02x`, c)
		}
	}
	return sb.String()
}

// capped returns the first n elements of s and whether it cut any.
func capped[T any](s []T, n int) ([]T, bool) {
	if len(s) > n {
		return s[:n], true
	}
	return s, false
}

// source reads the file through a small page cache, so that the many
// tiny reads of a header walk cost few ReadAt calls (host calls in the
// guest).
type source struct {
	r     io.ReaderAt
	size  int64
	pages map[int64][]byte
}

const (
	pageSize  = 4096
	maxPages  = 512 // 2 MiB cached at most
	maxRead   = 1 << 20
	pageShift = 12
)

func newSource(r io.ReaderAt, size int64) *source {
	return &source{r: r, size: size, pages: make(map[int64][]byte)}
}

func (s *source) page(i int64) []byte {
	if p, ok := s.pages[i]; ok {
		return p
	}
	if len(s.pages) >= maxPages {
		clear(s.pages)
	}
	off := i << pageShift
	n := min(int64(pageSize), s.size-off)
	if n <= 0 {
		return nil
	}
	p := make([]byte, n)
	got, err := s.r.ReadAt(p, off)
	if err != nil && !(errors.Is(err, io.EOF) && int64(got) == n) {
		p = p[:got]
	}
	s.pages[i] = p
	return p
}

// bytes returns n bytes at off, or nil when they are not all in the file
// or n exceeds maxRead.
func (s *source) bytes(off, n int64) []byte {
	if off < 0 || n < 0 || n > maxRead || off > s.size || n > s.size-off {
		return nil
	}
	out := make([]byte, 0, n)
	for int64(len(out)) < n {
		cur := off + int64(len(out))
		p := s.page(cur >> pageShift)
		in := cur & (pageSize - 1)
		if in >= int64(len(p)) {
			return nil
		}
		out = append(out, p[in:min(int64(len(p)), in+n-int64(len(out)))]...)
	}
	return out
}

func (s *source) u16(off int64) (uint64, bool) {
	b := s.bytes(off, 2)
	if b == nil {
		return 0, false
	}
	return uint64(binary.LittleEndian.Uint16(b)), true
}

func (s *source) u32(off int64) (uint64, bool) {
	b := s.bytes(off, 4)
	if b == nil {
		return 0, false
	}
	return uint64(binary.LittleEndian.Uint32(b)), true
}

func (s *source) u64(off int64) (uint64, bool) {
	b := s.bytes(off, 8)
	if b == nil {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// cString reads a NUL-terminated string of at most max bytes at off; a
// string cut by the end of the file or max is returned as far as it goes.
func (s *source) cString(off int64, max int) ([]byte, bool) {
	if off < 0 || off >= s.size {
		return nil, false
	}
	b := s.bytes(off, min(int64(max), s.size-off))
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return b, b != nil
}
