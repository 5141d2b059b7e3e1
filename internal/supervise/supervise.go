// Package supervise runs a fixed number of child processes (Athena's engines
// under `athena serve`), watches their heartbeats, and kills and restarts a
// child that stops answering.
//
// A [Supervisor] keeps [Config].Count children running, one per slot, each
// built by [Config].Command. It hands every child the write end of a pipe as
// an extra file and names its descriptor in the environment variable
// [EnvHeartbeatFD]; the child runs [Heartbeat], which writes one line per
// interval; the first line means the child is ready. The supervisor kills a
// child with SIGKILL when its first line does not arrive within StartTimeout,
// when a later one does not arrive within HeartbeatTimeout of the previous
// one, or when a line reports it unhealthy, and restarts a child that dies
// for any reason. Restarts of a slot are delayed by an exponential backoff
// that resets once a child has stayed healthy long enough. Supervision
// assumes a kill loses no work: an engine's unacknowledged jobs are
// redelivered to another engine.
//
// The heartbeat wire format, for children not written in Go: one line of
// JSON per beat, {"ok":true,"info":"free text"} followed by a newline. "ok" is
// required and false means "kill me"; "info" is optional and shown in
// [ChildStatus]. Lines are at most 4096 bytes; a longer line ends reading, so
// the child soon misses its heartbeat.
//
// The package needs Unix pipes and signals.
package supervise

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrClosed is returned by [Supervisor.Start] and [Supervisor.WaitReady]
// once [Supervisor.Close] has been called or Start has failed.
var ErrClosed = errors.New("supervise: supervisor closed")

// Config configures a [Supervisor]. Zero durations take the documented
// defaults; Command and Count are required.
type Config struct {
	// Command builds a fresh, unstarted command for slot i (0 <= i < Count).
	// It is called for every start: by Start for each slot's first process,
	// then by the slot's own goroutine for restarts, so calls for different
	// slots may run concurrently. The supervisor
	// appends the heartbeat pipe to ExtraFiles and EnvHeartbeatFD to Env
	// (starting from cmd.Environ() when Env is nil), and waits for the
	// process with cmd.Wait: if Stdout or Stderr is not an *os.File, set
	// WaitDelay so that a grandchild holding them cannot stall a restart.
	Command func(i int) *exec.Cmd

	// Count is the number of children to keep running; at least 1.
	Count int

	// StartTimeout is how long a child may take from its start to its first
	// heartbeat before it is killed. It is separate from HeartbeatTimeout so
	// that a slow start (say, compiling modules with a cold cache on a busy
	// machine) does not force a lax liveness timeout. Default 30s.
	StartTimeout time.Duration

	// HeartbeatTimeout is how long a ready child may go without a heartbeat
	// before it is killed. Default 5s.
	HeartbeatTimeout time.Duration

	// RestartBackoffMin and RestartBackoffMax bound the delay before a
	// slot's child is restarted. The delay starts at the minimum and doubles
	// with each restart up to the maximum. Defaults 100ms and 5s.
	RestartBackoffMin time.Duration
	RestartBackoffMax time.Duration

	// RestartBackoffReset is how long a child must have been healthy (from
	// its first heartbeat to its death) for its slot's backoff to start
	// again from RestartBackoffMin. Default 10s.
	RestartBackoffReset time.Duration

	// Logger receives start, readiness, kill and restart events. Default:
	// discard.
	Logger *slog.Logger

	// Registerer, if not nil, receives the supervisor's metrics:
	// athena_supervisor_children_running, athena_supervisor_restarts_total
	// by reason (exit, missed_heartbeat, unhealthy, start_failed) and
	// athena_supervisor_heartbeat_age_seconds by slot. Registering two
	// supervisors on one Registerer fails.
	Registerer prometheus.Registerer
}

// State is where a slot's child is in its life cycle.
type State string

// States of a slot.
const (
	StateStopped  State = "stopped"  // no process: before Start or after Close
	StateStarting State = "starting" // process started, no heartbeat yet
	StateReady    State = "ready"    // heartbeats arriving
	StateStopping State = "stopping" // signalled, waiting for the process to exit
	StateBackoff  State = "backoff"  // process gone, waiting to restart it
)

