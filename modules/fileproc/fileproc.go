// Package fileproc is the analysis logic of Athena's file processor: it
// recognises containers, documents and executables, reports their metadata
// and suspicious traits, and streams every member, embedded object and
// decoded layer out as a child (module ABI v1.2), which the engine analyses
// through the whole pipeline, recursively.
//
// Formats are recognised by their first bytes, not by name or declared type.
// Streaming containers (tar, gzip, bzip2, xz, zstd and their compositions
// such as tar.gz) are extracted as they arrive, during Feed: members become
// children while the upload goes on, and the module tells the host it needs
// no random access (sdk.ErrStream), so the file is not spooled. The others
// are extracted in Finish, when the whole file is readable at random
// through the host (zip's central directory is at the end); budgets
// (formats.Budget: members, bytes, expansion ratio) bound what one file may
// expand to, and the engine bounds depth and totals across the tree.
package fileproc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"

	"athena/internal/core"
	"athena/internal/formats"
	"athena/internal/formats/archive"
	"athena/internal/formats/exe"
	"athena/internal/formats/office"
	"athena/internal/formats/pdf"
	"athena/modules/sdk"
)

var (
	_ sdk.Configurer = (*Analyzer)(nil)
	_ sdk.FileUser   = (*Analyzer)(nil)
)

// headSize is how many leading bytes format detection looks at.
const headSize = 4096

// Analyzer processes one file at a time.
type Analyzer struct {
	emit  sdk.Emit
	files sdk.Files
	// passwords is the operator's list (the archive_passwords setting);
	// nil until one is configured, and then formats.DefaultPasswords hold.
	passwords []string
	budget    formats.Budget
	head      []byte
	size      int64 // bytes fed
	declared  int64 // the size the client declared, -1 when unknown
	stream    *feeder
	quiet     bool // an abandoned stream is being stopped: it reports nothing
}

// New returns an Analyzer; the SDK gives it file access before Begin.
func New(emit sdk.Emit) sdk.Analyzer {
	return &Analyzer{emit: emit, budget: formats.Budget{}.WithDefaults()}
}

// UseFiles receives the host's file access.
func (a *Analyzer) UseFiles(f sdk.Files) { a.files = f }

// Configure takes the operator's password list (the setting of kind
// formats.PasswordsKind, parsed by formats.ParsePasswords); it replaces the
// defaults for every file from then on. A list that does not parse is
// refused, and the host keeps the one in use.
func (a *Analyzer) Configure(setting []byte) error {
	list, err := formats.ParsePasswords(setting)
	if err != nil {
		return err
	}
	a.passwords = list
	return nil
}

// Begin starts a file. The passwords tried on encrypted members are the
// configured list (default formats.DefaultPasswords), then those of the
// option "passwords" (comma-separated).
func (a *Analyzer) Begin(meta core.FileMeta) error {
	if a.stream != nil { // the host dropped the last file mid-stream
		a.quiet = true
		a.stream.stop()
		a.stream, a.quiet = nil, false
	}
	a.head, a.size, a.declared = a.head[:0], 0, meta.Size
	a.budget = formats.Budget{Passwords: slices.Clone(a.passwords)}.WithDefaults()
	if extra := meta.Options["passwords"]; extra != "" {
		a.budget.Passwords = append(slices.Clone(a.budget.Passwords), strings.Split(extra, ",")...)
	}
	return nil
}

// Feed keeps the head for detection. Once the head is complete: a format
// this package does not parse makes it say DONE, and the host stops
// keeping the file for it; a streaming container starts its extraction,
// which then runs on every chunk as it comes (ErrStream tells the host it
// needs no random access); the other formats are read back in Finish.
func (a *Analyzer) Feed(chunk []byte) error {
	a.size += int64(len(chunk))
	if a.stream != nil {
		if !a.stream.push(chunk) {
			return sdk.ErrDone // the extraction has ended: the rest is not needed
		}
		return nil
	}
	n := headSize - len(a.head)
	if n <= 0 {
		return nil
	}
	take := min(n, len(chunk))
	a.head = append(a.head, chunk[:take]...)
	if len(a.head) < headSize {
		return nil
	}
	format, run := a.pick()
	switch {
	case run == nil:
		a.head = a.head[:0] // Finish has nothing to do
		return sdk.ErrDone
	case a.files == nil || !archive.Streamable(format):
		return nil
	}
	a.stream = a.startStream(format)
	if a.stream.push(a.head) && a.stream.push(chunk[take:]) {
		return sdk.ErrStream
	}
	return sdk.ErrDone
}

