// Package rules holds Athena's built-in YARA rule set (athena.yar), which
// engines use when no other rule set is configured.
package rules

import "embed"

// Default is the built-in rule set: every *.yar file of this directory.
//
//go:embed *.yar
var Default embed.FS
