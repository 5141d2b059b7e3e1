package cache

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the "op" label of athena_cache_errors_total: the operations of
// opNames plus these.
const (
	errOpDecode    = "decode"    // a stored value or invalidation message did not decode
	errOpPing      = "ping"      // the health probe failed
	errOpSubscribe = "subscribe" // the invalidation subscription failed
)

// Values of the "cause" label of athena_cache_evictions_total.
const (
	evictSize    = "size"
	evictExpired = "expired"
)

// metrics holds the Prometheus instruments, resolved to label values up
// front so the hot path does no label lookups.
type metrics struct {
	requests  [nLevels][2]prometheus.Counter // [level][0 hit, 1 miss]
	durations [nLevels][nOps]prometheus.Observer
	errors    map[string]prometheus.Counter
	evictions map[string]prometheus.Counter
}

// newMetrics creates the instruments and registers them on reg when reg is
// not nil. l1Entries and redisUp are read at scrape time.
func newMetrics(reg prometheus.Registerer, l1Entries func() float64, redisUp func() float64) (*metrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "athena_cache_requests_total",
		Help: "Verdict lookups per cache level (l1, l2) and result (hit, miss); a batch counts each hash.",
	}, []string{"level", "result"})
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "athena_cache_operation_duration_seconds",
		Help:    "Duration of cache operations per level (l1, l2) and op (get, get_many, put, invalidate).",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 11), // 1µs .. 1s
	}, []string{"level", "op"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "athena_cache_errors_total",
		Help: "Failed cache operations per op (get, get_many, put, invalidate, decode, ping, subscribe); " +
			"operations skipped while Redis is unreachable count too.",
	}, []string{"op"})
	evictions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "athena_cache_evictions_total",
		Help: "L1 entries evicted, per cause: size (over the entry or byte bound) or expired (L1 TTL).",
	}, []string{"cause"})
	entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "athena_cache_l1_entries",
		Help: "Entries in the in-process L1 cache (an estimate).",
	}, l1Entries)
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "athena_cache_redis_up",
		Help: "1 when Redis (L2) answered its last probe, 0 when the cache runs degraded or without Redis.",
	}, redisUp)

	m := &metrics{errors: map[string]prometheus.Counter{}, evictions: map[string]prometheus.Counter{}}
	for l := range nLevels {
		m.requests[l][0] = requests.WithLabelValues(levelNames[l], "hit")
		m.requests[l][1] = requests.WithLabelValues(levelNames[l], "miss")
		for o := range nOps {
			m.durations[l][o] = durations.WithLabelValues(levelNames[l], opNames[o])
		}
	}
	for _, o := range append(opNames[:], errOpDecode, errOpPing, errOpSubscribe) {
		m.errors[o] = errs.WithLabelValues(o)
	}
	for _, c := range []string{evictSize, evictExpired} {
		m.evictions[c] = evictions.WithLabelValues(c)
	}
	if reg != nil {
		cs := []prometheus.Collector{requests, durations, errs, evictions, entries, up}
		for i, c := range cs {
			if err := reg.Register(c); err != nil {
				for _, done := range cs[:i] {
					reg.Unregister(done)
				}
				return nil, fmt.Errorf("cache: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
