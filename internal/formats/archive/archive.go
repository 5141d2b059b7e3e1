// Package archive opens containers (zip, tar, gzip, bzip2, xz, zstd, 7z,
// rar, e-mail) and streams every member out as a child through a
// formats.Sink, within the budget of a formats.Meter.
//
// Extract handles one container level, reading it at random once it is
// whole; the engine recurses by analysing every child through the whole
// pipeline again (a zip in a 7z is a child of the 7z). ExtractStream reads
// the streamable formats (tar and the compressed streams) in one pass as
// they arrive, and takes a compressed tar as one container (a tar.gz gives
// the tar's members). Every member goes through formats.SanitizePath and
// the Meter; broken budgets, bombs, suspicious paths and encrypted members
// are reported as findings.
package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"athena/internal/core"
	"athena/internal/formats"
)

// ErrBomb is wrapped by the error Extract returns when it stops on an
// archive built to expand without bound (overlapping zip entries).
var ErrBomb = errors.New("archive: bomb")

// ErrUnsupported is returned for a format Extract does not know.
var ErrUnsupported = errors.New("archive: unsupported format")

// Caps on what one container reports, to keep findings small.
const (
	maxPathFindings      = 32   // suspicious_path findings per container
	maxEncryptedFindings = 32   // encrypted findings per container
	maxListed            = 200  // member names listed in one finding
	maxText              = 1024 // bytes of a comment or header kept in a finding
	maxNameLen           = 4096 // bytes of a member name kept
)

// Detect reports what container format head (the first bytes of a file,
// 512 or more for tar) holds: "zip", "tar", "gzip", "bzip2", "xz", "zstd",
// "7z", "rar", "eml", or "" when none. Detection is by magic bytes and,
// for tar, the header checksum.
func Detect(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")),
		bytes.HasPrefix(head, []byte("PK\x05\x06")),
		bytes.HasPrefix(head, []byte("PK\x07\x08PK\x03\x04")):
		return "zip"
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip"
	case len(head) >= 10 && bytes.HasPrefix(head, []byte("BZh")) && head[3] >= '1' && head[3] <= '9' &&
		(bytes.HasPrefix(head[4:], []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}) ||
			bytes.HasPrefix(head[4:], []byte{0x17, 0x72, 0x45, 0x38, 0x50, 0x90})):
		return "bzip2"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return "xz"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}),
		len(head) >= 4 && head[0]&0xf0 == 0x50 && bytes.Equal(head[1:4], []byte{0x2a, 0x4d, 0x18}):
		return "zstd"
	case bytes.HasPrefix(head, []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}):
		return "7z"
	case bytes.HasPrefix(head, []byte("Rar!\x1a\x07\x00")),
		bytes.HasPrefix(head, []byte("Rar!\x1a\x07\x01\x00")):
		return "rar"
	case isTar(head):
		return "tar"
	case isEML(head):
		return "eml"
	}
	return ""
}

// Extract reads the container of the given format (a Detect result) from
// r and emits each member as a child through sink, within m's budget.
//
// It returns nil when it got through, or the error that stopped it: a
// broken budget (wrapping formats.ErrBudget, also reported as a
// formats.KindBudget finding), a bomb (wrapping ErrBomb, also reported as
// a formats.KindBomb finding), or an error from sink.Child. A container
// that is malformed is reported as a formats.KindMalformed finding and
// Extract returns nil with whatever members it got out; so is a member
// that fails to decode, and extraction goes on with the next one.
func Extract(format string, r io.ReaderAt, size int64, m *formats.Meter, sink formats.Sink) (err error) {
	x := &extractor{format: format, m: m, sink: sink}
	defer func() {
		if p := recover(); p != nil {
			x.malformed("", fmt.Errorf("panic: %v", p))
			err = nil
		}
	}()
	if size < 0 {
		size = 0
	}
	switch format {
	case "zip":
		return x.zip(r, size)
	case "tar":
		return x.tar(io.NewSectionReader(r, 0, size))
	case "gzip", "bzip2", "xz", "zstd":
		return x.stream(r, size)
	case "7z":
		return x.sevenZip(r, size)
	case "rar":
		return x.rar(r, size)
	case "eml":
		return x.eml(io.NewSectionReader(r, 0, size))
	}
	return fmt.Errorf("%w: %q", ErrUnsupported, format)
}

