//go:build wasip1

// Command wasm is the file processor's wasm shim: it registers the analyzer
// of package fileproc with the SDK, which provides the ABI exports.
package main

import (
	"athena/modules/fileproc"
	"athena/modules/sdk"
)

func init() { sdk.Register(fileproc.New) }

func main() {}
