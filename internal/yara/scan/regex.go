package scan

import "athena/internal/yara/regex"

// compileRegex compiles a string's regular expression.
func compileRegex(src string, nocase, dotAll, wide bool) (regexMatcher, error) {
	re, err := regex.Compile(src, regex.Flags{Nocase: nocase, DotAll: dotAll, Wide: wide})
	if err != nil {
		return nil, err
	}
	return re, nil
}

// boolMatcher is a regexp of `matches` or of a module function argument.
type boolMatcher interface{ Match(b []byte) bool }

func compileMatcher(src string, nocase, dotAll bool) (boolMatcher, error) {
	re, err := regex.Compile(src, regex.Flags{Nocase: nocase, DotAll: dotAll})
	if err != nil {
		return nil, err
	}
	return re, nil
}
