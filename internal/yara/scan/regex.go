package scan

import (
	"fmt"

	"athena/internal/yara/regex"
)

// compileRegex compiles a string's regular expression.
func compileRegex(src string, f regex.Flags) (regexMatcher, error) {
	re, err := regex.Compile(src, f)
	if err != nil {
		return nil, err
	}
	return re, nil
}

// lazyRegex is a string's regexp compiled on its first use: a rule set's
// regexps are compiled on the host when it chooses the atoms
// (ChooseAtoms), so a guest given the plan's atoms compiles only those
// whose atoms ever turn up in a file, instead of all of them in every
// instance. Should one fail anyway (a plan not made by ChooseAtoms), it
// matches nothing.
//
// The atom choice needs only the expression's prefixes, which its parsed
// form gives (syn) without a program.
type lazyRegex struct {
	id, src              string
	nocase, dotAll, wide bool
	re                   regexMatcher
	syn                  *regex.Syntax
	err                  error
}

func (l *lazyRegex) flags() regex.Flags {
	return regex.Flags{Nocase: l.nocase, DotAll: l.dotAll, Wide: l.wide}
}

// parse parses the expression, once.
func (l *lazyRegex) parse() (*regex.Syntax, error) {
	if l.syn == nil && l.err == nil {
		l.syn, l.err = regex.Parse(l.src, l.flags())
		if l.err != nil {
			l.err = fmt.Errorf("scan: string %s: %w", l.id, l.err)
		}
	}
	return l.syn, l.err
}

func (l *lazyRegex) get() (regexMatcher, error) {
	if l.re == nil && l.err == nil {
		l.re, l.err = compileRegex(l.src, l.flags())
		if l.err != nil {
			l.err = fmt.Errorf("scan: string %s: %w", l.id, l.err)
		}
	}
	return l.re, l.err
}

func (l *lazyRegex) MatchAt(data []byte, start int) int {
	if re, err := l.get(); err == nil {
		return re.MatchAt(data, start)
	}
	return -1
}

func (l *lazyRegex) Prefixes(maxCount, maxLen int) ([][]byte, bool) {
	if l.re != nil {
		return l.re.Prefixes(maxCount, maxLen)
	}
	if syn, err := l.parse(); err == nil {
		return syn.Prefixes(maxCount, maxLen)
	}
	return nil, false
}

func (l *lazyRegex) FirstBytes() *[256]bool {
	if re, err := l.get(); err == nil {
		return re.FirstBytes()
	}
	return new([256]bool)
}

func (l *lazyRegex) Anchored() bool {
	re, err := l.get()
	return err == nil && re.Anchored()
}

// prepareRegexes compiles (or, when only their prefixes are needed,
// parses) every regexp of pats now and returns the first error. A plan's
// regexps are known to compile: the compiler checks them (checkRegex).
func prepareRegexes(pats []pattern, compile bool) error {
	for i := range pats {
		l, ok := pats[i].re.(*lazyRegex)
		if !ok {
			continue
		}
		var err error
		if compile {
			_, err = l.get()
		} else {
			_, err = l.parse()
		}
		if err != nil {
			return err
		}
	}
	return nil
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
