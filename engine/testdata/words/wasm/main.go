//go:build wasip1

// Command words is a test guest that takes a setting (ABI v1.1): the
// setting is newline-separated words, and the guest reports a "word"
// finding, with the word, for each chunk that holds one. A setting that
// starts with REJECT is refused.
package main

import (
	"bytes"
	"errors"

	"athena/internal/core"
	"athena/modules/sdk"
)

type words struct {
	emit  sdk.Emit
	words [][]byte
}

func (w *words) Configure(setting []byte) error {
	if bytes.HasPrefix(setting, []byte("REJECT")) {
		return errors.New("setting refused")
	}
	for _, word := range bytes.Split(bytes.Clone(setting), []byte("\n")) {
		if len(word) > 0 {
			w.words = append(w.words, word)
		}
	}
	return nil
}

func (w *words) Begin(core.FileMeta) error { return nil }

func (w *words) Feed(b []byte) error {
	for _, word := range w.words {
		if bytes.Contains(b, word) {
			w.emit(core.Finding{Kind: "word", Severity: core.Low, Detail: map[string]any{"word": string(word)}})
		}
	}
	return nil
}

func (w *words) Finish() error { return nil }

func init() { sdk.Register(func(emit sdk.Emit) sdk.Analyzer { return &words{emit: emit} }) }

func main() {}
