package redistest

import "testing"

func TestStartKillRestart(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping after Start: %v", err)
	}
	s.Kill()
	if err := ping(s.Addr); err == nil {
		t.Fatalf("ping after Kill: got nil error, want one")
	}
	s.Kill() // a second Kill does nothing
	s.Restart()
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
	if got, want := s.URL, "redis://"+s.Addr+"/0"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
}

func TestProxyFreezeThaw(t *testing.T) {
	s := Start(t)
	p := NewProxy(t, s)
	if err := ping(p.Addr); err != nil {
		t.Fatalf("ping through the proxy: %v", err)
	}
	p.Freeze()
	if err := ping(p.Addr); err == nil {
		t.Fatalf("ping through a frozen proxy: got nil error, want a timeout")
	}
	p.Thaw()
	if err := ping(p.Addr); err != nil {
		t.Fatalf("ping after Thaw: %v", err)
	}
}
