package gateway

import (
	"slices"
	"strings"
	"sync"
	"time"

	"athena/streams"
)

// maxEngines bounds the engines the presence table remembers, so a flood of
// made-up ids cannot grow it without limit.
const maxEngines = 4096

// presence tracks engine heartbeats (streams.SubjectEngineHeartbeat). It is
// safe for concurrent use.
type presence struct {
	staleAfter time.Duration
	now        func() time.Time

	mu      sync.Mutex
	engines map[string]engineSeen
}

type engineSeen struct {
	at      time.Time
	healthy bool
	fp      string // the engine's pipeline fingerprint, or ""
	busy    int
	cap     int
}

func newPresence(staleAfter time.Duration) *presence {
	return &presence{staleAfter: staleAfter, now: time.Now, engines: map[string]engineSeen{}}
}

// observe records one heartbeat. A heartbeat with capacity 0 means the
// engine is leaving: it is forgotten at once.
func (p *presence) observe(hb streams.Presence) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if hb.Capacity == 0 {
		delete(p.engines, hb.ID)
		return
	}
	if _, known := p.engines[hb.ID]; !known && len(p.engines) >= maxEngines {
		p.pruneLocked(now)
		if len(p.engines) >= maxEngines {
			return
		}
	}
	p.engines[hb.ID] = engineSeen{at: now, healthy: hb.Healthy, fp: hb.Fingerprint, busy: hb.Busy, cap: hb.Capacity}
}

// healthy returns how many healthy engines sent a heartbeat within
// staleAfter.
func (p *presence) healthy() int {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked(now)
	n := 0
	for _, e := range p.engines {
		if e.healthy {
			n++
		}
	}
	return n
}

func (p *presence) pruneLocked(now time.Time) {
	for id, e := range p.engines {
		if now.Sub(e.at) > p.staleAfter {
			delete(p.engines, id)
		}
	}
}

// fingerprints returns the distinct pipeline fingerprints of the healthy
// engines that sent a heartbeat within staleAfter: the keys under which a
// cached verdict is still valid. A verdict of any of them is one an engine
// present now would give.
func (p *presence) fingerprints() []string {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked(now)
	var fps []string
	for _, e := range p.engines {
		if e.healthy && e.fp != "" && !slices.Contains(fps, e.fp) {
			fps = append(fps, e.fp)
		}
	}
	slices.Sort(fps)
	return fps
}

// engineState is one engine present now, as /v1/system/stream shows it.
type engineState struct {
	ID       string `json:"id"`
	Busy     int    `json:"busy"`
	Capacity int    `json:"capacity"`
	Healthy  bool   `json:"healthy"`
}

// snapshot returns the engines that sent a heartbeat within staleAfter,
// sorted by id.
func (p *presence) snapshot() []engineState {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked(now)
	out := make([]engineState, 0, len(p.engines))
	for id, e := range p.engines {
		out = append(out, engineState{ID: id, Busy: e.busy, Capacity: e.cap, Healthy: e.healthy})
	}
	slices.SortFunc(out, func(a, b engineState) int { return strings.Compare(a.ID, b.ID) })
	return out
}
