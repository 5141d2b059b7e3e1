// Package testkit holds what Athena's tests share: the EICAR test file,
// built from pieces so that no file in the repository holds it whole, and a
// poller that waits for a condition instead of sleeping.
package testkit

import (
	"strings"
	"testing"
	"time"
)

// EICAR returns the 68-byte EICAR anti-virus test file.
func EICAR() []byte {
	return []byte(strings.Join([]string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR-STANDARD-", "ANTIVIRUS-TEST-FILE!$H+H*"}, ""))
}

// WaitFor polls cond every few milliseconds until it holds, and fails the
// test if it does not within timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}
