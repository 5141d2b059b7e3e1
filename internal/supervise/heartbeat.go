package supervise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EnvHeartbeatFD names the environment variable through which the
// supervisor tells a child which inherited file descriptor is the write end
// of its heartbeat pipe.
const EnvHeartbeatFD = "ATHENA_HEARTBEAT_FD"

// ErrUnhealthy is returned by [Heartbeat] once healthy has reported not ok.
// The supervisor kills the process as soon as it reads that report.
var ErrUnhealthy = errors.New("supervise: child reported unhealthy")

const (
	// maxInfo bounds the info string a child sends, so that a heartbeat line
	// stays far below PIPE_BUF (4096) and is written atomically.
	maxInfo = 256
	// maxLine bounds the line the supervisor accepts; the worst case of
	// maxInfo bytes JSON-escaped as \u00XX fits.
	maxLine = 4096
)

// beat is one heartbeat line on the wire.
type beat struct {
	OK   *bool  `json:"ok"`
	Info string `json:"info,omitempty"`
}

// encodeBeat returns the newline-terminated line for one heartbeat, with
// info cut to maxInfo bytes.
func encodeBeat(ok bool, info string) []byte {
	if len(info) > maxInfo {
		info = strings.ToValidUTF8(info[:maxInfo], "")
	}
	// A bool and a string always marshal.
	line, _ := json.Marshal(beat{OK: &ok, Info: info})
	return append(line, '\n')
}

// parseBeat reads one heartbeat line (without its newline).
func parseBeat(line []byte) (ok bool, info string, err error) {
	var b beat
	if err := json.Unmarshal(line, &b); err != nil {
		return false, "", fmt.Errorf("supervise: heartbeat line: %w", err)
	}
	if b.OK == nil {
		return false, "", errors.New(`supervise: heartbeat line: missing "ok"`)
	}
	return *b.OK, b.Info, nil
}

// Heartbeat is the child's side of supervision. When the process was started
// by a [Supervisor] (the environment variable [EnvHeartbeatFD] is set), it
// calls healthy once per interval and writes the result to the supervisor as
// one line, starting at once: the first line tells the supervisor the child
// is ready. When the variable is not set, Heartbeat returns nil at once.
//
// healthy reports whether the process can still do its work, and a short
// free-form info string (cut to 256 bytes) that the supervisor shows in
// [ChildStatus] and its logs. It runs on Heartbeat's goroutine and should be
// quick; a healthy that blocks stops the heartbeats, and the supervisor kills
// the process once [Config].HeartbeatTimeout has passed. When healthy returns
// ok == false, Heartbeat sends that report, stops writing and returns
// [ErrUnhealthy]; the supervisor kills the process on reading the report.
// This is how an engine says, for example, that its current job has overrun
// its deadline.
//
// Run Heartbeat on its own goroutine, once per process, as soon as the
// process can serve: the first line must reach the supervisor within its
// [Config].StartTimeout of the process starting. Because the heartbeats are driven
// by this process's own timer, a runtime that stops all goroutines (for
// example a wasm guest that blocks garbage collection) stops them too.
//
// Heartbeat returns ctx.Err() when ctx is done, [ErrUnhealthy] as above, or
// an error if the pipe cannot be written, which usually means the supervisor
// has gone away; the caller should then shut the process down. It closes the
// pipe before returning.
func Heartbeat(ctx context.Context, interval time.Duration, healthy func() (ok bool, info string)) error {
	v, set := os.LookupEnv(EnvHeartbeatFD)
	if !set {
		return nil
	}
	if interval <= 0 {
		return fmt.Errorf("supervise: heartbeat interval must be positive, got %v", interval)
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return fmt.Errorf("supervise: %s=%q is not an inherited file descriptor", EnvHeartbeatFD, v)
	}
	// Keep the pipe out of any process this one starts: a grandchild holding
	// it open would hide this process's death from the supervisor.
	syscall.CloseOnExec(fd)
	// A non-blocking descriptor gives a pollable *os.File, so that a write
	// can time out instead of blocking forever.
	if err := syscall.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("supervise: heartbeat fd %d: %w", fd, err)
	}
	f := os.NewFile(uintptr(fd), "athena-heartbeat")
	defer f.Close()

	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ok, info := healthy()
		if err := f.SetWriteDeadline(time.Now().Add(interval)); err != nil {
			return fmt.Errorf("supervise: heartbeat: %w", err)
		}
		if _, err := f.Write(encodeBeat(ok, info)); err != nil {
			return fmt.Errorf("supervise: heartbeat: %w", err)
		}
		if !ok {
			return ErrUnhealthy
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
