//go:build wasip1

// Command chaos is a test guest that misbehaves when a chunk holds a marker:
// SPIN loops forever, HOG allocates until memory runs out, PANIC panics.
// BUSY<n> runs a tight loop of n iterations (decimal; 10^9 when n is absent)
// that ends early once the host overwrites the marker's "B" in the transfer
// buffer, so a test can stop a guest that its runtime cannot interrupt.
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
	spun int64 // keeps the BUSY loop from being optimised away
}

func (c *chaos) Begin(core.FileMeta) error { c.n = 0; return nil }

func (c *chaos) Feed(b []byte) error {
	switch {
	case bytes.Contains(b, []byte("SPIN")):
		for i := 0; ; i++ {
			c.n += int64(i & 1)
		}
	case bytes.Contains(b, []byte("BUSY")):
		k := bytes.Index(b, []byte("BUSY"))
		n := int64(0)
		for _, d := range b[k+4:] {
			if d < '0' || d > '9' {
				break
			}
			n = n*10 + int64(d-'0')
		}
		if n == 0 {
			n = 1e9
		}
		// b[k] is reloaded at every iteration: the host may change it.
		for i := int64(0); i < n && b[k] == 'B'; i++ {
			c.spun += i & 1
		}
	case bytes.Contains(b, []byte("HOG")):
		for { // 8 MiB at a time: the 32 MiB cap is hit within a few steps
			block := make([]byte, 8<<20)
			block[len(block)-1] = 1
			sink = append(sink, block)
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
