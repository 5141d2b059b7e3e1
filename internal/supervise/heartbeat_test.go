package supervise

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

func TestBeatRoundTrip(t *testing.T) {
	t.Parallel()
	long := "a" + strings.Repeat("é", maxInfo) // é is 2 bytes: the cut splits one
	tests := []struct {
		name     string
		ok       bool
		info     string
		wantInfo string
	}{
		{"ok", true, "idle", "idle"},
		{"not ok", false, "job exceeded its deadline", "job exceeded its deadline"},
		{"empty info", true, "", ""},
		{"escaped", true, "a \"quoted\"\nline", "a \"quoted\"\nline"},
		{"long info is cut", true, long, long[:maxInfo-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := encodeBeat(tt.ok, tt.info)
			if len(line) > maxLine || strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' {
				t.Fatalf("encodeBeat: got %q, want one line of at most %d bytes", line, maxLine)
			}
			ok, info, err := parseBeat(line[:len(line)-1])
			if err != nil {
				t.Fatalf("parseBeat(%q): %v", line, err)
			}
			if ok != tt.ok || info != tt.wantInfo || !utf8.ValidString(info) {
				t.Errorf("round trip: got (%v, %q), want (%v, %q)", ok, info, tt.ok, tt.wantInfo)
			}
		})
	}
}

func TestParseBeatRejects(t *testing.T) {
	t.Parallel()
	for _, line := range []string{"", "ok", `{"info":"no ok"}`, `{"ok":"yes"}`, `[true]`} {
		if _, _, err := parseBeat([]byte(line)); err == nil {
			t.Errorf("parseBeat(%q): got nil error, want one", line)
		}
	}
}

// heartbeatPipe sets EnvHeartbeatFD to a descriptor of a fresh pipe's write
// end, as a supervisor would, and returns the read end. Heartbeat closes that
// descriptor, so it is a duplicate of the write end, which is closed here.
func heartbeatPipe(t *testing.T) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	fd, err := syscall.Dup(int(w.Fd()))
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvHeartbeatFD, strconv.Itoa(fd))
	return r
}

func TestHeartbeatWritesUntilUnhealthy(t *testing.T) {
	r := heartbeatPipe(t)
	calls := 0
	healthy := func() (bool, string) {
		calls++
		return calls < 3, "call " + strconv.Itoa(calls)
	}
	if err := Heartbeat(t.Context(), time.Millisecond, healthy); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("Heartbeat: got %v, want ErrUnhealthy", err)
	}

	// Heartbeat closed the only write end, so the reader sees every line, then EOF.
	var got []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		ok, info, err := parseBeat(sc.Bytes())
		if err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, strconv.FormatBool(ok)+" "+info)
	}
	want := []string{"true call 1", "true call 2", "false call 3"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines: got %q, want %q", got, want)
	}
}

func TestHeartbeatStopsWithContext(t *testing.T) {
	heartbeatPipe(t)
	ctx, cancel := context.WithCancel(t.Context())
	healthy := func() (bool, string) {
		cancel()
		return true, ""
	}
	if err := Heartbeat(ctx, time.Hour, healthy); !errors.Is(err, context.Canceled) {
		t.Errorf("Heartbeat: got %v, want context.Canceled", err)
	}
}

func TestHeartbeatEnvironment(t *testing.T) {
	never := func() (bool, string) {
		t.Error("healthy called")
		return true, ""
	}
	tests := []struct {
		name    string
		env     *string // nil: unset
		wantErr bool
	}{
		{"unset: not supervised", nil, false},
		{"not a number", new("x"), true},
		{"standard stream", new("1"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env == nil {
				t.Setenv(EnvHeartbeatFD, "")
				os.Unsetenv(EnvHeartbeatFD)
			} else {
				t.Setenv(EnvHeartbeatFD, *tt.env)
			}
			err := Heartbeat(t.Context(), time.Second, never)
			if (err != nil) != tt.wantErr {
				t.Errorf("Heartbeat: got %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
