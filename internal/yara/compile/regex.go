package compile

import "athena/internal/yara/regex"

// checkRegex reports whether a regular expression compiles. A wide form's
// program is the ascii one with more instructions, so when it compiles
// both do: the scanner then needs no check of its own (it parses the
// expression to choose atoms and compiles it on first use).
func checkRegex(src string, nocase, dotAll, wide bool) error {
	_, err := regex.Compile(src, regex.Flags{Nocase: nocase, DotAll: dotAll, Wide: wide})
	return err
}
