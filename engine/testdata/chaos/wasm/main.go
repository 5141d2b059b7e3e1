//go:build wasip1

// Command chaos is a test guest that misbehaves when a chunk holds a marker:
// SPIN loops forever, HOG allocates until memory runs out, PANIC panics.
// Otherwise it reports one "chaos" finding per file at finish.
package main

import (
	"bytes"

	"athena/internal/core"
	"athena/modules/sdk"
)

var sink [][]byte

type chaos struct {
	emit sdk.Emit
	n    int64
}

func (c *chaos) Begin(core.FileMeta) error { c.n = 0; return nil }

func (c *chaos) Feed(b []byte) error {
	switch {
	case bytes.Contains(b, []byte("SPIN")):
		for i := 0; ; i++ {
			c.n += int64(i & 1)
		}
	case bytes.Contains(b, []byte("HOG")):
		for {
			sink = append(sink, bytes.Repeat([]byte{1}, 1<<20))
		}
	case bytes.Contains(b, []byte("PANIC")):
		panic("chaos: asked to panic")
	}
	c.n += int64(len(b))
	return nil
}

func (c *chaos) Finish() error {
	c.emit(core.Finding{Kind: "chaos", Rule: "fed", Detail: map[string]any{"bytes": c.n}})
	return nil
}

func init() { sdk.Register(func(e sdk.Emit) sdk.Analyzer { return &chaos{emit: e} }) }

func main() {}
