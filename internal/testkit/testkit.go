// Package testkit holds what Athena's tests share: the EICAR test file,
// built from pieces so that no file in the repository holds it whole, and a
// poller that waits for a condition instead of sleeping.
package testkit

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// EICAR returns the 68-byte EICAR anti-virus test file.
func EICAR() []byte {
	return []byte(strings.Join([]string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR-STANDARD-", "ANTIVIRUS-TEST-FILE!$H+H*"}, ""))
}

// pollEvery is how often the pollers below check their condition.
const pollEvery = 10 * time.Millisecond

// Poll checks cond every few milliseconds until it holds (true) or timeout
// passes (false). Use it where not holding is an outcome, not a failure.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// WaitFor polls cond until it holds, and fails the test if it does not
// within timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// WaitForNil polls cond until it returns nil, and fails the test with the
// last error if it does not within timeout.
func WaitForNil(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	var err error
	if !Poll(timeout, func() bool { err = cond(); return err == nil }) {
		t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
	}
}

// SyncBuffer collects a child process's output safely while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
