package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// instreamChunk is the size of the chunks the INSTREAM client sends.
const instreamChunk = 64 << 10

// writeInstream sends r to clamd as one INSTREAM command: "zINSTREAM\0",
// then chunks of at most chunk bytes, each after its length as a 4-byte
// big-endian integer, then a zero length.
func writeInstream(w io.Writer, r io.Reader, chunk int) error {
	if _, err := io.WriteString(w, "zINSTREAM\x00"); err != nil {
		return err
	}
	buf := make([]byte, 4+chunk)
	for {
		n, err := io.ReadFull(r, buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if _, werr := w.Write(buf[:4+n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	_, err := w.Write([]byte{0, 0, 0, 0})
	return err
}

// errClamd is a reply of clamd that ends in ERROR.
var errClamd = errors.New("clamd error")

// parseReply reads clamd's reply to a z-command (terminated by a zero
// byte, or by the end of the connection): "stream: OK", "stream: NAME
// FOUND", or "... ERROR". It returns the signature name when found, "" for
// OK, and an error wrapping errClamd for an ERROR reply.
func parseReply(reply []byte) (found string, err error) {
	s := strings.TrimSpace(string(bytes.TrimRight(reply, "\x00")))
	switch {
	case strings.HasSuffix(s, " FOUND"):
		s = strings.TrimSuffix(s, " FOUND")
		if i := strings.Index(s, ": "); i >= 0 {
			s = s[i+2:]
		}
		return s, nil
	case strings.HasSuffix(s, " ERROR"):
		return "", fmt.Errorf("%w: %s", errClamd, s)
	case strings.HasSuffix(s, ": OK") || s == "OK":
		return "", nil
	default:
		return "", fmt.Errorf("clamd: unexpected reply %q", s)
	}
}

// instreamFile scans one file through clamd at addr.
func instreamFile(ctx context.Context, addr, path string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := writeInstream(conn, f, instreamChunk); err != nil {
		return "", fmt.Errorf("clamd: send %s: %w", path, err)
	}
	reply, err := io.ReadAll(io.LimitReader(conn, 4096))
	if err != nil && len(reply) == 0 {
		return "", fmt.Errorf("clamd: reply for %s: %w", path, err)
	}
	return parseReply(reply)
}

// clamdPing sends zPING and reports whether clamd answered PONG.
func clamdPing(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(conn, "zPING\x00"); err != nil {
		return false
	}
	reply, _ := io.ReadAll(io.LimitReader(conn, 64))
	return string(bytes.TrimRight(reply, "\x00\n")) == "PONG"
}

// clamdConfig is clamd.conf for a private clamd: in the foreground, on
// 127.0.0.1:port, its database, pid file and temporary files in dir, no
// syslog, limits above the largest file.
func clamdConfig(dir string, port int, largest int64) string {
	limit := strconv.FormatInt(max(4*largest, 64<<20), 10)
	return strings.Join([]string{
		"Foreground yes",
		"TCPSocket " + strconv.Itoa(port),
		"TCPAddr 127.0.0.1",
		"DatabaseDirectory " + dir,
		"PidFile " + filepath.Join(dir, "clamd.pid"),
		"TemporaryDirectory " + filepath.Join(dir, "tmp"),
		"LogSyslog no",
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"LogVerbose no",
		"StreamMaxLength " + limit,
		"MaxFileSize " + limit,
		"MaxScanSize " + limit,
		"MaxThreads 8",
		"SelfCheck 3600",
		"Bytecode no",
		"",
	}, "\n")
}

// clamdRun is a clamd process started by startClamd.
type clamdRun struct {
	cmd  *exec.Cmd
	addr string
	done chan error
	Load time.Duration // from start to PONG: the database load
}

var badLine = regexp.MustCompile(`Problem parsing database at line (\d+)`)
var badFile = regexp.MustCompile(`Can't load (\S+?): `)

// startClamd writes db and the configuration into dir and starts clamd on
// a free port. When clamd refuses a signature, it simplifies that line
// (simplifySig) and tries again, up to 200 times.
func startClamd(ctx context.Context, clamd, dir string, db *sigDB, largest int64) (*clamdRun, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if err := db.write(dir); err != nil {
			return nil, err
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "clamd.conf")
		if err := os.WriteFile(conf, []byte(clamdConfig(dir, port, largest)), 0o644); err != nil {
			return nil, err
		}
		os.Remove(filepath.Join(dir, "clamd.log"))
		r := &clamdRun{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan error, 1)}
		var stderr bytes.Buffer
		r.cmd = exec.Command(clamd, "--foreground", "--config-file="+conf)
		r.cmd.Stdout, r.cmd.Stderr = &stderr, &stderr
		start := time.Now()
		if err := r.cmd.Start(); err != nil {
			return nil, err
		}
		go func() { r.done <- r.cmd.Wait() }()
		ready, exitErr := false, error(nil)
	wait:
		for time.Since(start) < 2*time.Minute {
			select {
			case exitErr = <-r.done:
				break wait
			case <-ctx.Done():
				r.stop()
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			if clamdPing(r.addr) {
				ready = true
				break
			}
		}
		if ready {
			r.Load = time.Since(start)
			return r, nil
		}
		if exitErr == nil {
			r.stop()
			return nil, fmt.Errorf("clamd: no PONG after 2 minutes\n%s", stderr.Bytes())
		}
		log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
		out := append(stderr.Bytes(), log...)
		m, f := badLine.FindSubmatch(out), badFile.FindSubmatch(out)
		if m == nil || f == nil || attempt >= 200 {
			return nil, fmt.Errorf("clamd exited (%v)\n%s", exitErr, out)
		}
		n, _ := strconv.Atoi(string(m[1]))
		lines := &db.NDB
		if strings.HasSuffix(string(f[1]), ".ldb") {
			lines = &db.LDB
		}
		if n < 1 || n > len(*lines) {
			return nil, fmt.Errorf("clamd refused line %d of %s\n%s", n, f[1], out)
		}
		simple, ok := simplifySig((*lines)[n-1])
		if !ok {
			// Drop it: nothing fixed is left to match on.
			*lines = append((*lines)[:n-1], (*lines)[n:]...)
			db.Stats.Skipped++
		} else {
			(*lines)[n-1] = simple
			db.Stats.Simplified++
		}
		db.count()
	}
}

// stop ends clamd with SIGTERM, then SIGKILL after 10 s.
func (r *clamdRun) stop() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
}

// clamdResult is the outcome of streaming a corpus through clamd.
type clamdResult struct {
	Wall     time.Duration
	Detected int      // files whose reply was FOUND
	Names    []string // file: signature, for the detected files
	Errors   int
	FirstErr error
}

// instreamAll streams every file to clamd over conns concurrent
// connections, one file per connection.
func instreamAll(ctx context.Context, addr string, paths []string, conns int) clamdResult {
	var (
		mu  sync.Mutex
		res clamdResult
		wg  sync.WaitGroup
	)
	next := make(chan string)
	start := time.Now()
	for range max(conns, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				fctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
				name, err := instreamFile(fctx, addr, p)
				cancel()
				mu.Lock()
				switch {
				case err != nil:
					res.Errors++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
				case name != "":
					res.Detected++
					res.Names = append(res.Names, filepath.Base(p)+": "+name)
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range paths {
		next <- p
	}
	close(next)
	wg.Wait()
	res.Wall = time.Since(start)
	return res
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