// extractor holds the state of one Extract call.
type extractor struct {
	format     string
	m          *formats.Meter
	sink       formats.Sink
	paths      int    // suspicious_path findings so far
	encrypted  int    // encrypted findings so far
	sevenZipPw string // the password that opened a 7z member
}

func (x *extractor) finding(kind string, sev core.Severity, off int64, detail map[string]any) {
	x.sink.Finding(core.Finding{Kind: kind, Severity: sev, Offset: off, Detail: detail})
}

func (x *extractor) malformed(member string, err error) {
	d := map[string]any{"format": x.format, "error": clip(err.Error(), maxText)}
	if member != "" {
		d["member"] = member
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		d["truncated"] = true
	}
	x.finding(formats.KindMalformed, core.Low, 0, d)
}

// budget reports err, when it is a broken budget, as a KindBudget finding
// (and a ratio as a KindBomb too), and returns it.
func (x *extractor) budget(member string, err error) error {
	var be *formats.BudgetError
	var done *reportedError
	if !errors.As(err, &be) || errors.As(err, &done) {
		return err // not a budget, or reported by a nested Extract
	}
	x.finding(formats.KindBudget, core.Medium, 0, map[string]any{
		"budget": be.Budget, "limit": be.Limit, "member": member, "format": x.format,
	})
	if be.Budget == "ratio" {
		x.finding(formats.KindBomb, core.High, 0, map[string]any{
			"reason": "expansion ratio", "limit": be.Limit, "member": member, "format": x.format,
		})
	}
	return &reportedError{err}
}

// reportedError marks a budget error already reported as a finding, so
// an Extract that a sink calls recursively does not report it at every
// level.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// encryptedMember reports one encrypted member, up to maxEncryptedFindings.
func (x *extractor) encryptedMember(member, method string, decrypted bool, password string) {
	x.encrypted++
	if x.encrypted > maxEncryptedFindings {
		return
	}
	d := map[string]any{"member": member, "decrypted": decrypted, "method": method, "format": x.format}
	if decrypted {
		d["password"] = password
	}
	x.finding(formats.KindEncrypted, core.Medium, 0, d)
}

// path sanitises a member name and reports what was wrong with it.
func (x *extractor) path(name string, off int64) string {
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	clean, problem := formats.SanitizePath(name)
	if problem == "" {
		return clean
	}
	x.paths++
	if x.paths <= maxPathFindings {
		sev := core.Medium
		if problem == "empty" {
			sev = core.Low
		}
		x.finding(formats.KindPath, sev, off, map[string]any{
			"path": clip(name, maxText), "clean": clip(clean, maxText), "problem": problem, "format": x.format,
		})
	}
	return clean
}

// link reports a symbolic or hard link whose target leaves the archive.
func (x *extractor) link(name, target string, off int64) {
	if _, problem := formats.SanitizePath(target); problem == "" || problem == "empty" {
		return
	}
	x.paths++
	if x.paths <= maxPathFindings {
		x.finding(formats.KindPath, core.Medium, off, map[string]any{
			"path": clip(name, maxText), "target": clip(target, maxText), "problem": "link", "format": x.format,
		})
	}
}

// child emits one member: it is counted by the Meter, its name sanitised,
// its stream metered. compressed is its size in the container (-1 when
// not compressed or unknown). A decode error in the member is reported and
// swallowed; a budget or sink error is returned.
func (x *extractor) child(name string, off int64, r io.Reader, compressed int64) error {
	return x.emit(x.path(name, off), r, func(rec io.Reader) io.Reader { return x.m.Reader(rec, compressed) })
}

