package testkit

import (
	"crypto/md5"
	"encoding/hex"
	"testing"
	"time"
)

func TestEICAR(t *testing.T) {
	// The published md5 of the EICAR test file.
	sum := md5.Sum(EICAR())
	if got, want := hex.EncodeToString(sum[:]), "44d88612fea8a8f36de82e1278abb02f"; got != want {
		t.Errorf("md5 = %s, want %s", got, want)
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	WaitFor(t, 5*time.Second, "three polls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
}
