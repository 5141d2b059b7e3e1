package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nuid"

	"athena/internal/cache"
	"athena/internal/core"
)

// VerdictCache is what the gateway needs of the verdict cache
// (*cache.Cache).
type VerdictCache interface {
	Get(ctx context.Context, k cache.Key) (core.Verdict, bool)
	GetMany(ctx context.Context, fingerprint string, sha256s []string) (map[string]core.Verdict, []string, error)
	Put(ctx context.Context, k cache.Key, v core.Verdict, tags []string) error
	InvalidateTag(ctx context.Context, tag string) (int, error)
	Stats() cache.Stats
	Ready() error
}

var _ VerdictCache = (*cache.Cache)(nil)

// Routes of the verdict cache.
const (
	routeVerdict      = "/v1/verdicts/{sha256}"
	routeVerdictBatch = "/v1/verdicts/batch"
	routeVerdicts     = "/v1/verdicts"
	routeCacheStats   = "/v1/cache/stats"
)

// cachedJobPrefix starts the synthetic job id of an answer from the cache:
// no job exists, no chunk is published.
const cachedJobPrefix = "cached-"

// maxBatchBody bounds the body of POST /v1/verdicts/batch: 1,000 quoted
// hashes and their separators, with room for whitespace.
const maxBatchBody = 256 << 10

// cachePutTimeout bounds a Put of a relayed verdict.
const cachePutTimeout = 2 * time.Second

// lookup answers a declared sha256 from the cache: a verdict computed by
// one of the engines present now (under its fingerprint). Without a cache
// or an engine it misses.
func (g *Gateway) lookup(ctx context.Context, sha string) (core.Verdict, bool) {
	if g.cfg.Cache == nil {
		return core.Verdict{}, false
	}
	for _, fp := range g.presence.fingerprints() {
		if v, ok := g.cfg.Cache.Get(ctx, cache.Key{SHA256: sha, Fingerprint: fp}); ok {
			g.metrics.cacheAnswers.Inc()
			return v, true
		}
	}
	return core.Verdict{}, false
}

// cachedEvent is the single event of an answer from the cache: the
// verdict, seq 1, under a synthetic job id.
func cachedEvent(job string, v core.Verdict) []byte {
	v.Cached = true
	b, _ := json.Marshal(core.Event{V: core.SchemaVersion, Job: job, Seq: 1, Type: core.EventVerdict, Verdict: &v})
	return b
}

func newCachedJobID() string { return cachedJobPrefix + nuid.Next() }

// flight is an upload that declared a sha256 and has not ended: others
// declaring the same sha256 wait for its verdict instead of uploading.
type flight struct {
	done chan struct{} // closed when the leader's upload ended
	v    core.Verdict  // set before done closes, when ok
	ok   bool          // the leader got a complete verdict for the declared sha256
}

// join returns the flight for sha and whether the caller leads it (and
// must resolve it). Without a cache, or without a declared sha256, there
// is no flight.
func (g *Gateway) join(sha string) (*flight, bool) {
	if g.cfg.Cache == nil || sha == "" {
		return nil, false
	}
	g.flightMu.Lock()
	defer g.flightMu.Unlock()
	if f, ok := g.flights[sha]; ok {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	g.flights[sha] = f
	return f, true
}

// resolve ends a flight the caller leads; v is the verdict the upload
// ended with, if any. Only a complete verdict whose sha256 the engine
// computed equal to the declared one is handed to the waiters: a declared
// hash alone is never trusted.
func (g *Gateway) resolve(sha string, f *flight, v *core.Verdict) {
	if f == nil {
		return
	}
	g.flightMu.Lock()
	defer g.flightMu.Unlock()
	if g.flights[sha] != f {
		return // resolved already
	}
	delete(g.flights, sha)
	if v != nil && !v.Partial && v.Label != "" && v.SHA256 == sha && v.Hashes.SHA256 == sha {
		f.v, f.ok = *v, true
	}
	close(f.done)
}

// wait waits, at most CoalesceWait, for the flight's verdict.
func (g *Gateway) wait(ctx context.Context, f *flight) (core.Verdict, bool) {
	t := time.NewTimer(g.cfg.CoalesceWait)
	defer t.Stop()
	select {
	case <-f.done:
		if f.ok {
			g.metrics.coalesced.Inc()
		}
		return f.v, f.ok
	case <-t.C:
	case <-ctx.Done():
	}
	return core.Verdict{}, false
}

// relayed is called with each verdict an upload relays: when the gateway
// writes the cache (CacheRelayedVerdicts), it caches a complete verdict
// under the fingerprint of the engine that computed it.
func (g *Gateway) relayed(v *core.Verdict) {
	if g.cfg.Cache == nil || !g.cfg.CacheRelayedVerdicts || v == nil || v.Partial || v.Label == "" ||
		v.Fingerprint == "" || v.SHA256 == "" || v.SHA256 != v.Hashes.SHA256 {
		return
	}
	ctx, cancel := context.WithTimeout(g.hardCtx, cachePutTimeout)
	defer cancel()
	if err := g.cfg.Cache.Put(ctx, cache.Key{SHA256: v.SHA256, Fingerprint: v.Fingerprint}, *v, nil); err != nil {
		g.log.Debug("relayed verdict not cached", "err", err)
	}
}

// handleVerdict is GET /v1/verdicts/{sha256}: the cached verdict of a file
// under the pipeline of an engine present now, or 404.
func (g *Gateway) handleVerdict(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return &httpError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "use GET", Allow: "GET, HEAD"}
	}
	sum, err := checkSHA256(r.PathValue("sha256"))
	if err != nil {
		return errorf(http.StatusBadRequest, CodeBadSHA256, "%v", err)
	}
	v, ok := g.lookup(r.Context(), sum)
	if !ok {
		return errorf(http.StatusNotFound, CodeNotFound, "no cached verdict for %s under the pipeline of an engine present now", sum)
	}
	writeJSON(w, v)
	return nil
}

