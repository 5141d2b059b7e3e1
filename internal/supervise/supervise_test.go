package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"athena/internal/testkit"
)

// childEnv selects a child behaviour when the test binary runs as a child.
const childEnv = "SUPERVISE_TEST_CHILD"

// Timings of the process tests: children beat every childInterval and are
// killed after testTimeout without one.
const (
	childInterval = 50 * time.Millisecond
	testTimeout   = 500 * time.Millisecond
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

// runChild is the body of a child process. Modes:
//   - healthy: heartbeats until killed;
//   - freeze: three heartbeats, then healthy blocks, so the process stays
//     alive but silent, as if its runtime were frozen;
//   - unhealthy: three heartbeats, then reports not ok and stays alive;
//   - crash: one heartbeat, then exits with status 3;
//   - silent: never heartbeats;
//   - drain: like healthy, but on SIGTERM stops heartbeating and never
//     exits, like an engine whose graceful shutdown hangs.
func runChild(mode string) int {
	ctx := context.Background()
	if mode == "drain" {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM)
		defer stop()
	}
	if mode == "silent" {
		time.Sleep(time.Hour)
	}
	calls := 0
	healthy := func() (bool, string) {
		calls++
		switch {
		case mode == "freeze" && calls > 3:
			time.Sleep(time.Hour)
		case mode == "unhealthy" && calls > 3:
			return false, "job exceeded its deadline"
		case mode == "crash" && calls > 1:
			os.Exit(3)
		}
		return true, mode
	}
	err := Heartbeat(ctx, childInterval, healthy)
	if errors.Is(err, ErrUnhealthy) || mode == "drain" {
		time.Sleep(time.Hour) // wait for the supervisor to kill us
	}
	fmt.Fprintln(os.Stderr, "child:", err)
	return 1
}

// childCommand returns a Config.Command that runs this test binary as a
// child in modes[i] for slot i.
func childCommand(modes ...string) func(i int) *exec.Cmd {
	return func(i int) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+modes[i])
		cmd.Stderr = os.Stderr
		return cmd
	}
}

// testConfig is a Config for modes with the test timings, a fresh registry
// and a logger writing to the test's output.
func testConfig(t *testing.T, modes ...string) (Config, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	return Config{
		Command:           childCommand(modes...),
		Count:             len(modes),
		StartTimeout:      10 * time.Second, // a loaded machine starts the race-enabled binary slowly
		HeartbeatTimeout:  testTimeout,
		RestartBackoffMin: 20 * time.Millisecond,
		RestartBackoffMax: 200 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer:        reg,
	}, reg
}

// start creates and starts a supervisor for cfg, closed when the test ends.
func start(t *testing.T, cfg Config) *Supervisor {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// waitReady waits up to 10s for n ready children.
func waitReady(t *testing.T, s *Supervisor, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx, n); err != nil {
		t.Fatalf("WaitReady(%d): %v; status %+v", n, err, s.Status())
	}
}

// gone reports whether no process has the given pid.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// metricValue returns the value of the counter or gauge name whose labels
// include all of labels (given as name, value pairs), or -1 if absent.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func TestChildrenBecomeReady(t *testing.T) {
	t.Parallel()
	cfg, reg := testConfig(t, "healthy", "healthy", "healthy")
	s := start(t, cfg)
	waitReady(t, s, 3)

	pids := map[int]bool{}
	for _, st := range s.Status() {
		if st.State != StateReady || st.PID == 0 || st.Info != "healthy" || st.LastHeartbeat.IsZero() {
			t.Errorf("slot %d: got %+v, want ready with a pid, info \"healthy\" and a heartbeat", st.Slot, st)
		}
		pids[st.PID] = true
	}
	if got, want := len(pids), 3; got != want {
		t.Errorf("distinct pids: got %d, want %d", got, want)
	}
	if got, want := metricValue(t, reg, "athena_supervisor_children_running"), 3.0; got != want {
		t.Errorf("children_running: got %v, want %v", got, want)
	}
	if got := metricValue(t, reg, "athena_supervisor_heartbeat_age_seconds", "slot", "2"); got < 0 || got > 5 {
		t.Errorf("heartbeat_age_seconds{slot=2}: got %v, want within [0, 5]", got)
	}
}

