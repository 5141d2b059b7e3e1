package formats

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// PasswordsKind is the engine setting kind the file processor takes: the
// operator's list of passwords tried on encrypted members (module ABI
// v1.1 settings).
const PasswordsKind = "archive_passwords"

// Bounds of a password list. Every password may be tried on every
// encrypted container, and one try on a 7z costs a key derivation of 2^19
// SHA-256 rounds: 1.8 s in the sandbox on a loaded 2-core machine
// (BENCHMARKS.md), so 16 wrong passwords on one 7z take half of the file
// processor's 60 s call deadline.
const (
	MaxPasswords     = 16
	MaxPasswordBytes = 128
)

// DefaultPasswords are tried when the operator has set no list: the
// conventions of malware exchange.
func DefaultPasswords() []string { return []string{"infected", "malware"} }

// ParsePasswords reads an operator's password list: UTF-8 text, one
// password per line, tried in that order. A line ending may be "\n" or
// "\r\n". Empty lines and lines that start with "#" are skipped; a line
// that starts with "\" stands for the rest of the line, so "\#x" is the
// password "#x" and "\\x" is "\x". Everything else on a line, spaces
// included, is the password. A repeated password is kept once. The list
// may hold no password (none is tried), but the data must then say so with
// at least a comment: empty data is refused, since that is what a reader
// sees of a file being rewritten. It fails, naming the line, on invalid
// UTF-8, a control character other than tab, an empty password
// ("\" alone), a password longer than MaxPasswordBytes, or more than
// MaxPasswords passwords.
func ParsePasswords(data []byte) ([]string, error) {
	if len(data) == 0 {
		return nil, errors.New("passwords: empty (a list of no password needs at least a comment line)")
	}
	if !utf8.Valid(data) {
		for i, line := range bytes.Split(data, []byte("\n")) {
			if !utf8.Valid(line) {
				return nil, fmt.Errorf("passwords: line %d: not UTF-8", i+1)
			}
		}
	}
	list := []string{}
	seen := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		switch {
		case line == "", line[0] == '#':
			continue
		case line[0] == '\\':
			line = line[1:]
			if line == "" {
				return nil, fmt.Errorf("passwords: line %d: empty password", n)
			}
		}
		for _, r := range line {
			if r < 0x20 && r != '\t' || r == 0x7f {
				return nil, fmt.Errorf("passwords: line %d: control character %U", n, r)
			}
		}
		if len(line) > MaxPasswordBytes {
			return nil, fmt.Errorf("passwords: line %d: %d bytes, more than %d", n, len(line), MaxPasswordBytes)
		}
		if seen[line] {
			continue
		}
		seen[line] = true
		if len(list) == MaxPasswords {
			return nil, fmt.Errorf("passwords: line %d: more than %d passwords", n, MaxPasswords)
		}
		list = append(list, line)
	}
	return list, nil
}

// PasswordsVersion names a parsed list: "pw-" and 16 hex digits of the
// sha256 of its passwords in order. Comments, blank lines and repeats do
// not change it; anything that changes what is tried does.
func PasswordsVersion(list []string) string {
	h := sha256.New()
	for _, p := range list {
		h.Write([]byte(p))
		h.Write([]byte{'\n'}) // no password holds a line break
	}
	return "pw-" + hex.EncodeToString(h.Sum(nil)[:8])
}
