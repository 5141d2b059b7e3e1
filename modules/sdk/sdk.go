// Package sdk is the Go side of Athena's module ABI v1 (modules/README.md).
//
// A Go module keeps its analysis logic in an ordinary package that implements
// Analyzer and is unit-tested on the host. Its wasm shim is a few lines behind
// a wasip1 build tag:
//
//	//go:build wasip1
//
//	package main
//
//	import (
//		"athena/modules/patterns"
//		"athena/modules/sdk"
//	)
//
//	func init() { sdk.Register(patterns.New) }
//
//	func main() {}
//
// Build it with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared. The
// exports (alloc, begin, feed, finish) and the emit import live in this
// package; they exist only in wasip1 builds.
package sdk

import (
	"errors"
	"io"

	"athena/internal/core"
)

// ABI status codes returned by begin, feed and finish. They are part of ABI v1.
const (
	StatusOK       = 0 // call succeeded
	StatusDone     = 1 // feed: the module needs no more bytes of this file
	StatusBadInput = 2 // begin: metadata could not be decoded; the host sent bad arguments
	StatusBadState = 3 // call out of order (feed before begin, finish twice)
	StatusFailed   = 4 // the module failed; the host discards the instance
	StatusStream   = 5 // feed: OK, and the module reads the rest of the file only as it is fed (ABI v1.3)
)

// ErrDone is returned by Analyzer.Feed when the module has seen all it needs
// of the current file; the host stops feeding it until the next Begin.
var ErrDone = errors.New("sdk: module needs no more input")

// ErrStream is returned by Analyzer.Feed of a module with file access that
// parses the file as it arrives: the feed succeeded, and the module gives
// its random access (Files.ReadAt) up for the rest of the file, so the
// host need not keep the file's bytes for it. Later feeds return nil (or
// ErrDone) as usual.
var ErrStream = errors.New("sdk: module reads the file only as it is fed")

// Emit reports a finding to the host at once. The host sets Finding.Module.
// Emit must only be called from inside Begin, Feed or Finish.
type Emit func(core.Finding)

// Analyzer is a module's analysis logic for one file at a time.
//
// Begin starts a new file and must reset all per-file state: an instance is
// reused for many files. Feed receives the file's bytes in order, in chunks
// of any size from 1 byte up to the manifest's max_feed; it returns ErrDone to
// stop receiving bytes, any other error to fail. Finish ends the file after
// the last Feed. The same bytes must always produce the same findings:
// no clocks, no randomness.
type Analyzer interface {
	Begin(meta core.FileMeta) error
	Feed(chunk []byte) error
	Finish() error
}

// Configurer is implemented by an Analyzer whose manifest names a kind of
// setting ("config": "rules"). The host calls Configure once per instance,
// before the first Begin, with the setting's bytes; an error makes the host
// reject the setting (or the instance). The bytes are the SDK's: keep what
// you need, not the slice.
type Configurer interface {
	Configure(setting []byte) error
}

// Files is the host's file access (ABI v1.2), for analyzers whose manifest
// sets "file_access": ReadAt reads the current file's bytes received so
// far (all of them in Finish), and Child streams one extracted member,
// embedded object or decoded layer to the host, which analyses it as a
// file of its own. Child returns ErrRefused when a budget (depth, count,
// bytes) is spent: stop extracting. Child may be called during Feed as
// well as Finish, and one child may span several Feeds (ABI v1.3): the
// host analyses it when Child returns.
type Files interface {
	io.ReaderAt
	Child(name string, r io.Reader) error
}

// ErrRefused is returned by Files.Child when the host refuses more.
var ErrRefused = errors.New("sdk: the host refused the child (a budget is spent)")

// FileUser is implemented by an Analyzer that wants file access; the SDK
// calls UseFiles once, before the first Begin.
type FileUser interface {
	UseFiles(Files)
}

// New builds a module's Analyzer around the emit function it must use.
type New func(emit Emit) Analyzer

var factory New

// Register installs the module's Analyzer constructor. Call it once, from an
// init function of the wasm shim.
func Register(n New) {
	if factory != nil {
		panic("sdk: Register called twice")
	}
	factory = n
}