func TestFrozenChildIsKilledAndReplaced(t *testing.T) {
	t.Parallel()
	cfg, reg := testConfig(t, "healthy", "freeze")
	s := start(t, cfg)
	waitReady(t, s, 2)
	frozen := s.Status()[1].PID

	// The child freezes after about 3 intervals and is killed testTimeout
	// later; allow a generous margin for a loaded machine.
	testkit.WaitFor(t, testTimeout+5*time.Second, "the frozen child replaced", func() bool {
		st := s.Status()[1]
		return st.PID != 0 && st.PID != frozen && st.Restarts >= 1
	})
	if !gone(frozen) {
		t.Errorf("frozen child %d still exists", frozen)
	}
	if got := metricValue(t, reg, "athena_supervisor_restarts_total", "reason", reasonMissedHeartbeat); got < 1 {
		t.Errorf("restarts_total{reason=missed_heartbeat}: got %v, want >= 1", got)
	}
}

func TestSilentChildIsKilledAfterStartTimeout(t *testing.T) {
	t.Parallel()
	cfg, reg := testConfig(t, "silent")
	cfg.StartTimeout = testTimeout
	s := start(t, cfg)
	first := s.Status()[0].PID

	testkit.WaitFor(t, testTimeout+5*time.Second, "the child replaced", func() bool {
		st := s.Status()[0]
		return st.PID != 0 && st.PID != first && st.Restarts >= 1
	})
	if !gone(first) {
		t.Errorf("silent child %d still exists", first)
	}
	if got := metricValue(t, reg, "athena_supervisor_restarts_total", "reason", reasonMissedHeartbeat); got < 1 {
		t.Errorf("restarts_total{reason=missed_heartbeat}: got %v, want >= 1", got)
	}
	if got, want := s.Status()[0].State, StateStarting; got != want {
		t.Errorf("state: got %q, want %q", got, want)
	}
}

func TestUnhealthyChildIsKilledAtOnce(t *testing.T) {
	t.Parallel()
	cfg, reg := testConfig(t, "unhealthy")
	// Far longer than the wait below: only the report can trigger the kill.
	cfg.HeartbeatTimeout = time.Minute
	s := start(t, cfg)
	waitReady(t, s, 1)
	first := s.Status()[0].PID

	testkit.WaitFor(t, 10*time.Second, "a restart for unhealthy", func() bool {
		return metricValue(t, reg, "athena_supervisor_restarts_total", "reason", reasonUnhealthy) >= 1
	})
	testkit.WaitFor(t, 10*time.Second, "the unhealthy child gone", func() bool { return gone(first) })
	if got := metricValue(t, reg, "athena_supervisor_restarts_total", "reason", reasonMissedHeartbeat); got != 0 {
		t.Errorf("restarts_total{reason=missed_heartbeat}: got %v, want 0", got)
	}
}

// delayRecorder is a slog.Handler that records the delay of every
// "restarting child" event.
type delayRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *delayRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *delayRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *delayRecorder) WithGroup(string) slog.Handler            { return r }
func (r *delayRecorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "restarting child" {
		return nil
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "delay" {
			r.mu.Lock()
			r.delays = append(r.delays, a.Value.Duration())
			r.mu.Unlock()
		}
		return true
	})
	return nil
}

func (r *delayRecorder) first(n int) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.delays) < n {
		return nil
	}
	return append([]time.Duration(nil), r.delays[:n]...)
}

func TestCrashingChildIsRestartedWithBackoff(t *testing.T) {
	t.Parallel()
	const (
		lo = 20 * time.Millisecond
		hi = 80 * time.Millisecond
	)
	tests := []struct {
		name  string
		reset time.Duration // RestartBackoffReset
		want  []time.Duration
	}{
		{"doubles up to max", time.Hour, []time.Duration{lo, 2 * lo, hi, hi}},
		// A crash child is healthy for about one interval before it exits.
		{"resets after a healthy run", time.Nanosecond, []time.Duration{lo, lo, lo, lo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, reg := testConfig(t, "crash")
			cfg.RestartBackoffMin, cfg.RestartBackoffMax, cfg.RestartBackoffReset = lo, hi, tt.reset
			cfg.HeartbeatTimeout = time.Minute // every child must end by crashing
			rec := &delayRecorder{}
			cfg.Logger = slog.New(rec)
			s := start(t, cfg)

			var got []time.Duration
			testkit.WaitFor(t, 20*time.Second, "the restarts", func() bool {
				got = rec.first(len(tt.want))
				return got != nil && s.Status()[0].Restarts >= len(tt.want)
			})
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Fatalf("restart delays: got %v, want %v", got, tt.want)
				}
			}
			if got, want := metricValue(t, reg, "athena_supervisor_restarts_total", "reason", reasonExit), float64(len(tt.want)); got < want {
				t.Errorf("restarts_total{reason=exit}: got %v, want >= %v", got, want)
			}
		})
	}
}

