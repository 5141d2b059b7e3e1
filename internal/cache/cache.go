// Package cache is Athena's verdict cache: it answers known files without
// re-analysis. A verdict is cached under the file's sha256 and the
// fingerprint of the pipeline that judged it (Key), so that a module or
// rule-set update, which changes the fingerprint, never serves a stale
// verdict. Partial verdicts, and anything that is not a finished verdict
// about the key's file, are refused (ErrNotCacheable).
//
// # Levels
//
// L1 is in process (maypok86/otter): bounded in entries and in bytes (the
// encoded size of its verdicts), with a TTL. L2 is Redis (go-redis), shared
// by every gateway and engine, with its own TTL. Get looks in L1, then in
// L2, and fills L1 from an L2 hit. GetMany answers a batch of up to
// MaxBatch hashes from L1 and one MGET. Without a RedisURL the cache is
// L1 only.
//
// # Redis layout
//
//	athena:v1:verdict:<fingerprint>:<sha256>  string: the verdict JSON, {"tags":[...],"verdict":{...}}, with TTL
//	athena:v1:tag:<tag>                      sorted set: verdict keys, scored by their expiry (Unix ms)
//	athena:v1:invalidate                     pub/sub channel: {"tag":"...","origin":"..."} per invalidation
//
// Tags name what a verdict depends on: "fp:<fingerprint>" (added by Put to
// every verdict), "module:<name>@<version>", "rules:<version>"
// (Pipeline.Tags), or any tag an operator chooses. A tag set is a sorted
// set rather than a plain set so that each Put can prune the members whose
// verdicts expired (an hour after their expiry, which tolerates clock skew
// between processes); a plain set would grow for as long as its tag is in
// use. Put writes the value and its tag entries in one MULTI/EXEC, so no
// half-written verdict exists even if the process dies or Close cuts it
// short.
//
// # Invalidation
//
// InvalidateTag deletes the tag's verdicts from Redis, batch by batch, each
// batch atomically (a Lua script pops up to 1,000 members and deletes their
// keys), until the set is empty; then it publishes the tag on
// athena:v1:invalidate. Every Cache subscribes to that channel and drops
// the L1 entries that carry the tag (L1 entries remember their tags). When
// the subscription was lost (Redis restarted, network cut), the Cache drops
// its whole L1 when it resubscribes, since it may have missed messages.
// Other processes therefore stop serving an invalidated verdict once the
// message reaches them, or at worst after L1TTL.
//
// # Degradation
//
// Redis being unreachable never fails an analysis: Get and GetMany answer
// misses, Put keeps the verdict in L1 and returns an error the caller only
// logs, and every failure counts in athena_cache_errors_total. A failed
// operation marks Redis down; from then on calls skip L2 at once instead of
// each waiting for timeouts, Ready reports "degraded: redis unreachable",
// and a background PING every HealthInterval brings L2 back as soon as
// Redis answers again.
//
// # Observability
//
// Metrics, on Config.Registerer: athena_cache_requests_total{level,result},
// athena_cache_operation_duration_seconds{level,op},
// athena_cache_errors_total{op}, athena_cache_evictions_total{cause},
// athena_cache_l1_entries and athena_cache_redis_up. Stats returns hits,
// misses, hit rates, errors and latency quantiles per level as JSON-ready
// values.
//
// # Concurrency and lifetime
//
// A Cache is safe for concurrent use. New starts two goroutines when Redis
// is configured (the health probe and the invalidation subscriber); Close
// waits for in-flight calls, stops them and closes the connections.
package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"

	"athena/internal/core"
)

// MaxBatch is the most hashes one GetMany may ask for.
const MaxBatch = 1000

// Errors. Redis failures are returned wrapped with the operation and key.
var (
	// ErrInvalidKey: a sha256 or fingerprint is malformed (Key.Validate).
	ErrInvalidKey = errors.New("cache: invalid key")
	// ErrInvalidTag: a tag is empty, too long or not printable ASCII.
	ErrInvalidTag = errors.New("cache: invalid tag")
	// ErrNotCacheable: Put refused the verdict (partial, no label, another
	// file's, too big); nothing was written.
	ErrNotCacheable = errors.New("cache: verdict not cacheable")
	// ErrBatchTooLarge: GetMany was given more than MaxBatch hashes.
	ErrBatchTooLarge = errors.New("cache: batch too large")
	// ErrUnavailable: Redis is configured but unreachable; L2 was skipped.
	ErrUnavailable = errors.New("cache: degraded: redis unreachable")
	// ErrClosed: the Cache was closed.
	ErrClosed = errors.New("cache: closed")
)

