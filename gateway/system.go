package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"athena/internal/core"
	"athena/streams"
)

// Routes of the dashboard's history and system panel.
const (
	routeRecent = "/v1/verdicts/recent"
	routeSystem = "/v1/system/stream"
)

// Limits of GET /v1/verdicts/recent.
const (
	recentDefault = 50
	recentMax     = 200
	// recentProbes bounds the stream sequences read per call: a file
	// analysed again replaces its older message (one per subject), so the
	// newest sequences have gaps.
	recentProbes = 1000
	// recentTimeout bounds the JetStream reads of one call.
	recentTimeout = 5 * time.Second
	// maxRecentNames bounds the file names remembered for verdicts.
	maxRecentNames = 1024
)

// systemInterval is the period of /v1/system/stream's events.
const systemInterval = time.Second

// systemCounters are totals since the gateway started; /v1/system/stream
// turns them into rates.
type systemCounters struct {
	bytesIn atomic.Int64 // file bytes received from clients
	uploads atomic.Int64 // uploads accepted (a job was published)
}

// recentNames remembers the name of the last files whose verdict this
// gateway relayed, by sha256, up to a bound (oldest forgotten first). It
// is safe for concurrent use.
type recentNames struct {
	max   int
	mu    sync.Mutex
	names map[string]string
	order []string // sha256s, oldest first
}

func newRecentNames(max int) *recentNames {
	return &recentNames{max: max, names: map[string]string{}}
}

func (r *recentNames) remember(sha, name string) {
	if sha == "" || name == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.names[sha]; !ok {
		r.order = append(r.order, sha)
		if len(r.order) > r.max {
			delete(r.names, r.order[0])
			r.order = r.order[1:]
		}
	}
	r.names[sha] = name
}

func (r *recentNames) get(sha string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.names[sha]
}

// recentVerdict is one entry of GET /v1/verdicts/recent.
type recentVerdict struct {
	SHA256 string    `json:"sha256"`
	Job    string    `json:"job,omitempty"`
	Name   string    `json:"name,omitempty"` // when this gateway relayed the verdict
	Time   time.Time `json:"time"`           // when JetStream stored it
	// Verdict is the final verdict the engine published.
	Verdict *core.Verdict `json:"verdict"`
}

// handleRecent is GET /v1/verdicts/recent?limit=N: the newest final
// verdicts of ATHENA_VERDICTS, newest first.
func (g *Gateway) handleRecent(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return &httpError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "use GET", Allow: "GET, HEAD"}
	}
	limit := recentDefault
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > recentMax {
			return errorf(http.StatusBadRequest, CodeBadLimit, "limit must be an integer from 1 to %d", recentMax)
		}
		limit = n
	}
	if err := g.ensureTopology(r.Context()); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), recentTimeout)
	defer cancel()
	out, err := g.recentVerdicts(ctx, limit)
	if err != nil {
		return &notReadyError{"JetStream: recent verdicts: " + err.Error()}
	}
	writeJSON(w, map[string]any{"verdicts": out})
	return nil
}

// recentVerdicts reads the stream backwards from its last sequence, one
// message at a time, until it has limit verdicts, reaches the first
// sequence or has read recentProbes sequences.
func (g *Gateway) recentVerdicts(ctx context.Context, limit int) ([]recentVerdict, error) {
	out := []recentVerdict{}
	info, err := g.verdicts.Info(ctx)
	if err != nil {
		return nil, err
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 {
		return out, nil
	}
	seen := map[string]bool{}
	for seq, probes := last, 0; seq >= first && seq > 0 && len(out) < limit && probes < recentProbes; seq, probes = seq-1, probes+1 {
		m, err := g.verdicts.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // replaced by a newer verdict of the same file, or expired
		}
		if err != nil {
			return nil, err
		}
		ev, err := streams.DecodeEvent(m.Data)
		if err != nil || ev.Type != core.EventVerdict || ev.Verdict == nil {
			g.log.Debug("skipping a malformed verdict message", "seq", seq, "err", err)
			continue
		}
		sha := ev.Verdict.SHA256
		if seen[sha] {
			continue
		}
		seen[sha] = true
		out = append(out, recentVerdict{SHA256: sha, Job: ev.Job, Name: g.names.get(sha), Time: m.Time.UTC(), Verdict: ev.Verdict})
	}
	return out, nil
}

// systemEvent is one event of /v1/system/stream.
type systemEvent struct {
	Time            time.Time     `json:"time"`
	BytesInPerS     float64       `json:"bytes_in_per_s"`
	UploadsPerS     float64       `json:"uploads_per_s"`
	UploadsTotal    int64         `json:"uploads_total"`
	UploadsInFlight int           `json:"uploads_in_flight"`
	JobsInFlight    int           `json:"jobs_in_flight"`
	Engines         []engineState `json:"engines"`
	Cache           *systemCache  `json:"cache,omitempty"`
	WSSessions      int           `json:"ws_sessions"`
}

type systemCache struct {
	HitRate float64 `json:"hit_rate"`
	Hits    uint64  `json:"hits"`
	Misses  uint64  `json:"misses"`
}

// systemSnapshot makes an event; rates are over the time since prev.
func (g *Gateway) systemSnapshot(now time.Time, prev *systemEvent, prevBytes int64) (systemEvent, int64) {
	bytes := g.counters.bytesIn.Load()
	ev := systemEvent{Time: now.UTC(), UploadsTotal: g.counters.uploads.Load(), Engines: g.presence.snapshot()}
	if prev != nil {
		if dt := now.Sub(prev.Time).Seconds(); dt > 0 {
			ev.BytesInPerS = float64(bytes-prevBytes) / dt
			ev.UploadsPerS = float64(ev.UploadsTotal-prev.UploadsTotal) / dt
		}
	}
	for _, e := range ev.Engines {
		ev.JobsInFlight += e.Busy
	}
	g.mu.Lock()
	ev.UploadsInFlight, ev.WSSessions = len(g.uploads), len(g.sessions)
	g.mu.Unlock()
	if c := g.cfg.Cache; c != nil {
		st := c.Stats()
		ev.Cache = &systemCache{HitRate: st.HitRate, Hits: st.Hits, Misses: st.Misses}
	}
	return ev, bytes
}

// handleSystem is GET /v1/system/stream: Server-Sent Events, one
// systemEvent a second, until the client goes away or a shutdown starts.
func (g *Gateway) handleSystem(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return &httpError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "use GET", Allow: "GET"}
	}
	if g.drainCtx.Err() != nil {
		return &notReadyError{"the gateway is shutting down"}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	defer rc.SetWriteDeadline(time.Time{})
	// The first event carries the totals at once; rates start with the
	// second.
	write := func(ev systemEvent) error {
		b, _ := json.Marshal(ev)
		rc.SetWriteDeadline(time.Now().Add(writeWait))
		defer rc.SetWriteDeadline(time.Time{})
		buf := make([]byte, 0, len(b)+16)
		buf = append(buf, "data: "...)
		buf = append(buf, b...)
		buf = append(buf, '\n', '\n')
		if _, err := w.Write(buf); err != nil {
			return err
		}
		return rc.Flush()
	}
	// A client that reconnects waits as long as one interval.
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return nil
	}
	ev, bytes := g.systemSnapshot(time.Now(), nil, 0)
	if err := write(ev); err != nil {
		return nil
	}
	tick := time.NewTicker(systemInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-g.drainCtx.Done():
			return nil
		case now := <-tick.C:
			prev := ev
			ev, bytes = g.systemSnapshot(now, &prev, bytes)
			if err := write(ev); err != nil {
				return nil
			}
		}
	}
}