func TestCloseStopsAllChildren(t *testing.T) {
	t.Parallel()
	cfg, reg := testConfig(t, "healthy", "healthy", "healthy")
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitReady(t, s, 3)
	var pids []int
	for _, st := range s.Status() {
		pids = append(pids, st.PID)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("child %d still exists after Close", pid)
		}
	}
	for _, st := range s.Status() {
		if st.State != StateStopped || st.PID != 0 {
			t.Errorf("slot %d after Close: got state %q pid %d, want stopped, 0", st.Slot, st.State, st.PID)
		}
	}
	if got, want := metricValue(t, reg, "athena_supervisor_children_running"), 0.0; got != want {
		t.Errorf("children_running after Close: got %v, want %v", got, want)
	}
	if err := s.WaitReady(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitReady after Close: got %v, want ErrClosed", err)
	}
	if err := s.Start(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: got %v, want ErrClosed", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}

func TestCloseKillsChildrenThatDoNotStop(t *testing.T) {
	t.Parallel()
	cfg, _ := testConfig(t, "drain", "healthy")
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitReady(t, s, 2)
	var pids []int
	for _, st := range s.Status() {
		pids = append(pids, st.PID)
	}

	// Longer than testTimeout: the silent drain child must not be killed for
	// missing heartbeats, only when the grace period ends, so Close reports
	// the kill.
	ctx, cancel := context.WithTimeout(t.Context(), 2*testTimeout)
	defer cancel()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: got %v, want an error wrapping context.DeadlineExceeded", err)
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("child %d still exists after Close", pid)
		}
	}
}

func TestStartFailureKillsStartedChildren(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var cmds []*exec.Cmd
	cfg, _ := testConfig(t, "healthy", "healthy")
	healthy := cfg.Command
	cfg.Command = func(i int) *exec.Cmd {
		cmd := healthy(i)
		if i == 1 {
			cmd = exec.Command("/nonexistent/athena")
		}
		mu.Lock()
		cmds = append(cmds, cmd)
		mu.Unlock()
		return cmd
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(t.Context()); err == nil {
		t.Fatal("Start: got nil, want an error")
	}
	if cmds[0].ProcessState == nil || !gone(cmds[0].Process.Pid) {
		t.Errorf("slot 0's child was not killed and reaped")
	}
	if err := s.WaitReady(t.Context(), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitReady after failed Start: got %v, want ErrClosed", err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Errorf("Close after failed Start: %v", err)
	}
}

func TestWaitReady(t *testing.T) {
	t.Parallel()
	cfg, _ := testConfig(t, "healthy")
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.WaitReady(t.Context(), 2); err == nil {
		t.Error("WaitReady(2) with 1 slot: got nil, want an error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.WaitReady(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitReady with a cancelled ctx: got %v, want context.Canceled", err)
	}
	if err := s.WaitReady(ctx, 0); err != nil {
		t.Errorf("WaitReady(0): got %v, want nil", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	valid := func() Config { return Config{Command: childCommand("healthy"), Count: 1} }
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no command", func(c *Config) { c.Command = nil }},
		{"zero count", func(c *Config) { c.Count = 0 }},
		{"negative timeout", func(c *Config) { c.HeartbeatTimeout = -time.Second }},
		{"negative reset", func(c *Config) { c.RestartBackoffReset = -time.Second }},
		{"min above max", func(c *Config) { c.RestartBackoffMin, c.RestartBackoffMax = time.Second, time.Millisecond }},
		{"min above default max", func(c *Config) { c.RestartBackoffMin = time.Minute }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(&cfg)
			if _, err := New(cfg); err == nil {
				t.Errorf("New: got nil error, want one")
			}
		})
	}

	s, err := New(valid())
	if err != nil {
		t.Fatalf("New(valid): %v", err)
	}
	got := s.cfg
	if got.StartTimeout != 30*time.Second || got.HeartbeatTimeout != 5*time.Second || got.RestartBackoffMin != 100*time.Millisecond ||
		got.RestartBackoffMax != 5*time.Second || got.RestartBackoffReset != 10*time.Second || got.Logger == nil {
		t.Errorf("defaults: got %+v", got)
	}

	reg := prometheus.NewRegistry()
	for i, wantErr := range []bool{false, true} {
		cfg := valid()
		cfg.Registerer = reg
		if _, err := New(cfg); (err != nil) != wantErr {
			t.Errorf("New #%d on one registry: got error %v, want error %v", i+1, err, wantErr)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	var got []time.Duration
	for range 6 {
		got = append(got, b.next())
	}
	b.reset()
	got = append(got, b.next())
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 100}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays: got %v, want %v ms", got, want)
		}
	}
}