// ChildStatus is a snapshot of one slot.
type ChildStatus struct {
	Slot          int
	PID           int // 0 when no process is running
	State         State
	Restarts      int       // restart attempts of this slot since Start
	LastHeartbeat time.Time // zero until the first heartbeat; kept across restarts
	Info          string    // the info of the last heartbeat
}

// Supervisor runs and watches Config.Count child processes. Create it with
// [New], then call [Supervisor.Start] once and [Supervisor.Close] once done.
// Its methods are safe for concurrent use.
type Supervisor struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	stopCtx context.Context // done when Close begins: children get SIGTERM
	stop    context.CancelFunc
	killCtx context.Context // done when Close's ctx ends: children get SIGKILL
	kill    context.CancelFunc
	wg      sync.WaitGroup // one per slot goroutine

	mu       sync.Mutex
	started  bool
	closed   bool
	done     chan struct{} // nil until Start succeeds; closed when all slot goroutines have returned
	children []ChildStatus // indexed by slot
	changed  chan struct{} // closed and replaced on every change of children or closed
}

// New validates cfg, applies its defaults and registers the metrics. It
// starts nothing.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Command == nil {
		return nil, errors.New("supervise: Config.Command is required")
	}
	if cfg.Count < 1 {
		return nil, fmt.Errorf("supervise: Config.Count must be at least 1, got %d", cfg.Count)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"StartTimeout", &cfg.StartTimeout, 30 * time.Second},
		{"HeartbeatTimeout", &cfg.HeartbeatTimeout, 5 * time.Second},
		{"RestartBackoffMin", &cfg.RestartBackoffMin, 100 * time.Millisecond},
		{"RestartBackoffMax", &cfg.RestartBackoffMax, 5 * time.Second},
		{"RestartBackoffReset", &cfg.RestartBackoffReset, 10 * time.Second},
	} {
		switch {
		case *d.v < 0:
			return nil, fmt.Errorf("supervise: Config.%s must not be negative, got %v", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if cfg.RestartBackoffMin > cfg.RestartBackoffMax {
		return nil, fmt.Errorf("supervise: Config.RestartBackoffMin %v exceeds RestartBackoffMax %v",
			cfg.RestartBackoffMin, cfg.RestartBackoffMax)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	s := &Supervisor{
		cfg:      cfg,
		log:      cfg.Logger,
		children: make([]ChildStatus, cfg.Count),
		changed:  make(chan struct{}),
	}
	for i := range s.children {
		s.children[i] = ChildStatus{Slot: i, State: StateStopped}
	}
	m, err := newMetrics(cfg.Registerer, s.Status)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	s.killCtx, s.kill = context.WithCancel(context.Background())
	return s, nil
}

// Start starts one child per slot and the goroutines that watch and restart
// them; it returns without waiting for heartbeats (see
// [Supervisor.WaitReady]). The children live until [Supervisor.Close], not
// until ctx is done: ctx only bounds Start itself.
//
// If a child cannot be started, or ctx is done before all are, Start kills
// the children it started, leaves the supervisor closed and returns the
// error. Start returns [ErrClosed] after Close and an error if called twice.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return errors.New("supervise: already started")
	}
	s.started = true

	kids := make([]*child, 0, s.cfg.Count)
	for i := range s.cfg.Count {
		err := ctx.Err()
		var c *child
		if err == nil {
			c, err = s.spawn(i)
		}
		if err != nil {
			for _, c := range kids {
				_ = c.cmd.Process.Kill()
				_ = c.cmd.Wait()
				c.hb.Close()
			}
			s.closed = true
			s.changedLocked()
			return fmt.Errorf("supervise: start: %w", err)
		}
		kids = append(kids, c)
	}

	s.done = make(chan struct{})
	for i, c := range kids {
		s.children[i].PID = c.cmd.Process.Pid
		s.children[i].State = StateStarting
		s.log.Info("child started", "slot", i, "pid", c.cmd.Process.Pid)
		s.wg.Add(1)
		go s.run(i, c)
	}
	s.changedLocked()
	go func() {
		s.wg.Wait()
		close(s.done)
	}()
	return nil
}

// Close stops the supervisor: it stops restarting children, sends each
// running child SIGTERM, waits for them to exit until ctx is done, then
// sends SIGKILL to those left and waits for them. When Close returns, every
// child process has exited and been reaped and every goroutine of the
// supervisor has returned. Heartbeat timeouts are not enforced while
// stopping: ctx alone bounds the grace period.
//
// Close returns nil if all children exited within the grace period, or an
// error wrapping ctx.Err() if some had to be killed. Calling Close again, or
// before Start, is allowed; later calls wait like the first.
func (s *Supervisor) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.changedLocked()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return nil
	}

	s.stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-done:
		return nil
	default:
	}
	s.kill()
	<-done
	return fmt.Errorf("supervise: close: killed children still running after the grace period: %w", ctx.Err())
}