// pruneGrace is how long after its expiry a tag-set member is pruned.
const pruneGrace = time.Hour

// invalidateBatch is how many verdicts one atomic step of InvalidateTag
// deletes.
const invalidateBatch = 1000

// invalidateScript pops up to ARGV[1] members of the tag set KEYS[1] and
// deletes their keys, atomically. It returns {popped, deleted}; popped below
// ARGV[1] means the set is now empty. The verdict keys are not declared in
// KEYS, which standalone Redis allows and Redis Cluster would not.
var invalidateScript = redis.NewScript(`
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
local keys = {}
for i = 1, #popped, 2 do keys[#keys + 1] = popped[i] end
if #keys == 0 then return {0, 0} end
return {#keys, redis.call('DEL', unpack(keys))}
`)

// Cache is a two-level verdict cache. Create it with New; its zero value is
// not usable.
type Cache struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	levels       [nLevels]levelCounters
	hits, misses atomic.Uint64

	l1 *otter.Cache[Key, *entry] // nil when disabled
	// gen counts L1 invalidations. A fill from Redis or Put that raced with
	// one drops what it wrote (see fillL1).
	gen atomic.Uint64

	rdb     *redis.Client // nil without Redis
	origin  string        // this Cache's id in invalidation messages
	up      atomic.Bool   // Redis answered the last probe and no call failed since
	lastErr atomic.Pointer[error]
	wake    chan struct{} // asks the health loop to probe now
	ps      atomic.Pointer[redis.PubSub]

	mu         sync.RWMutex // guards closed and inflight.Add
	closed     bool
	closedFlag atomic.Bool // closed, for the lock-free L1 path
	inflight   sync.WaitGroup

	stop context.CancelFunc // ends the background goroutines
	bg   sync.WaitGroup
}

// New creates a Cache. It validates cfg and, when RedisURL is set, connects
// to Redis and subscribes to invalidations, bounded by ctx and the
// configured timeouts. An unreachable Redis is not an error: the Cache
// starts degraded and recovers by itself. Call Close when done.
func New(ctx context.Context, cfg Config) (*Cache, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var opt *redis.Options
	if cfg.RedisURL != "" {
		if opt, err = cfg.redisOptions(); err != nil {
			return nil, err
		}
	}
	c := &Cache{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1)}
	if cfg.L1MaxEntries > 0 {
		if c.l1, err = c.newL1(); err != nil {
			return nil, fmt.Errorf("cache: L1: %w", err)
		}
	}
	if c.m, err = newMetrics(cfg.Registerer, c.l1Entries, c.redisUp); err != nil {
		if c.l1 != nil {
			c.l1.StopAllGoroutines()
		}
		return nil, err
	}
	if opt == nil {
		return c, nil
	}

	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails
	c.origin = hex.EncodeToString(id[:])
	c.rdb = redis.NewClient(opt)
	c.probe(ctx)
	ps, subscribed := c.subscribe(ctx)
	c.ps.Store(ps)
	bg, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.bg.Add(2)
	go c.healthLoop(bg)
	go c.subscribeLoop(bg, ps, !subscribed)
	if !c.up.Load() {
		c.log.Warn("cache: redis unreachable at start, running without L2 until it answers",
			"addr", opt.Addr, "err", c.lastError())
	}
	return c, nil
}

// newL1 creates the L1. otter bounds either entries or weight, not both, so
// each entry weighs at least L1MaxBytes/L1MaxEntries: the weight bound then
// also bounds the entry count.
func (c *Cache) newL1() (*otter.Cache[Key, *entry], error) {
	floor := max(c.cfg.L1MaxBytes/int64(c.cfg.L1MaxEntries), 1)
	return otter.New(&otter.Options[Key, *entry]{
		MaximumWeight: uint64(c.cfg.L1MaxBytes),
		Weigher: func(k Key, e *entry) uint32 {
			w := max(int64(e.size+len(k.SHA256)+len(k.Fingerprint)), floor)
			return uint32(min(w, math.MaxUint32))
		},
		ExpiryCalculator: otter.ExpiryWriting[Key, *entry](c.cfg.L1TTL),
		OnAtomicDeletion: func(ev otter.DeletionEvent[Key, *entry]) {
			switch ev.Cause {
			case otter.CauseOverflow:
				c.m.evictions[evictSize].Inc()
			case otter.CauseExpiration:
				c.m.evictions[evictExpired].Inc()
			}
		},
		Logger: otterLogger{c.log},
	})
}

