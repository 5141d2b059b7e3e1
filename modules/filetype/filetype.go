// Package filetype is the analysis logic of Athena's filetype module: it
// identifies the type of a file from its first bytes and measures the
// entropy of the whole stream.
//
// # Type identification
//
// The analyzer buffers the first HeadSize bytes of a file (the read limit of
// github.com/gabriel-vasile/mimetype) and identifies the type as soon as that
// much has arrived, or at Finish for shorter files, so the engine can route
// the file to other modules by type while it is still streaming. mimetype
// decides for every format it covers, and COFF object files, which it does
// not, are recognised by their file header; plain text, CSV/TSV, HTML and XML
// results are then refined by scoring heuristics for the script types that
// attackers use (see scripts.go). One finding of kind KindFileType reports
// the result; its severity is Low for those script types and Info otherwise.
//
// # Entropy
//
// Shannon entropy is computed per BlockSize block of the stream (the last,
// partial block too). Runs of adjacent blocks whose entropy is at least
// HighEntropy are reported as one RuleHighEntropyRegion finding as soon as a
// low-entropy block closes them (or at Finish), up to MaxRegions per file.
// Finish reports RuleFileEntropy with the entropy of the whole file.
//
// Memory use is bounded whatever the file size, and the findings depend only
// on the bytes, never on how they were chunked: entropy is computed from
// integer byte counts at block boundaries, and every event is handled at a
// fixed position of the stream.
package filetype

import (
	"athena/internal/core"
	"athena/modules/sdk"
)

// Finding kinds and entropy rules this module emits. The rule of a
// KindFileType finding is the short type name (Type.Name).
const (
	KindFileType = "filetype"
	KindEntropy  = "entropy"

	RuleHighEntropyRegion = "high_entropy_region"
	RuleFileEntropy       = "file_entropy"
)

// HeadSize is how many leading bytes identification looks at. It equals
// mimetype's default read limit, which this package leaves unchanged.
const HeadSize = 4096

// analyzer implements sdk.Analyzer. It is not safe for concurrent use; the
// SDK drives one file at a time.
type analyzer struct {
	emit sdk.Emit

	declaredName string // the client's file name, untrusted
	head         []byte // first bytes of the file, up to HeadSize
	identified   bool   // the filetype finding has been emitted

	entropy entropyMeter
}

var _ sdk.Analyzer = (*analyzer)(nil)

// New returns the module's Analyzer. Findings go to emit as soon as they are
// known. The analyzer allocates its buffers once and reuses them for every
// file.
func New(emit sdk.Emit) sdk.Analyzer {
	a := &analyzer{emit: emit, head: make([]byte, 0, HeadSize)}
	a.entropy.emit = emit
	a.entropy.count = sdk.ByteCounts
	return a
}

// Begin starts a new file and resets all per-file state. The declared name
// is used only as a tie-breaker between script types; it never fails.
func (a *analyzer) Begin(meta core.FileMeta) error {
	a.declaredName = meta.Name
	a.head = a.head[:0]
	a.identified = false
	a.entropy.reset()
	return nil
}

// Feed consumes the next bytes of the file. It always returns nil: the
// entropy needs the whole stream.
//
// The chunk is cut at every position where something may be reported (the
// end of the head, each block boundary), and at one position the type is
// always reported before the block closes, so the order of findings does not
// depend on the chunking.
func (a *analyzer) Feed(chunk []byte) error {
	for len(chunk) > 0 {
		n := min(len(chunk), a.entropy.room())
		if !a.identified {
			n = min(n, HeadSize-len(a.head))
		}
		seg := chunk[:n]
		chunk = chunk[n:]
		if !a.identified {
			a.head = append(a.head, seg...)
			if len(a.head) == HeadSize {
				a.identify()
			}
		}
		a.entropy.add(seg)
	}
	return nil
}

// Finish reports the type of a file shorter than HeadSize, closes the last
// block and any open high-entropy region, and reports the file's entropy.
func (a *analyzer) Finish() error {
	if !a.identified {
		a.identify()
	}
	a.entropy.finish()
	return nil
}

// identify emits the filetype finding for the buffered head.
func (a *analyzer) identify() {
	a.identified = true
	t := Identify(a.head, a.declaredName)
	sev := core.Info
	if t.Script {
		sev = core.Low
	}
	detail := map[string]any{"mime": t.MIME, "extension": t.Extension, "name": t.Name}
	if t.Charset != "" {
		detail["charset"] = t.Charset
	}
	a.emit(core.Finding{Kind: KindFileType, Rule: t.Name, Severity: sev, Detail: detail})
}
