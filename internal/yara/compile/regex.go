package compile

import "athena/internal/yara/regex"

// checkRegex reports whether a regular expression compiles.
func checkRegex(src string, nocase, dotAll bool) error {
	_, err := regex.Compile(src, regex.Flags{Nocase: nocase, DotAll: dotAll})
	return err
}