// Get returns the cached verdict for k, marked Cached, from L1 or else from
// L2 (filling L1). Any failure, Redis's included, is counted and logged and
// answered as a miss: the caller analyses the file.
func (c *Cache) Get(ctx context.Context, k Key) (core.Verdict, bool) {
	v, ok, err := c.GetErr(ctx, k)
	if err != nil && !errors.Is(err, ErrUnavailable) {
		c.log.Debug("cache: get failed, answered as a miss", "key", k.String(), "err", err)
	}
	return v, ok
}

// GetErr is Get that also returns why a lookup missed when it was not a
// plain miss: ErrInvalidKey, ErrUnavailable, ErrClosed, a Redis error or a
// corrupt stored value. The verdict and ok are those Get returns.
func (c *Cache) GetErr(ctx context.Context, k Key) (core.Verdict, bool, error) {
	if err := k.Validate(); err != nil {
		return core.Verdict{}, false, err
	}
	if c.closedFlag.Load() {
		return core.Verdict{}, false, ErrClosed
	}
	if c.l1 != nil {
		t0 := time.Now()
		e, ok := c.l1.GetIfPresent(k)
		c.observe(levelL1, opGet, time.Since(t0))
		c.result(levelL1, ok, 1)
		if ok {
			c.hits.Add(1)
			return e.verdict(), true, nil
		}
	}
	if c.rdb == nil {
		c.misses.Add(1)
		return core.Verdict{}, false, nil
	}
	e, err := c.getL2(ctx, k)
	if e == nil {
		c.misses.Add(1)
		return core.Verdict{}, false, err
	}
	c.hits.Add(1)
	return e.verdict(), true, nil
}

func (c *Cache) getL2(ctx context.Context, k Key) (*entry, error) {
	if !c.begin() {
		return nil, ErrClosed
	}
	defer c.inflight.Done()
	if !c.up.Load() {
		c.countErr(levelL2, opNames[opGet])
		return nil, c.unavailable()
	}
	gen := c.gen.Load()
	octx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	defer cancel()
	t0 := time.Now()
	b, err := c.rdb.Get(octx, redisKey(k)).Bytes()
	c.observe(levelL2, opGet, time.Since(t0))
	switch {
	case errors.Is(err, redis.Nil):
		c.result(levelL2, false, 1)
		return nil, nil
	case err != nil:
		c.l2Failed(ctx, opNames[opGet], err)
		return nil, fmt.Errorf("cache: get %s: %w", k, err)
	}
	e, err := decodeValue(k, b)
	if err != nil {
		c.countErr(levelL2, errOpDecode)
		c.result(levelL2, false, 1)
		c.log.Warn("cache: corrupt value in redis, answered as a miss", "key", k.String(), "err", err)
		return nil, err
	}
	c.result(levelL2, true, 1)
	c.fillL1(k, e, gen)
	return e, nil
}

// GetMany looks up a batch of hashes analysed by the pipeline fingerprint:
// L1 first, then one MGET for the rest. found maps each known hash to its
// verdict; unknown lists the others in request order, duplicates removed.
// The error is only about the request (ErrBatchTooLarge beyond MaxBatch,
// ErrInvalidKey, ErrClosed): Redis failures are counted and logged, and
// their hashes come back unknown.
func (c *Cache) GetMany(ctx context.Context, fingerprint string, sha256s []string) (found map[string]core.Verdict, unknown []string, err error) {
	if len(sha256s) > MaxBatch {
		return nil, nil, fmt.Errorf("%w: %d hashes, at most %d", ErrBatchTooLarge, len(sha256s), MaxBatch)
	}
	uniq := make([]string, 0, len(sha256s))
	seen := make(map[string]struct{}, len(sha256s))
	for _, h := range sha256s {
		if err := (Key{SHA256: h, Fingerprint: fingerprint}).Validate(); err != nil {
			return nil, nil, err
		}
		if _, dup := seen[h]; !dup {
			seen[h] = struct{}{}
			uniq = append(uniq, h)
		}
	}
	if c.closedFlag.Load() {
		return nil, nil, ErrClosed
	}
	found = make(map[string]core.Verdict, len(uniq))
	rest := uniq
	if c.l1 != nil {
		rest = make([]string, 0, len(uniq))
		t0 := time.Now()
		for _, h := range uniq {
			if e, ok := c.l1.GetIfPresent(Key{SHA256: h, Fingerprint: fingerprint}); ok {
				found[h] = e.verdict()
			} else {
				rest = append(rest, h)
			}
		}
		c.observe(levelL1, opGetMany, time.Since(t0))
		c.result(levelL1, true, len(found))
		c.result(levelL1, false, len(rest))
	}
	if len(rest) > 0 && c.rdb != nil {
		for i, e := range c.mgetL2(ctx, fingerprint, rest) {
			if e != nil {
				found[rest[i]] = e.verdict()
			} else {
				unknown = append(unknown, rest[i])
			}
		}
	} else {
		unknown = rest
	}
	c.hits.Add(uint64(len(found)))
	c.misses.Add(uint64(len(unknown)))
	return found, unknown, nil
}