// batchRequest is the body of POST /v1/verdicts/batch.
type batchRequest struct {
	SHA256 []string `json:"sha256"`
}

// batchResponse maps each known hash to its verdict and lists the others.
type batchResponse struct {
	Verdicts map[string]core.Verdict `json:"verdicts"`
	Unknown  []string                `json:"unknown"`
}

// handleBatch is POST /v1/verdicts/batch: up to cache.MaxBatch hashes
// answered with one cache round trip per engine pipeline present (one in a
// deployment whose engines agree).
func (g *Gateway) handleBatch(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return &httpError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "use POST", Allow: "POST"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBatchBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, CodeBatchTooLarge, "the body exceeds %d bytes", maxBatchBody)
		}
		return errorf(http.StatusBadRequest, CodeBadRequest, "reading the body: %v", err)
	}
	var req batchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return errorf(http.StatusBadRequest, CodeBadRequest, `the body must be {"sha256":["<64 hex digits>",...]}: %v`, err)
	}
	if len(req.SHA256) > cache.MaxBatch {
		return errorf(http.StatusRequestEntityTooLarge, CodeBatchTooLarge, "%d hashes; at most %d per call", len(req.SHA256), cache.MaxBatch)
	}
	hashes := make([]string, len(req.SHA256))
	for i, h := range req.SHA256 {
		sum, err := checkSHA256(h)
		if err != nil {
			return errorf(http.StatusBadRequest, CodeBadSHA256, "sha256[%d]: %v", i, err)
		}
		hashes[i] = sum
	}
	resp := batchResponse{Verdicts: map[string]core.Verdict{}, Unknown: hashes}
	for _, fp := range g.presence.fingerprints() {
		if len(resp.Unknown) == 0 {
			break
		}
		found, unknown, err := g.cfg.Cache.GetMany(r.Context(), fp, resp.Unknown)
		if err != nil {
			return err
		}
		for h, v := range found {
			resp.Verdicts[h] = v
		}
		resp.Unknown = unknown
	}
	if resp.Unknown == nil {
		resp.Unknown = []string{}
	}
	g.metrics.cacheAnswers.Add(float64(len(resp.Verdicts)))
	writeJSON(w, resp)
	return nil
}

// handleInvalidate is DELETE /v1/verdicts?tag=TAG: the operator removes
// every cached verdict with the tag, in this process and, through Redis,
// in every other.
func (g *Gateway) handleInvalidate(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodDelete {
		return &httpError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "use DELETE", Allow: "DELETE"}
	}
	tag := r.URL.Query().Get("tag")
	if tag == "" {
		return errorf(http.StatusBadRequest, CodeBadTag, "tag is required, e.g. fp:<fingerprint>, module:<name>@<version> or rules:<version>")
	}
	n, err := g.cfg.Cache.InvalidateTag(r.Context(), tag)
	if err != nil {
		if errors.Is(err, cache.ErrInvalidTag) {
			return errorf(http.StatusBadRequest, CodeBadTag, "%v", err)
		}
		return &notReadyError{"verdict cache: " + err.Error()}
	}
	g.log.Info("verdicts invalidated", "tag", tag, "removed", n)
	writeJSON(w, map[string]any{"tag": tag, "removed": n})
	return nil
}

// handleCacheStats is GET /v1/cache/stats.
func (g *Gateway) handleCacheStats(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return &httpError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "use GET", Allow: "GET, HEAD"}
	}
	writeJSON(w, g.cfg.Cache.Stats())
	return nil
}

// flightsState is embedded in Gateway.
type flightsState struct {
	flightMu sync.Mutex
	flights  map[string]*flight // by declared sha256
}
