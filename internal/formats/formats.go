// Package formats is the contract between the file processor module and
// the format packages under it (archives, office documents, PDF,
// executables): a parser reads a file through a random-access view, reports
// findings (metadata, suspicious traits, broken budgets) and streams every
// member, embedded object or decoded layer out as a child, which the engine
// then analyses through the whole pipeline.
//
// Every parser here reads hostile bytes. It must never panic, never read
// outside its input, and do bounded work: the Budget caps what one file
// may expand to, and a parser that meets a cap reports a finding, stops
// that branch and returns what it has (partial results, not an error).
package formats

import (
	"errors"
	"io"
	"strings"

	"athena/internal/core"
)

// Sink receives what a parser finds. Child streams one extracted member:
// path is its name inside the container as the container gives it (the
// parser passes it through SanitizePath first and reports what was wrong
// with it); r yields the member's decoded bytes. An error from Child (a
// broken budget, the host refusing) stops the extraction: the parser
// returns it.
type Sink interface {
	Finding(f core.Finding)
	Child(path string, r io.Reader) error
}

// Budget bounds what one file may expand to. The zero value of a field
// means its default.
type Budget struct {
	// MaxMembers is how many children one container may yield. Default 1,000.
	MaxMembers int
	// MaxMemberBytes caps one child's decoded size. Default 256 MiB.
	MaxMemberBytes int64
	// MaxTotalBytes caps the decoded bytes of all children of one file.
	// Default 1 GiB.
	MaxTotalBytes int64
	// MaxRatio caps decoded size / compressed size for members whose
	// decoded size reaches RatioMinBytes (so EPUB and DOCX, full of small
	// highly compressible parts, pass). Default 100 and 1 MiB.
	MaxRatio      float64
	RatioMinBytes int64
	// Passwords are tried on encrypted members, in order. Default (nil)
	// DefaultPasswords; an empty non-nil list tries none.
	Passwords []string
}

// WithDefaults returns b with every zero field set to its default.
func (b Budget) WithDefaults() Budget {
	if b.MaxMembers <= 0 {
		b.MaxMembers = 1000
	}
	if b.MaxMemberBytes <= 0 {
		b.MaxMemberBytes = 256 << 20
	}
	if b.MaxTotalBytes <= 0 {
		b.MaxTotalBytes = 1 << 30
	}
	if b.MaxRatio <= 0 {
		b.MaxRatio = 100
	}
	if b.RatioMinBytes <= 0 {
		b.RatioMinBytes = 1 << 20
	}
	if b.Passwords == nil {
		b.Passwords = DefaultPasswords()
	}
	return b
}

// ErrBudget is wrapped by errors that report a broken budget.
var ErrBudget = errors.New("budget exceeded")

// Finding kinds every format package uses.
const (
	KindBudget    = "budget_exceeded" // detail: budget, limit, member
	KindPath      = "suspicious_path" // detail: path, problem (zip slip...)
	KindEncrypted = "encrypted"       // detail: member, decrypted (bool), password
	KindBomb      = "archive_bomb"    // detail: reason (overlapping entries, ratio...)
	KindMalformed = "malformed"       // detail: format, error
)

// SanitizePath turns a member name into a safe relative slash path and
// says what was wrong with it: "" when nothing, else "absolute", "parent"
// (a .. element), "drive" (C:), "nul" or "empty". Backslashes count as
// separators. The result is never empty, absolute or above its root.
func SanitizePath(name string) (clean, problem string) {
	if i := strings.IndexByte(name, 0); i >= 0 {
		name, problem = name[:i], "nul"
	}
	name = strings.ReplaceAll(name, `\`, "/")
	if len(name) >= 2 && name[1] == ':' && (name[0]|0x20 >= 'a' && name[0]|0x20 <= 'z') {
		name = name[2:]
		if problem == "" {
			problem = "drive"
		}
	}
	if strings.HasPrefix(name, "/") && problem == "" {
		problem = "absolute"
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
		case "..":
			if problem == "" {
				problem = "parent"
			}
			if len(parts) > 0 {
				parts = parts[:len(parts)-1]
			}
		default:
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		if problem == "" {
			problem = "empty"
		}
		return "unnamed", problem
	}
	return strings.Join(parts, "/"), problem
}
