//go:build wasip1

// Command wasm is the filetype module's wasm shim: it registers the analyzer
// of package filetype with the SDK, which provides the ABI v1 exports.
package main

import (
	"athena/modules/filetype"
	"athena/modules/sdk"
)

func init() { sdk.Register(filetype.New) }

func main() {}