// emit counts a member named clean, hands the sink r through meter, and
// sorts out what went wrong: a budget, a decode error of r (reported and
// swallowed), or the sink's own error (returned).
func (x *extractor) emit(clean string, r io.Reader, meter func(io.Reader) io.Reader) error {
	if err := x.m.Member(); err != nil {
		return x.budget(clean, err)
	}
	rec := &recorder{r: r}
	err := x.sink.Child(clean, meter(rec))
	switch {
	case errors.Is(err, formats.ErrBudget):
		return x.budget(clean, err)
	case rec.err != nil && (err == nil || errors.Is(err, rec.err)):
		x.malformed(clean, rec.err)
		return nil
	}
	return err
}

// recorder remembers the first error other than io.EOF its reader returns,
// so a member that fails to decode is told apart from a sink that fails.
type recorder struct {
	r   io.Reader
	err error
}

func (rc *recorder) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	if err != nil && err != io.EOF && rc.err == nil {
		rc.err = err
	}
	return n, err
}

// summary reports the Info finding of Kind "archive" for a container.
func (x *extractor) summary(detail map[string]any) {
	detail["format"] = x.format
	if x.paths > maxPathFindings {
		detail["path_findings_dropped"] = x.paths - maxPathFindings
	}
	if x.encrypted > 0 {
		detail["encrypted_members"] = x.encrypted
	}
	x.finding("archive", core.Info, 0, detail)
}

// jsonCost bounds the bytes s takes as a JSON string: escapes, and
// non-ASCII counted as the worst case.
func jsonCost(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		n += byteCost(s[i])
	}
	return n
}

func byteCost(c byte) int {
	if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
		return 6
	}
	return 1
}

// clip cuts s, on a rune boundary, so its JSON form takes at most n bytes.
func clip(s string, n int) string {
	cost := 2
	for i := 0; i < len(s); i++ {
		cost += byteCost(s[i])
		if cost > n {
			for j := i; j > 0 && j > i-4; j-- {
				if s[j]&0xc0 != 0x80 {
					return s[:j]
				}
			}
			return s[:i]
		}
	}
	return s
}

// nameList collects member names for a finding, within maxListed names
// and maxListBytes of JSON.
type nameList struct {
	names   []string
	cost    int
	dropped int
}

const maxListBytes = 16 << 10

func (l *nameList) add(name string) {
	name = clip(name, 256)
	if c := jsonCost(name) + 1; len(l.names) < maxListed && l.cost+c <= maxListBytes {
		l.names = append(l.names, name)
		l.cost += c
		return
	}
	l.dropped++
}

// put stores the list in a finding's detail.
func (l *nameList) put(d map[string]any) {
	d["names"] = l.names
	if l.dropped > 0 {
		d["names_dropped"] = l.dropped
	}
}

// isTar reports whether head starts with a tar header whose checksum
// holds (unsigned or the historical signed sum).
func isTar(head []byte) bool {
	if len(head) < 512 {
		return false
	}
	h := head[:512]
	field := strings.TrimRight(strings.TrimLeft(string(h[148:156]), " "), " \x00")
	if field == "" || h[0] == 0 {
		return false
	}
	var want int64
	for _, c := range field {
		if c < '0' || c > '7' {
			return false
		}
		want = want*8 + int64(c-'0')
	}
	var unsigned, signed int64
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return want == unsigned || want == signed
}

// emlHeaders are header names that mark the start of an e-mail message.
var emlHeaders = []string{
	"from", "to", "subject", "date", "received", "return-path", "message-id",
	"mime-version", "delivered-to", "reply-to", "cc", "content-type", "x-mailer", "sender",
}

// isEML reports whether head looks like an RFC 5322 message: it starts
// with header lines, at least two of them well-known ones including one
// that only mail has.
func isEML(head []byte) bool {
	known, strong := 0, false
	lines := bytes.Split(head, []byte("\n"))
	for i, line := range lines {
		if i == len(lines)-1 && len(lines) > 1 {
			break // may be cut
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if i == 0 {
				return false
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false
		}
		name := strings.ToLower(string(line[:colon]))
		for _, c := range name {
			if c <= ' ' || c > '~' {
				return false
			}
		}
		for _, h := range emlHeaders {
			if name == h {
				known++
				switch h {
				case "from", "received", "return-path", "message-id", "mime-version", "delivered-to":
					strong = true
				}
			}
		}
		if known >= 2 && strong {
			return true
		}
	}
	return false
}