// mgetL2 reads hashes with one MGET. The result has one element per hash,
// nil for a miss, a corrupt value or any failure.
func (c *Cache) mgetL2(ctx context.Context, fingerprint string, hashes []string) []*entry {
	out := make([]*entry, len(hashes))
	if !c.begin() {
		return out
	}
	defer c.inflight.Done()
	if !c.up.Load() {
		c.countErr(levelL2, opNames[opGetMany])
		return out
	}
	keys := make([]string, len(hashes))
	for i, h := range hashes {
		keys[i] = redisKey(Key{SHA256: h, Fingerprint: fingerprint})
	}
	gen := c.gen.Load()
	octx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	defer cancel()
	t0 := time.Now()
	vals, err := c.rdb.MGet(octx, keys...).Result()
	c.observe(levelL2, opGetMany, time.Since(t0))
	if err == nil && len(vals) != len(keys) {
		err = fmt.Errorf("MGET of %d keys returned %d values", len(keys), len(vals))
	}
	if err != nil {
		c.l2Failed(ctx, opNames[opGetMany], err)
		c.log.Debug("cache: get_many failed, answered as misses", "hashes", len(hashes), "err", err)
		return out
	}
	hits := 0
	for i, val := range vals {
		s, ok := val.(string)
		if !ok { // nil: no such key
			continue
		}
		k := Key{SHA256: hashes[i], Fingerprint: fingerprint}
		e, err := decodeValue(k, []byte(s))
		if err != nil {
			c.countErr(levelL2, errOpDecode)
			c.log.Warn("cache: corrupt value in redis, answered as a miss", "key", k.String(), "err", err)
			continue
		}
		out[i] = e
		hits++
		c.fillL1(k, e, gen)
	}
	c.result(levelL2, true, hits)
	c.result(levelL2, false, len(hashes)-hits)
	return out
}

// Put caches v under k with tags, plus FingerprintTag(k.Fingerprint). It
// refuses, writing nothing, a verdict that is partial, has no label or is
// about another file (ErrNotCacheable), and malformed keys or tags. The
// Redis write (value, TTL, tag sets) is one MULTI/EXEC: all of it happens or
// none. L1 is filled even when the Redis write fails; an error that is not
// ErrNotCacheable, ErrInvalidKey or ErrInvalidTag then only means other
// processes will not see the verdict, and the caller should log it, not
// fail the analysis.
func (c *Cache) Put(ctx context.Context, k Key, v core.Verdict, tags []string) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if err := cacheable(k, v); err != nil {
		return err
	}
	all := make([]string, 0, len(tags)+1)
	all = append(all, FingerprintTag(k.Fingerprint))
	for _, t := range tags {
		if err := validateTag(t); err != nil {
			return err
		}
		all = append(all, t)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	v.Reasons = slices.Clone(v.Reasons)
	v.Cached = false
	b, err := encodeValue(v, all)
	if err != nil {
		return err
	}
	if !c.begin() {
		return ErrClosed
	}
	defer c.inflight.Done()
	gen := c.gen.Load()
	var l2err error
	if c.rdb != nil {
		l2err = c.putL2(ctx, k, b, all)
	}
	if c.l1 != nil {
		t0 := time.Now()
		c.fillL1(k, &entry{v: v, tags: all, size: len(b)}, gen)
		c.observe(levelL1, opPut, time.Since(t0))
	}
	return l2err
}