// Status returns a snapshot of every slot, indexed by slot.
func (s *Supervisor) Status() []ChildStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.children)
}

// WaitReady blocks until at least n children are ready, that is have sent a
// heartbeat since their latest start. It returns an error wrapping
// ctx.Err() if ctx is done first, [ErrClosed] if the supervisor is or
// becomes closed, and an error at once if n exceeds Config.Count.
func (s *Supervisor) WaitReady(ctx context.Context, n int) error {
	if n > s.cfg.Count {
		return fmt.Errorf("supervise: wait for %d ready children: only %d slots", n, s.cfg.Count)
	}
	for {
		s.mu.Lock()
		closed, changed := s.closed, s.changed
		ready := 0
		for _, c := range s.children {
			if c.State == StateReady {
				ready++
			}
		}
		s.mu.Unlock()

		switch {
		case closed:
			return ErrClosed
		case ready >= n:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("supervise: wait for %d ready children, %d ready: %w", n, ready, ctx.Err())
		case <-changed:
		}
	}
}

// changedLocked wakes everyone waiting on s.changed. s.mu must be held.
func (s *Supervisor) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// update applies f to the status of slot i and wakes waiters.
func (s *Supervisor) update(i int, f func(*ChildStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.children[i])
	s.changedLocked()
}

// child is one started process of a slot.
type child struct {
	cmd *exec.Cmd
	hb  *os.File // read end of the heartbeat pipe; owned by the slot goroutine
}

// spawn builds and starts the command for slot i with its heartbeat pipe.
func (s *Supervisor) spawn(i int) (*child, error) {
	cmd := s.cfg.Command(i)
	if cmd == nil {
		return nil, fmt.Errorf("slot %d: Config.Command returned nil", i)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("slot %d: heartbeat pipe: %w", i, err)
	}
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, w)
	cmd.Env = append(cmd.Environ(), EnvHeartbeatFD+"="+strconv.Itoa(fd))
	err = cmd.Start()
	w.Close() // the child has its copy; ours would hide its death from the reader
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("slot %d: %w", i, err)
	}
	return &child{cmd: cmd, hb: r}, nil
}

// run owns slot i from Start until Close: it watches child c, restarts it
// with backoff whenever it dies, and returns once Close has stopped it.
func (s *Supervisor) run(i int, c *child) {
	defer s.wg.Done()
	bo := backoff{min: s.cfg.RestartBackoffMin, max: s.cfg.RestartBackoffMax}
	var reason string
	for {
		if c != nil {
			var healthy time.Duration
			reason, healthy = s.watch(i, c)
			if healthy >= s.cfg.RestartBackoffReset {
				bo.reset()
			}
		}
		if s.stopCtx.Err() != nil {
			s.update(i, func(st *ChildStatus) { st.State = StateStopped })
			return
		}

		delay := bo.next()
		s.update(i, func(st *ChildStatus) { st.State = StateBackoff })
		s.log.Info("restarting child", "slot", i, "reason", reason, "delay", delay)
		t := time.NewTimer(delay)
		select {
		case <-s.stopCtx.Done():
			t.Stop()
			s.update(i, func(st *ChildStatus) { st.State = StateStopped })
			return
		case <-t.C:
		}

		s.metrics.restarts.WithLabelValues(reason).Inc()
		var err error
		c, err = s.spawn(i)
		if err != nil {
			s.log.Error("cannot restart child", "slot", i, "err", err)
			reason = reasonStartFailed
			s.update(i, func(st *ChildStatus) { st.Restarts++ })
			continue
		}
		s.log.Info("child started", "slot", i, "pid", c.cmd.Process.Pid)
		s.update(i, func(st *ChildStatus) {
			st.PID = c.cmd.Process.Pid
			st.State = StateStarting
			st.Restarts++
		})
	}
}

