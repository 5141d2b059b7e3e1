package formats

import (
	"fmt"
	"io"
)

// BudgetError reports which budget a file broke. It wraps ErrBudget, so
// errors.Is(err, ErrBudget) holds; use errors.As to read the budget's
// name and limit for a KindBudget finding.
type BudgetError struct {
	// Budget names the cap: "members", "member_bytes", "total_bytes" or
	// "ratio".
	Budget string
	// Limit is the cap's value (a count, bytes, or a ratio).
	Limit float64
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("formats: %s: %s budget %g", ErrBudget, e.Budget, e.Limit)
}

// Unwrap returns ErrBudget.
func (e *BudgetError) Unwrap() error { return ErrBudget }

// Meter enforces one file's Budget across all its children and parsers.
// Create one per analysed file with NewMeter and hand it to every parser
// that file goes through; it is not safe for concurrent use.
type Meter struct {
	b       Budget
	members int
	total   int64
}

// NewMeter returns a Meter for b with its defaults filled in.
func NewMeter(b Budget) *Meter {
	return &Meter{b: b.WithDefaults()}
}

// Budget returns the budget m enforces, defaults filled in.
func (m *Meter) Budget() Budget { return m.b }

// Member accounts one more child of the file: ErrBudget (wrapped, naming
// the budget) past MaxMembers. A refused member is not counted.
func (m *Meter) Member() error {
	if m.members >= m.b.MaxMembers {
		return &BudgetError{Budget: "members", Limit: float64(m.b.MaxMembers)}
	}
	m.members++
	return nil
}

// Reader wraps one child's decoded stream: reads fail with a wrapped
// ErrBudget past MaxMemberBytes, past MaxTotalBytes (all children so far),
// or past MaxRatio when compressed >= 0 and the decoded size reached
// RatioMinBytes. compressed < 0 means the stream is not compressed (or its
// compressed size is unknown) and the ratio is not checked. Bytes up to a
// cap are delivered; the read that would cross it returns them with the
// error, and every later read returns the error again.
func (m *Meter) Reader(r io.Reader, compressed int64) io.Reader {
	return &meteredReader{m: m, r: r, compressed: func() int64 { return compressed }}
}

// StreamReader is Reader for a stream decoded as its container arrives:
// compressed is asked at every read for the container's size as known so
// far (the bytes received, or more when the size is known in advance), so
// the ratio is never looser than Reader's with the final size.
func (m *Meter) StreamReader(r io.Reader, compressed func() int64) io.Reader {
	return &meteredReader{m: m, r: r, compressed: compressed}
}

type meteredReader struct {
	m          *Meter
	r          io.Reader
	compressed func() int64
	n          int64 // decoded bytes delivered so far
	err        error // sticky budget error
}

func (mr *meteredReader) Read(p []byte) (int, error) {
	if mr.err != nil {
		return 0, mr.err
	}
	b := mr.m.b
	// The most this read may deliver before a byte cap is crossed. One
	// more byte than allowed is requested so a stream that is exactly at
	// its cap still ends cleanly.
	allow := min(b.MaxMemberBytes-mr.n, b.MaxTotalBytes-mr.m.total)
	if allow < 0 {
		allow = 0
	}
	if int64(len(p)) > allow { // so allow+1 cannot overflow
		p = p[:allow+1]
	}
	n, err := mr.r.Read(p)
	if n < 0 || n > len(p) {
		n, err = 0, io.ErrNoProgress
	}
	if int64(n) > allow {
		n = int(allow)
		switch {
		case mr.n+int64(n) >= b.MaxMemberBytes:
			mr.err = &BudgetError{Budget: "member_bytes", Limit: float64(b.MaxMemberBytes)}
		default:
			mr.err = &BudgetError{Budget: "total_bytes", Limit: float64(b.MaxTotalBytes)}
		}
	}
	mr.n += int64(n)
	mr.m.total += int64(n)
	if mr.err == nil && mr.n >= b.RatioMinBytes {
		if c := mr.compressed(); c >= 0 && float64(mr.n) > b.MaxRatio*float64(max(c, 1)) {
			mr.err = &BudgetError{Budget: "ratio", Limit: b.MaxRatio}
		}
	}
	if mr.err != nil {
		return n, mr.err
	}
	return n, err
}