func (c *Cache) putL2(ctx context.Context, k Key, value []byte, tags []string) error {
	if !c.up.Load() {
		c.countErr(levelL2, opNames[opPut])
		return fmt.Errorf("cache: put %s: %w", k, c.unavailable())
	}
	rk := redisKey(k)
	ttl := c.cfg.TTL
	now := time.Now()
	expires := float64(now.Add(ttl).UnixMilli())
	prune := "(" + strconv.FormatInt(now.Add(-pruneGrace).UnixMilli(), 10)
	octx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	defer cancel()
	t0 := time.Now()
	_, err := c.rdb.TxPipelined(octx, func(p redis.Pipeliner) error {
		p.Set(octx, rk, value, ttl)
		for _, t := range tags {
			tk := tagKey(t)
			p.ZAdd(octx, tk, redis.Z{Score: expires, Member: rk})
			p.ZRemRangeByScore(octx, tk, "-inf", prune)
			p.PExpire(octx, tk, ttl+pruneGrace)
		}
		return nil
	})
	c.observe(levelL2, opPut, time.Since(t0))
	if err != nil {
		c.l2Failed(ctx, opNames[opPut], err)
		return fmt.Errorf("cache: put %s: %w", k, err)
	}
	return nil
}

// InvalidateTag removes every verdict tagged tag: from this process's L1 at
// once, from Redis, and from the L1 of every other Cache through the
// invalidation channel. It returns how many verdicts it deleted from Redis,
// or, without Redis, how many L1 entries it dropped. Each step of the Redis
// deletion is atomic and bounded by OpTimeout; on an error, removed counts
// what was deleted before it, and calling again finishes the job.
func (c *Cache) InvalidateTag(ctx context.Context, tag string) (removed int, err error) {
	if err := validateTag(tag); err != nil {
		return 0, err
	}
	if !c.begin() {
		return 0, ErrClosed
	}
	defer c.inflight.Done()
	dropped := c.dropTag(tag)
	if c.rdb == nil {
		return dropped, nil
	}
	if !c.up.Load() {
		c.countErr(levelL2, opNames[opInvalidate])
		return 0, fmt.Errorf("cache: invalidate %s: %w", tag, c.unavailable())
	}
	t0 := time.Now()
	defer func() { c.observe(levelL2, opInvalidate, time.Since(t0)) }()
	fail := func(err error) (int, error) {
		c.l2Failed(ctx, opNames[opInvalidate], err)
		return removed, fmt.Errorf("cache: invalidate %s: %w", tag, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		octx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
		res, err := invalidateScript.Run(octx, c.rdb, []string{tagKey(tag)}, invalidateBatch).Int64Slice()
		cancel()
		if err == nil && len(res) != 2 {
			err = fmt.Errorf("invalidation script returned %v", res)
		}
		if err != nil {
			return fail(err)
		}
		removed += int(res[1])
		if res[0] < invalidateBatch {
			break
		}
	}
	// Entries a concurrent Get filled from Redis before the deletion.
	c.dropTag(tag)
	octx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	defer cancel()
	if err := c.rdb.Publish(octx, invalidateChan, encodeInvalidation(tag, c.origin)).Err(); err != nil {
		return fail(fmt.Errorf("publish: %w", err))
	}
	return removed, nil
}

// Ready reports whether the cache runs as configured: nil without Redis or
// when Redis answered its last probe, an error wrapping ErrUnavailable
// ("degraded: redis unreachable") otherwise, ErrClosed after Close. A
// degraded cache still works, as an L1-only cache.
func (c *Cache) Ready() error {
	if c.closedFlag.Load() {
		return ErrClosed
	}
	if c.rdb == nil || c.up.Load() {
		return nil
	}
	return c.unavailable()
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	s := Stats{
		Hits:   c.hits.Load(),
		Misses: c.misses.Load(),
		L1:     c.levels[levelL1].snapshot(c.l1 != nil),
		L2:     c.levels[levelL2].snapshot(c.rdb != nil),
	}
	s.HitRate = rate(s.Hits, s.Misses)
	s.Errors = s.L1.Errors + s.L2.Errors
	if c.l1 != nil {
		s.L1.Entries = c.l1.EstimatedSize()
	}
	switch {
	case c.rdb == nil:
		s.Redis = "disabled"
	case c.up.Load():
		s.Redis = "ok"
	default:
		s.Redis = "degraded"
	}
	return s
}

// Close stops the Cache: new calls fail with ErrClosed (or miss), calls in
// flight finish (until ctx ends), the background goroutines stop and the
// Redis connections close. Nothing is left half-written in Redis: each Put
// is one transaction, which Redis applies whole or not at all. Close is
// idempotent; it returns ctx's error when in-flight calls outlived ctx.
func (c *Cache) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.closedFlag.Store(true)
	c.mu.Unlock()

	var err error
	done := make(chan struct{})
	go func() { // ends when the last in-flight call does; closing the client below ends them
		c.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("cache: close: calls still in flight: %w", ctx.Err())
	}
	if c.stop != nil {
		c.stop()
		if ps := c.ps.Load(); ps != nil {
			_ = ps.Close()
		}
		c.bg.Wait()
	}
	if c.rdb != nil {
		if cerr := c.rdb.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("cache: close redis: %w", cerr)
		}
	}
	if c.l1 != nil {
		c.l1.StopAllGoroutines()
	}
	return err
}