// heartbeat is one parsed heartbeat line and when it arrived.
type heartbeat struct {
	ok   bool
	info string
	at   time.Time
}

// watch follows child c of slot i until the process has exited and its
// heartbeat reader has returned. It kills the child on a late or unhealthy
// heartbeat, and terminates it when Close begins. It returns why the child
// ended (a restart reason) and how long it was healthy: from its first
// heartbeat to its exit, or 0 if it sent none.
func (s *Supervisor) watch(i int, c *child) (reason string, healthy time.Duration) {
	log := s.log.With("slot", i, "pid", c.cmd.Process.Pid)
	beats := make(chan heartbeat)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		readBeats(log, c.hb, beats)
	}()
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()

	timeout := time.NewTimer(s.cfg.StartTimeout)
	defer timeout.Stop()
	var first time.Time
	stop, kill := s.stopCtx.Done(), (<-chan struct{})(nil)
	killNow := func(why string) {
		reason = why
		_ = c.cmd.Process.Kill()
		s.update(i, func(st *ChildStatus) { st.State = StateStopping })
	}
	for {
		select {
		case b := <-beats:
			if reason != "" || stop == nil {
				continue // already being killed or stopped
			}
			if !b.ok {
				log.Warn("child reports unhealthy; killing it", "info", b.info)
				s.update(i, func(st *ChildStatus) { st.Info = b.info })
				killNow(reasonUnhealthy)
				continue
			}
			timeout.Reset(s.cfg.HeartbeatTimeout)
			if first.IsZero() {
				first = b.at
				log.Info("child ready", "info", b.info)
			}
			s.update(i, func(st *ChildStatus) {
				st.State = StateReady
				st.LastHeartbeat = b.at
				st.Info = b.info
			})
		case <-timeout.C:
			if reason != "" || stop == nil {
				continue
			}
			log.Warn("child missed its heartbeat; killing it", "ready", !first.IsZero())
			killNow(reasonMissedHeartbeat)
		case <-stop:
			stop, kill = nil, s.killCtx.Done()
			log.Info("stopping child")
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			s.update(i, func(st *ChildStatus) { st.State = StateStopping })
		case <-kill:
			kill = nil
			log.Warn("child still running after the grace period; killing it")
			_ = c.cmd.Process.Kill()
		case err := <-exited:
			// Read the lines the child wrote before it died: they say whether
			// it had become ready. Its end of the pipe is closed now, so the
			// reader soon reaches EOF, unless a grandchild holds the pipe.
			cut := time.AfterFunc(time.Second, func() { c.hb.Close() })
			for draining := true; draining; {
				select {
				case b := <-beats:
					if b.ok && first.IsZero() {
						first = b.at
					}
				case <-readerDone:
					draining = false
				}
			}
			cut.Stop()
			c.hb.Close()

			switch {
			case stop == nil:
				log.Info("child stopped", "status", err)
			case reason == "":
				reason = reasonExit
				log.Warn("child exited", "status", err)
			default:
				log.Info("child killed", "reason", reason)
			}
			if !first.IsZero() {
				healthy = time.Since(first)
			}
			s.update(i, func(st *ChildStatus) {
				st.PID = 0
				st.State = StateStopped
			})
			return reason, healthy
		}
	}
}

// readBeats parses heartbeat lines from r and sends them on beats until r
// ends or fails. Bad lines are logged and skipped.
func readBeats(log *slog.Logger, r io.Reader, beats chan<- heartbeat) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxLine)
	for sc.Scan() {
		ok, info, err := parseBeat(sc.Bytes())
		if err != nil {
			log.Warn("ignoring heartbeat line", "err", err)
			continue
		}
		beats <- heartbeat{ok: ok, info: info, at: time.Now()}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, os.ErrClosed) {
		log.Warn("stopped reading heartbeats", "err", err)
	}
}

// backoff is the exponential restart delay of one slot.
type backoff struct {
	min, max time.Duration
	cur      time.Duration // the last delay returned; 0 after reset
}

// next returns the delay before the next restart: min, then doubling up to max.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

// reset makes the next delay min again.
func (b *backoff) reset() { b.cur = 0 }
