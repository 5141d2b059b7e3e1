// Package redistest runs a real redis-server for tests: on a free loopback
// port, with its files in a temporary directory, persistence off, and gone
// when the test ends. Tests can kill it (SIGKILL, as a crash would) and
// restart it on the same port to exercise degradation and recovery, or put
// a Proxy in front of it and freeze that, for a network partition.
//
// It needs the redis-server binary in PATH (Debian package redis-server,
// which `make test` installs). When the binary is missing the helper fails
// the test instead of skipping it, so a missing dependency is never mistaken
// for a passing suite.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds the wait for a started server to answer PING.
const readyTimeout = 15 * time.Second

// Server is one redis-server process owned by a test. Its methods may be
// called from the test goroutine only; Addr and URL never change, not even
// across Restart.
type Server struct {
	// Addr is host:port of the server, on 127.0.0.1.
	Addr string
	// URL is Addr as a redis:// URL, what cache.Config.RedisURL takes.
	URL string

	t    testing.TB
	bin  string
	port int
	dir  string

	mu   sync.Mutex // guards proc
	proc *process
}

// process is one run of redis-server.
type process struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed when the process has been waited for
}

// Start runs a redis-server on a free loopback port and returns once it
// answers PING. The server is killed, and its directory removed, when the
// test ends. Start fails the test (it does not skip it) when redis-server is
// not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server is not installed (%v); `make test` installs it "+
			"(Debian package redis-server: apt-get install -y redis-server)", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(s.stop)
	// A port probed free can be taken before redis-server binds it; try a
	// few before giving up.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.URL = "redis://" + s.Addr + "/0"
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// Kill stops the server with SIGKILL, as a crash would, and waits for the
// process to be gone. Its data is lost: persistence is off. Killing a
// server that is not running does nothing.
func (s *Server) Kill() {
	s.t.Helper()
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Restart starts the server again on the same port, after Kill, and returns
// once it answers PING. It fails the test if the server cannot start, for
// example because something else took the port meanwhile.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// start runs redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	)
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, out: out, exited: make(chan struct{})}
	go func() { // owned by p: ends when the process does
		_ = cmd.Wait()
		close(p.exited)
	}()

	deadline := time.Now().Add(readyTimeout)
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		err := ping(s.Addr)
		if err == nil {
			s.mu.Lock()
			s.proc = p
			s.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
			return fmt.Errorf("redis-server on %s did not answer PING within %v (%v); its output:\n%s",
				s.Addr, readyTimeout, err, out.String())
		}
		select {
		case <-p.exited:
			return fmt.Errorf("redis-server on %s exited before answering PING; its output:\n%s",
				s.Addr, out.String())
		case <-poll.C:
		}
	}
}

// stop kills the server at the end of the test.
func (s *Server) stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
}

// ping sends one inline PING and expects +PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		// -LOADING and the like: the server is up but not ready yet.
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("find a free port: not a TCP address")
	}
	return addr.Port, nil
}

// syncBuffer is a bytes.Buffer that the process writes to while the test
// may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