// startStream runs ExtractStream on a goroutine fed by push. A Go guest
// has one thread, and the goroutine runs only while Feed (or Finish or
// Begin) waits for it, so every host call it makes happens inside one of
// the module's own calls. (The alternative, push-style decoders and a
// resumable tar parser, would mean rewriting gzip, bzip2, xz and zstd
// decoders; the goroutine costs a switch per chunk: BENCHMARKS.md.)
func (a *Analyzer) startStream(format string) *feeder {
	f := newFeeder()
	m := formats.NewMeter(a.budget)
	// The container's size so far, for the expansion ratio: the bytes the
	// parser has read (not those fed, which depend on the chunking), or
	// the declared size when larger.
	size := func() int64 { return max(f.read, a.declared) }
	f.start(func() {
		a.report(format, func() error { return archive.ExtractStream(format, f, size, m, sink{a}) })
	})
	return f
}

// Finish ends a streamed extraction, or recognises the format and runs its
// parser over the whole file.
func (a *Analyzer) Finish() (err error) {
	if a.stream != nil {
		a.stream.end()
		a.stream = nil
		return nil
	}
	if a.files == nil {
		return errors.New("fileproc: the host gave no file access")
	}
	format, run := a.pick()
	switch {
	case run == nil:
		return nil
	case archive.Streamable(format): // shorter than the head: it is all there
		m := formats.NewMeter(a.budget)
		size := func() int64 { return max(a.size, a.declared) }
		a.report(format, func() error { return archive.ExtractStream(format, bytes.NewReader(a.head), size, m, sink{a}) })
		return nil
	}
	m := formats.NewMeter(a.budget)
	a.report(format, func() error { return run(io.NewSectionReader(a.files, 0, a.size), a.size, m, sink{a}) })
	return nil
}

// report runs a parser and turns what stopped it into findings: budgets
// are reported by whoever enforced them, other errors and panics as
// malformed.
func (a *Analyzer) report(format string, run func() error) {
	defer func() {
		// The parsers check their bounds; this is the last line, so that a
		// bug in one is a finding, not a lost file.
		if r := recover(); r != nil {
			a.finding(core.Finding{Kind: formats.KindMalformed, Severity: core.Info,
				Detail: map[string]any{"format": format, "error": fmt.Sprintf("parser panic: %v", r), "stack": string(debug.Stack())}})
		}
	}()
	runErr := run()
	switch {
	case runErr == nil, errors.Is(runErr, formats.ErrBudget), errors.Is(runErr, sdk.ErrRefused), errors.Is(runErr, errStopped):
		// Budgets are reported as findings by whoever enforced them.
	default:
		a.finding(core.Finding{Kind: formats.KindMalformed, Severity: core.Info,
			Detail: map[string]any{"format": format, "error": runErr.Error()}})
	}
}

func (a *Analyzer) finding(f core.Finding) {
	if !a.quiet {
		a.emit(f)
	}
}

type parser func(r io.ReaderAt, size int64, m *formats.Meter, s formats.Sink) error

// pick chooses the parser for the head, most specific first: executables,
// PDF, Office (an OOXML file is also a zip), then archives.
func (a *Analyzer) pick() (string, parser) {
	if f := exe.Detect(a.head); f != "" {
		return f, func(r io.ReaderAt, size int64, m *formats.Meter, s formats.Sink) error {
			return exe.Analyze(f, r, size, m, s)
		}
	}
	if pdf.Detect(a.head) {
		return "pdf", pdf.Extract
	}
	switch office.Detect(a.head) {
	case "ole":
		return "ole", office.ExtractOLE
	case "ooxml":
		return "ooxml", office.ExtractOOXML
	}
	if f := archive.Detect(a.head); f != "" {
		return f, func(r io.ReaderAt, size int64, m *formats.Meter, s formats.Sink) error {
			return archive.Extract(f, r, size, m, s)
		}
	}
	return "", nil
}

// sink passes findings and children to the host.
type sink struct{ a *Analyzer }

func (s sink) Finding(f core.Finding) { s.a.finding(f) }

func (s sink) Child(path string, r io.Reader) error {
	if s.a.quiet {
		return errStopped
	}
	if err := s.a.files.Child(path, r); err != nil {
		return fmt.Errorf("child %s: %w", path, err)
	}
	return nil
}
