package formats

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestMeterMember(t *testing.T) {
	m := NewMeter(Budget{MaxMembers: 3})
	for i := range 3 {
		if err := m.Member(); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	err := m.Member()
	var be *BudgetError
	if !errors.Is(err, ErrBudget) || !errors.As(err, &be) || be.Budget != "members" || be.Limit != 3 {
		t.Fatalf("4th member: got %v, want members budget 3", err)
	}
}

func TestMeterReader(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name       string
		budget     Budget
		sizes      []int64 // decoded size of each child, read in turn
		compressed int64
		wantBudget string // "" when every child reads through
		wantRead   int64  // total bytes delivered
	}{
		{"under every cap", Budget{}, []int64{1000, 2000}, 100, "", 3000},
		{"member exactly at cap", Budget{MaxMemberBytes: 4096}, []int64{4096}, -1, "", 4096},
		{"member past cap", Budget{MaxMemberBytes: 4096}, []int64{4097}, -1, "member_bytes", 4096},
		{"total past cap", Budget{MaxTotalBytes: 5000}, []int64{3000, 3000}, -1, "total_bytes", 5000},
		{"ratio below min bytes", Budget{}, []int64{mib - 1}, 1, "", mib - 1},
		{"ratio tripped", Budget{}, []int64{10 * mib}, 10 << 10, "ratio", mib},
		{"ratio fine", Budget{}, []int64{3 * mib}, mib, "", 3 * mib},
		{"ratio unknown size", Budget{}, []int64{3 * mib}, -1, "", 3 * mib},
		{"ratio zero compressed", Budget{RatioMinBytes: 10}, []int64{1000}, 0, "ratio", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMeter(tt.budget)
			var got int64
			var err error
			for _, size := range tt.sizes {
				var n int64
				n, err = io.Copy(io.Discard, m.Reader(io.LimitReader(zeros{}, size), tt.compressed))
				got += n
				if err != nil {
					break
				}
			}
			var be *BudgetError
			switch {
			case tt.wantBudget == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.wantBudget != "" && (!errors.As(err, &be) || be.Budget != tt.wantBudget || !errors.Is(err, ErrBudget)):
				t.Fatalf("got error %v, want %s budget", err, tt.wantBudget)
			}
			// The ratio check runs after a whole read, so it may deliver up to one
			// buffer past RatioMinBytes.
			if got != tt.wantRead && !(tt.wantBudget == "ratio" && got >= tt.wantRead && got < tt.wantRead+64<<10) {
				t.Fatalf("read %d bytes, want %d", got, tt.wantRead)
			}
		})
	}
}

func TestMeterReaderSticky(t *testing.T) {
	m := NewMeter(Budget{MaxMemberBytes: 10})
	r := m.Reader(strings.NewReader(strings.Repeat("x", 100)), -1)
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	if n != 10 || !errors.Is(err, ErrBudget) {
		t.Fatalf("first read: got %d, %v; want 10, budget", n, err)
	}
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, ErrBudget) {
		t.Fatalf("second read: got %d, %v; want 0, budget", n, err)
	}
	if got := m.Budget().MaxMemberBytes; got != 10 {
		t.Fatalf("Budget().MaxMemberBytes = %d, want 10", got)
	}
	// The data delivered is the data read.
	r = NewMeter(Budget{}).Reader(strings.NewReader("hello"), -1)
	b, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(b, []byte("hello")) {
		t.Fatalf("ReadAll: got %q, %v", b, err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestSanitizePath(t *testing.T) {
	tests := []struct {
		in, clean, problem string
	}{
		{"a/b.txt", "a/b.txt", ""},
		{"../../etc/passwd", "etc/passwd", "parent"},
		{"/abs", "abs", "absolute"},
		{"/etc/../../x", "x", "absolute"},
		{`C:\win\x`, "win/x", "drive"},
		{"c:x", "x", "drive"},
		{"a\x00b", "a", "nul"},
		{"\x00", "unnamed", "nul"},
		{"", "unnamed", "empty"},
		{"/", "unnamed", "absolute"},
		{".", "unnamed", "empty"},
		{"./a/./b", "a/b", ""},
		{"a/../../b", "b", "parent"},
		{"a/b/../c", "a/c", "parent"},
		{`dir\sub\file`, "dir/sub/file", ""},
		{`..\..\evil.exe`, "evil.exe", "parent"},
		{"a//b/", "a/b", ""},
		{"1:x", "1:x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			clean, problem := SanitizePath(tt.in)
			if clean != tt.clean || problem != tt.problem {
				t.Fatalf("SanitizePath(%q) = %q, %q; want %q, %q", tt.in, clean, problem, tt.clean, tt.problem)
			}
			if strings.HasPrefix(clean, "/") || clean == "" || strings.Contains("/"+clean+"/", "/../") {
				t.Fatalf("SanitizePath(%q) = %q is not a safe relative path", tt.in, clean)
			}
		})
	}
}

func FuzzSanitizePath(f *testing.F) {
	for _, s := range []string{"../../etc/passwd", "/abs", `C:\win\x`, "a\x00b", "", "./a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		clean, _ := SanitizePath(s)
		if clean == "" || strings.HasPrefix(clean, "/") || strings.Contains("/"+clean+"/", "/../") ||
			strings.ContainsRune(clean, 0) || strings.Contains(clean, `\`) {
			t.Fatalf("SanitizePath(%q) = %q", s, clean)
		}
	})
}