// begin registers a call that uses Redis or writes L1, unless the Cache is
// closed; the caller then calls c.inflight.Done.
func (c *Cache) begin() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	c.inflight.Add(1)
	return true
}

// fillL1 stores e under k unless an invalidation ran since gen was read: an
// invalidation bumps gen before it scans L1, so either the scan sees this
// entry or this check sees the new gen.
func (c *Cache) fillL1(k Key, e *entry, gen uint64) {
	if c.l1 == nil {
		return
	}
	c.l1.Set(k, e)
	if c.gen.Load() != gen {
		c.l1.Invalidate(k)
	}
}

// dropTag removes the L1 entries carrying tag and returns how many.
func (c *Cache) dropTag(tag string) int {
	if c.l1 == nil {
		return 0
	}
	c.gen.Add(1)
	var keys []Key
	for k, e := range c.l1.All() {
		if e.hasTag(tag) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		c.l1.Invalidate(k)
	}
	return len(keys)
}

// dropAll empties L1.
func (c *Cache) dropAll() {
	if c.l1 == nil {
		return
	}
	c.gen.Add(1)
	c.l1.InvalidateAll()
}

func (c *Cache) observe(level int, o op, d time.Duration) {
	c.m.durations[level][o].Observe(d.Seconds())
	c.levels[level].lat[o].observe(d)
}

// result counts n lookups at level as hits or misses.
func (c *Cache) result(level int, hit bool, n int) {
	if n == 0 {
		return
	}
	if hit {
		c.m.requests[level][0].Add(float64(n))
		c.levels[level].hits.Add(uint64(n))
	} else {
		c.m.requests[level][1].Add(float64(n))
		c.levels[level].misses.Add(uint64(n))
	}
}

// countErr counts one error of operation o at level (-1: none, metrics
// only).
func (c *Cache) countErr(level int, o string) {
	c.m.errors[o].Inc()
	if level >= 0 {
		c.levels[level].errors.Add(1)
	}
}

// l2Failed counts a failed Redis call and marks Redis down unless Redis
// itself answered (an error reply) or the caller gave up.
func (c *Cache) l2Failed(ctx context.Context, o string, err error) {
	c.countErr(levelL2, o)
	var reply redis.Error
	if ctx.Err() != nil || errors.As(err, &reply) {
		return
	}
	c.markDown(err)
}

func (c *Cache) markDown(err error) {
	c.lastErr.Store(&err)
	if c.up.Swap(false) {
		c.log.Warn("cache: redis unreachable, continuing without L2", "err", err)
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

func (c *Cache) lastError() error {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *Cache) unavailable() error {
	if err := c.lastError(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return ErrUnavailable
}

func (c *Cache) l1Entries() float64 {
	if c.l1 == nil {
		return 0
	}
	return float64(c.l1.EstimatedSize())
}

func (c *Cache) redisUp() float64 {
	if c.rdb != nil && c.up.Load() {
		return 1
	}
	return 0
}

// otterLogger routes otter's warnings to the Cache's logger.
type otterLogger struct{ log *slog.Logger }

func (l otterLogger) Warn(ctx context.Context, msg string, err error) {
	l.log.WarnContext(ctx, "cache: L1: "+msg, "err", err)
}

func (l otterLogger) Error(ctx context.Context, msg string, err error) {
	l.log.ErrorContext(ctx, "cache: L1: "+msg, "err", err)
}
