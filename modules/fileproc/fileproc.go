// Package fileproc is the analysis logic of Athena's file processor: it
// recognises containers, documents and executables, reports their metadata
// and suspicious traits, and streams every member, embedded object and
// decoded layer out as a child (module ABI v1.2), which the engine analyses
// through the whole pipeline, recursively.
//
// Formats are recognised by their first bytes, not by name or declared type.
// Extraction happens in Finish, when the whole file is readable at random
// through the host (zip's central directory is at the end); budgets
// (formats.Budget: members, bytes, expansion ratio) bound what one file may
// expand to, and the engine bounds depth and totals across the tree.
package fileproc

import (
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
	size      int64
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
	a.head, a.size = a.head[:0], 0
	a.budget = formats.Budget{Passwords: slices.Clone(a.passwords)}.WithDefaults()
	if extra := meta.Options["passwords"]; extra != "" {
		a.budget.Passwords = append(slices.Clone(a.budget.Passwords), strings.Split(extra, ",")...)
	}
	return nil
}

// Feed keeps the head for detection; the rest is read back in Finish. Once
// the head is complete and names no format this package parses, it says
// DONE, and the host stops keeping the file for it.
func (a *Analyzer) Feed(chunk []byte) error {
	if n := headSize - len(a.head); n > 0 {
		a.head = append(a.head, chunk[:min(n, len(chunk))]...)
		if len(a.head) == headSize {
			if _, run := a.pick(); run == nil {
				a.head = a.head[:0] // Finish has nothing to do
				return sdk.ErrDone
			}
		}
	}
	a.size += int64(len(chunk))
	return nil
}

// Finish recognises the format and runs its parser over the whole file.
func (a *Analyzer) Finish() (err error) {
	if a.files == nil {
		return errors.New("fileproc: the host gave no file access")
	}
	format, run := a.pick()
	if run == nil {
		return nil
	}
	defer func() {
		// The parsers check their bounds; this is the last line, so that a
		// bug in one is a finding, not a lost file.
		if r := recover(); r != nil {
			a.emit(core.Finding{Kind: formats.KindMalformed, Severity: core.Info,
				Detail: map[string]any{"format": format, "error": fmt.Sprintf("parser panic: %v", r), "stack": string(debug.Stack())}})
			err = nil
		}
	}()
	m := formats.NewMeter(a.budget)
	runErr := run(io.NewSectionReader(a.files, 0, a.size), a.size, m, sink{a})
	switch {
	case runErr == nil, errors.Is(runErr, formats.ErrBudget), errors.Is(runErr, sdk.ErrRefused):
		// Budgets are reported as findings by whoever enforced them.
	default:
		a.emit(core.Finding{Kind: formats.KindMalformed, Severity: core.Info,
			Detail: map[string]any{"format": format, "error": runErr.Error()}})
	}
	return nil
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

func (s sink) Finding(f core.Finding) { s.a.emit(f) }

func (s sink) Child(path string, r io.Reader) error {
	if err := s.a.files.Child(path, r); err != nil {
		return fmt.Errorf("child %s: %w", path, err)
	}
	return nil
}
