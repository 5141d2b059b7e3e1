//go:build wasip1

// Command wasm is the patterns module's wasm shim: it registers the analyzer
// of package patterns with the SDK, which provides the ABI v1 exports.
package main

import (
	"athena/modules/patterns"
	"athena/modules/sdk"
)

func init() { sdk.Register(patterns.New) }

func main() {}
