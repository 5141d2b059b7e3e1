package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"athena/internal/core"
	"athena/internal/redistest"
	"athena/internal/testkit"
)

var (
	testPipeline = Pipeline{
		Modules: []Module{{"patterns", "1.0.0"}, {"filetype", "0.3.1"}},
		RuleSet: "2026.07.1",
		Config:  map[string]string{"max_depth": "8"},
	}
	testFP = testPipeline.Fingerprint()
)

// hashOf returns the sha256 of a made-up file number i.
func hashOf(i int) string {
	s := sha256.Sum256([]byte("file " + strconv.Itoa(i)))
	return hex.EncodeToString(s[:])
}

func keyOf(i int) Key { return Key{SHA256: hashOf(i), Fingerprint: testFP} }

// verdictOf is a complete, cacheable verdict for file i.
func verdictOf(i int) core.Verdict {
	h := hashOf(i)
	return core.Verdict{
		Label:   core.LabelSuspicious,
		Score:   50,
		Reasons: []string{"patterns: url " + strconv.Itoa(i)},
		SHA256:  h,
		Size:    int64(1000 + i),
		Hashes:  core.Hashes{MD5: strings.Repeat("a", 32), SHA1: strings.Repeat("b", 40), SHA256: h, SHA512: strings.Repeat("c", 128)},
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newCache creates a Cache for a test with fast health probes, generous
// timeouts and its own registry, closed when the test ends.
func newCache(t testing.TB, cfg Config) (*Cache, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if cfg.Registerer == nil {
		cfg.Registerer = reg
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = 50 * time.Millisecond
	}
	// The defaults (200ms reads) suit a production Redis next to the
	// gateway; a loaded test machine running -race needs more. A killed
	// Redis refuses connections at once, whatever the timeouts.
	if cfg.ReadTimeout == 0 && cfg.WriteTimeout == 0 && cfg.OpTimeout == 0 {
		cfg.ReadTimeout, cfg.WriteTimeout, cfg.OpTimeout = 3*time.Second, 3*time.Second, 10*time.Second
	}
	c, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c, reg
}

// rawClient talks to the test server directly, to check what is stored.
func rawClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// metricValue returns the value of the counter or gauge name with labels.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return value(m)
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

func TestKeyValidate(t *testing.T) {
	good := hashOf(1)
	tests := []struct {
		name string
		key  Key
		ok   bool
	}{
		{"valid", Key{good, testFP}, true},
		{"fingerprint with dots and dashes", Key{good, "pipe-1.2_x"}, true},
		{"upper-case hex", Key{strings.ToUpper(good), testFP}, false},
		{"short sha", Key{good[:63], testFP}, false},
		{"long sha", Key{good + "0", testFP}, false},
		{"non-hex sha", Key{"g" + good[1:], testFP}, false},
		{"empty fingerprint", Key{good, ""}, false},
		{"colon in fingerprint", Key{good, "a:b"}, false},
		{"space in fingerprint", Key{good, "a b"}, false},
		{"fingerprint too long", Key{good, strings.Repeat("f", 129)}, false},
		{"fingerprint at max length", Key{good, strings.Repeat("f", 128)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.key.Validate()
			if got := err == nil; got != tt.ok {
				t.Fatalf("Validate(%v) = %v, want ok %v", tt.key, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidKey) {
				t.Errorf("error %v does not wrap ErrInvalidKey", err)
			}
		})
	}
}

func TestPipelineFingerprint(t *testing.T) {
	base := testPipeline
	reordered := Pipeline{
		Modules: []Module{{"filetype", "0.3.1"}, {"patterns", "1.0.0"}},
		RuleSet: base.RuleSet,
		Config:  map[string]string{"max_depth": "8"},
	}
	if got, want := reordered.Fingerprint(), base.Fingerprint(); got != want {
		t.Errorf("fingerprint depends on module order: got %s, want %s", got, want)
	}
	if err := (Key{hashOf(0), base.Fingerprint()}).Validate(); err != nil {
		t.Errorf("fingerprint is not a valid key part: %v", err)
	}
	changes := []struct {
		name string
		p    Pipeline
	}{
		{"module version", Pipeline{Modules: []Module{{"patterns", "1.0.1"}, {"filetype", "0.3.1"}}, RuleSet: base.RuleSet, Config: base.Config}},
		{"module removed", Pipeline{Modules: []Module{{"patterns", "1.0.0"}}, RuleSet: base.RuleSet, Config: base.Config}},
		{"rule set", Pipeline{Modules: base.Modules, RuleSet: "2026.07.2", Config: base.Config}},
		{"config value", Pipeline{Modules: base.Modules, RuleSet: base.RuleSet, Config: map[string]string{"max_depth": "9"}}},
		{"config key added", Pipeline{Modules: base.Modules, RuleSet: base.RuleSet, Config: map[string]string{"max_depth": "8", "x": ""}}},
		{"ambiguous split", Pipeline{Modules: []Module{{"patterns 1", ".0.0"}, {"filetype", "0.3.1"}}, RuleSet: base.RuleSet, Config: base.Config}},
	}
	for _, ch := range changes {
		if ch.p.Fingerprint() == base.Fingerprint() {
			t.Errorf("%s: fingerprint unchanged", ch.name)
		}
	}
	got := base.Tags()
	want := []string{"module:filetype@0.3.1", "module:patterns@1.0.0", "rules:2026.07.1"}
	if !slices.Equal(got, want) {
		t.Errorf("Tags() = %q, want %q", got, want)
	}
}

// TestGetPut runs hit and miss in each configuration: L1 only, L2 only,
// both levels.
func TestGetPut(t *testing.T) {
	srv := redistest.Start(t)
	tests := []struct {
		name      string
		cfg       Config
		wantLevel int // the level that answers the hit
	}{
		{"l1 only", Config{}, levelL1},
		{"l2 only", Config{RedisURL: srv.URL, L1MaxEntries: -1}, levelL2},
		{"both", Config{RedisURL: srv.URL}, levelL1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newCache(t, tt.cfg)
			ctx := t.Context()
			k, v := keyOf(100+i), verdictOf(100+i)
			if got, ok := c.Get(ctx, k); ok {
				t.Fatalf("Get before Put = %+v, want a miss", got)
			}
			if err := c.Put(ctx, k, v, testPipeline.Tags()); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got, ok := c.Get(ctx, k)
			if !ok {
				t.Fatalf("Get after Put: miss, want a hit")
			}
			want := v
			want.Cached = true
			if !equalVerdicts(got, want) {
				t.Errorf("Get = %+v, want %+v", got, want)
			}
			got.Reasons[0] = "mutated by the caller"
			if again, _ := c.Get(ctx, k); again.Reasons[0] != v.Reasons[0] {
				t.Errorf("a caller's change to a returned verdict reached the cache: %q", again.Reasons[0])
			}
			st := c.Stats()
			if got, want := st.Hits, uint64(2); got != want {
				t.Errorf("Stats.Hits = %d, want %d", got, want)
			}
			if got, want := st.Misses, uint64(1); got != want {
				t.Errorf("Stats.Misses = %d, want %d", got, want)
			}
			lv := []LevelStats{st.L1, st.L2}[tt.wantLevel]
			if lv.Hits != 2 {
				t.Errorf("level %s hits = %d, want 2 (stats %+v)", levelNames[tt.wantLevel], lv.Hits, st)
			}
			if lv.Latency["get"].Count == 0 {
				t.Errorf("level %s has no get latency: %+v", levelNames[tt.wantLevel], lv.Latency)
			}
			if err := c.Ready(); err != nil {
				t.Errorf("Ready = %v, want nil", err)
			}
		})
	}
}

func equalVerdicts(a, b core.Verdict) bool {
	return a.Label == b.Label && a.Score == b.Score && slices.Equal(a.Reasons, b.Reasons) &&
		a.SHA256 == b.SHA256 && a.Size == b.Size && a.Hashes == b.Hashes && a.Cached == b.Cached && a.Partial == b.Partial
}

// TestL2HitFillsL1: a second process finds the verdict in Redis, then in
// its own L1.
func TestL2HitFillsL1(t *testing.T) {
	srv := redistest.Start(t)
	writer, _ := newCache(t, Config{RedisURL: srv.URL})
	reader, reg := newCache(t, Config{RedisURL: srv.URL})
	ctx := t.Context()
	k := keyOf(1)
	if err := writer.Put(ctx, k, verdictOf(1), nil); err != nil {
		t.Fatalf("Put: %v", err)
	}
	for range 2 {
		if _, ok := reader.Get(ctx, k); !ok {
			t.Fatalf("Get: miss, want a hit")
		}
	}
	for _, tt := range []struct {
		level, result string
		want          float64
	}{
		{"l1", "miss", 1}, {"l2", "hit", 1}, {"l1", "hit", 1}, {"l2", "miss", 0},
	} {
		got := metricValue(t, reg, "athena_cache_requests_total", map[string]string{"level": tt.level, "result": tt.result})
		if got != tt.want {
			t.Errorf("athena_cache_requests_total{level=%s,result=%s} = %v, want %v", tt.level, tt.result, got, tt.want)
		}
	}
}

func TestPutRefuses(t *testing.T) {
	srv := redistest.Start(t)
	c, _ := newCache(t, Config{RedisURL: srv.URL})
	rdb := rawClient(t, srv)
	ctx := t.Context()
	partial := verdictOf(1)
	partial.Partial = true
	unlabelled := verdictOf(1)
	unlabelled.Label = ""
	tests := []struct {
		name string
		key  Key
		v    core.Verdict
		tags []string
		want error
	}{
		{"partial", keyOf(1), partial, nil, ErrNotCacheable},
		{"no label", keyOf(1), unlabelled, nil, ErrNotCacheable},
		{"another file's verdict", keyOf(1), verdictOf(2), nil, ErrNotCacheable},
		{"bad key", Key{SHA256: "abc", Fingerprint: testFP}, verdictOf(1), nil, ErrInvalidKey},
		{"empty tag", keyOf(1), verdictOf(1), []string{""}, ErrInvalidTag},
		{"tag with a space", keyOf(1), verdictOf(1), []string{"module:a b"}, ErrInvalidTag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Put(ctx, tt.key, tt.v, tt.tags)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Put = %v, want %v", err, tt.want)
			}
			if _, ok := c.Get(ctx, keyOf(1)); ok {
				t.Errorf("Get after a refused Put: hit, want a miss")
			}
			if n := rdb.DBSize(ctx).Val(); n != 0 {
				t.Errorf("redis holds %d keys after a refused Put, want 0", n)
			}
		})
	}
}

func TestFingerprintChangeMisses(t *testing.T) {
	srv := redistest.Start(t)
	c, _ := newCache(t, Config{RedisURL: srv.URL})
	ctx := t.Context()
	if err := c.Put(ctx, keyOf(1), verdictOf(1), testPipeline.Tags()); err != nil {
		t.Fatalf("Put: %v", err)
	}
	updated := testPipeline
	updated.RuleSet = "2026.07.2"
	k := Key{SHA256: hashOf(1), Fingerprint: updated.Fingerprint()}
	if v, ok := c.Get(ctx, k); ok {
		t.Fatalf("Get with the new pipeline's fingerprint = %+v, want a miss", v)
	}
	found, unknown, err := c.GetMany(ctx, k.Fingerprint, []string{hashOf(1)})
	if err != nil || len(found) != 0 || !slices.Equal(unknown, []string{hashOf(1)}) {
		t.Fatalf("GetMany with the new fingerprint = %v, %v, %v; want nothing found", found, unknown, err)
	}
	if _, ok := c.Get(ctx, keyOf(1)); !ok {
		t.Errorf("Get with the old fingerprint: miss, want a hit")
	}
}

func TestTTLExpiry(t *testing.T) {
	srv := redistest.Start(t)
	rdb := rawClient(t, srv)
	c, _ := newCache(t, Config{RedisURL: srv.URL, TTL: time.Second, L1TTL: 300 * time.Millisecond})
	ctx := t.Context()
	k := keyOf(1)
	start := time.Now()
	if err := c.Put(ctx, k, verdictOf(1), []string{"op:batch-7"}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if ttl := rdb.PTTL(ctx, redisKey(k)).Val(); ttl <= 0 || ttl > time.Second {
		t.Errorf("PTTL of the verdict = %v, want in (0, 1s]", ttl)
	}
	if ttl := rdb.PTTL(ctx, tagKey("op:batch-7")).Val(); ttl <= time.Second {
		t.Errorf("PTTL of the tag set = %v, want more than the verdict's", ttl)
	}
	if _, ok := c.Get(ctx, k); !ok {
		t.Fatalf("Get right after Put: miss")
	}
	// L1 expires first: the verdict is then served by Redis.
	testkit.WaitForNil(t, 5*time.Second, "a hit served by L2 after L1TTL", func() error {
		if _, ok := c.Get(ctx, k); !ok {
			return errors.New("miss")
		}
		if h := c.Stats().L2.Hits; h == 0 {
			return errors.New("no L2 hit yet")
		}
		return nil
	})
	testkit.WaitForNil(t, 5*time.Second, "a miss after TTL", func() error {
		if _, ok := c.Get(ctx, k); ok {
			return errors.New("still a hit")
		}
		return nil
	})
	if took := time.Since(start); took < time.Second {
		t.Errorf("verdict expired after %v, before its TTL of 1s", took)
	}
	if n := rdb.Exists(ctx, redisKey(k)).Val(); n != 0 {
		t.Errorf("verdict key still in redis after TTL")
	}
}

// TestL1TTLWithoutRedis: the L1 alone expires entries too.
func TestL1TTLWithoutRedis(t *testing.T) {
	c, reg := newCache(t, Config{L1TTL: 100 * time.Millisecond})
	ctx := t.Context()
	if err := c.Put(ctx, keyOf(1), verdictOf(1), nil); err != nil {
		t.Fatalf("Put: %v", err)
	}
	testkit.WaitForNil(t, 5*time.Second, "a miss after L1TTL", func() error {
		if _, ok := c.Get(ctx, keyOf(1)); ok {
			return errors.New("still a hit")
		}
		return nil
	})
	testkit.WaitForNil(t, 5*time.Second, "the expiry counted as an eviction", func() error {
		c.l1.CleanUp()
		if v := metricValue(t, reg, "athena_cache_evictions_total", map[string]string{"cause": "expired"}); v != 1 {
			return fmt.Errorf("evictions{cause=expired} = %v, want 1", v)
		}
		return nil
	})
}

func TestL1Bounds(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		maxEntries int
	}{
		{"entries", Config{L1MaxEntries: 20}, 20},
		// A verdict of this test encodes to about 600 bytes.
		{"bytes", Config{L1MaxEntries: 1000, L1MaxBytes: 10 * 700}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, reg := newCache(t, tt.cfg)
			ctx := t.Context()
			for i := range 200 {
				if err := c.Put(ctx, keyOf(i), verdictOf(i), nil); err != nil {
					t.Fatalf("Put: %v", err)
				}
			}
			testkit.WaitForNil(t, 5*time.Second, "L1 within its bound", func() error {
				c.l1.CleanUp()
				if n := c.l1.EstimatedSize(); n > tt.maxEntries {
					return fmt.Errorf("L1 holds %d entries, want at most %d", n, tt.maxEntries)
				}
				if w := c.l1.WeightedSize(); w > uint64(c.cfg.L1MaxBytes) {
					return fmt.Errorf("L1 weighs %d, over %d", w, c.cfg.L1MaxBytes)
				}
				return nil
			})
			if v := metricValue(t, reg, "athena_cache_evictions_total", map[string]string{"cause": "size"}); v < 100 {
				t.Errorf("evictions{cause=size} = %v, want at least 100", v)
			}
			if got, want := metricValue(t, reg, "athena_cache_l1_entries", nil), float64(c.l1.EstimatedSize()); got != want {
				t.Errorf("athena_cache_l1_entries = %v, want %v", got, want)
			}
		})
	}
}

func TestInvalidateTag(t *testing.T) {
	srv := redistest.Start(t)
	rdb := rawClient(t, srv)
	tests := []struct {
		name string
		tag  string
		hit  func(i int) bool // which of files 0..9 carry the tag
	}{
		{"module", "module:patterns@1.0.0", func(i int) bool { return i%2 == 0 }},
		{"rule set", "rules:2026.07.1", func(i int) bool { return i < 3 }},
		{"fingerprint", FingerprintTag(testFP), func(int) bool { return true }},
		{"operator tag", "incident:4711", func(i int) bool { return i == 7 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			a, _ := newCache(t, Config{RedisURL: srv.URL})
			b, _ := newCache(t, Config{RedisURL: srv.URL})
			var tagged int
			for i := range 10 {
				var tags []string
				if i%2 == 0 {
					tags = append(tags, "module:patterns@1.0.0")
				}
				if i < 3 {
					tags = append(tags, "rules:2026.07.1")
				}
				if i == 7 {
					tags = append(tags, "incident:4711")
				}
				if tt.hit(i) {
					tagged++
				}
				if err := a.Put(ctx, keyOf(i), verdictOf(i), tags); err != nil {
					t.Fatalf("Put %d: %v", i, err)
				}
				if _, ok := b.Get(ctx, keyOf(i)); !ok { // now in b's L1
					t.Fatalf("b.Get %d: miss", i)
				}
			}
			removed, err := a.InvalidateTag(ctx, tt.tag)
			if err != nil {
				t.Fatalf("InvalidateTag: %v", err)
			}
			if removed != tagged {
				t.Errorf("InvalidateTag removed %d, want %d", removed, tagged)
			}
			if n := rdb.Exists(ctx, tagKey(tt.tag)).Val(); n != 0 {
				t.Errorf("tag set still exists")
			}
			for i := range 10 {
				if _, ok := a.Get(ctx, keyOf(i)); ok == tt.hit(i) {
					t.Errorf("a.Get(%d) after invalidation: hit %v, want %v", i, ok, !tt.hit(i))
				}
			}
			// b learns it through pub/sub: its L1 still held every verdict.
			testkit.WaitForNil(t, 5*time.Second, "invalidation reaching b's L1", func() error {
				for i := range 10 {
					if _, ok := b.Get(ctx, keyOf(i)); ok == tt.hit(i) {
						return fmt.Errorf("b.Get(%d): hit %v, want %v", i, ok, !tt.hit(i))
					}
				}
				return nil
			})
		})
	}
}

func TestInvalidateTagL1Only(t *testing.T) {
	c, _ := newCache(t, Config{})
	ctx := t.Context()
	for i := range 4 {
		if err := c.Put(ctx, keyOf(i), verdictOf(i), []string{"batch:" + strconv.Itoa(i%2)}); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := c.InvalidateTag(ctx, "batch:0")
	if err != nil || removed != 2 {
		t.Fatalf("InvalidateTag = %d, %v; want 2, nil", removed, err)
	}
	for i := range 4 {
		if _, ok := c.Get(ctx, keyOf(i)); ok != (i%2 == 1) {
			t.Errorf("Get(%d): hit %v, want %v", i, ok, i%2 == 1)
		}
	}
	if _, err := c.InvalidateTag(ctx, "bad tag"); !errors.Is(err, ErrInvalidTag) {
		t.Errorf("InvalidateTag(bad tag) = %v, want ErrInvalidTag", err)
	}
}

// TestInvalidateLargeTag deletes more than one script batch.
func TestInvalidateLargeTag(t *testing.T) {
	srv := redistest.Start(t)
	c, _ := newCache(t, Config{RedisURL: srv.URL, L1MaxEntries: -1})
	rdb := rawClient(t, srv)
	ctx := t.Context()
	const n = 2500
	for i := range n {
		if err := c.Put(ctx, keyOf(i), verdictOf(i), []string{"big"}); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := c.InvalidateTag(ctx, "big")
	if err != nil || removed != n {
		t.Fatalf("InvalidateTag = %d, %v; want %d, nil", removed, err, n)
	}
	// Left: the fp tag set only.
	if keys := rdb.Keys(ctx, "*").Val(); !slices.Equal(keys, []string{tagKey(FingerprintTag(testFP))}) {
		t.Errorf("keys left = %q, want only the fingerprint tag set", keys)
	}
}

func TestGetManyOneRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	rdb := rawClient(t, srv)
	writer, _ := newCache(t, Config{RedisURL: srv.URL})
	c, _ := newCache(t, Config{RedisURL: srv.URL})
	ctx := t.Context()
	// Files 0-199 in c's L1 and Redis, 200-499 in Redis only, 500-999 unknown.
	want := map[string]bool{}
	hashes := make([]string, 0, MaxBatch)
	for i := range MaxBatch {
		h := hashOf(i)
		hashes = append(hashes, h)
		switch {
		case i < 200:
			want[h] = true
			if err := c.Put(ctx, keyOf(i), verdictOf(i), nil); err != nil {
				t.Fatal(err)
			}
		case i < 500:
			want[h] = true
			if err := writer.Put(ctx, keyOf(i), verdictOf(i), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	found, unknown, err := c.GetMany(ctx, testFP, hashes)
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	stats := rdb.Info(ctx, "commandstats").Val()
	if got := commandCalls(stats, "mget"); got != 1 {
		t.Errorf("MGET calls = %d, want 1; commandstats:\n%s", got, stats)
	}
	if got := commandCalls(stats, "get"); got != 0 {
		t.Errorf("GET calls = %d, want 0", got)
	}
	if got, wantN := len(found), 500; got != wantN {
		t.Errorf("found %d, want %d", got, wantN)
	}
	for h, v := range found {
		if !want[h] || v.SHA256 != h || !v.Cached {
			t.Errorf("found[%s] = %+v, unexpected", h, v)
		}
	}
	if got, wantN := len(unknown), 500; got != wantN {
		t.Errorf("unknown has %d, want %d", got, wantN)
	}
	if !slices.Equal(unknown, hashes[500:]) {
		t.Errorf("unknown is not the unknown hashes in request order")
	}
	st := c.Stats()
	for _, tt := range []struct {
		name      string
		got, want uint64
	}{
		{"L1 hits", st.L1.Hits, 200}, {"L1 misses", st.L1.Misses, 800},
		{"L2 hits", st.L2.Hits, 300}, {"L2 misses", st.L2.Misses, 500},
		{"hits", st.Hits, 500}, {"misses", st.Misses, 500},
	} {
		if tt.got != tt.want {
			t.Errorf("Stats %s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}

	// The L2 hits are in L1 now: a second batch needs no Redis at all.
	_ = rdb.ConfigResetStat(ctx)
	found, _, _ = c.GetMany(ctx, testFP, hashes[:500])
	if len(found) != 500 {
		t.Errorf("second GetMany found %d, want 500", len(found))
	}
	if got := commandCalls(rdb.Info(ctx, "commandstats").Val(), "mget"); got != 0 {
		t.Errorf("second GetMany: MGET calls = %d, want 0", got)
	}
}

func TestGetManyArguments(t *testing.T) {
	c, _ := newCache(t, Config{})
	ctx := t.Context()
	if err := c.Put(ctx, keyOf(1), verdictOf(1), nil); err != nil {
		t.Fatal(err)
	}
	tooMany := make([]string, MaxBatch+1)
	for i := range tooMany {
		tooMany[i] = hashOf(i)
	}
	tests := []struct {
		name        string
		fp          string
		hashes      []string
		wantErr     error
		wantFound   int
		wantUnknown []string
	}{
		{"too many", testFP, tooMany, ErrBatchTooLarge, 0, nil},
		{"bad hash", testFP, []string{hashOf(1), "xyz"}, ErrInvalidKey, 0, nil},
		{"bad fingerprint", "a:b", []string{hashOf(1)}, ErrInvalidKey, 0, nil},
		{"duplicates", testFP, []string{hashOf(1), hashOf(2), hashOf(1), hashOf(2)}, nil, 1, []string{hashOf(2)}},
		{"empty", testFP, nil, nil, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found, unknown, err := c.GetMany(ctx, tt.fp, tt.hashes)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("GetMany error = %v, want %v", err, tt.wantErr)
			}
			if len(found) != tt.wantFound || !slices.Equal(unknown, tt.wantUnknown) {
				t.Errorf("GetMany = %d found, unknown %q; want %d, %q", len(found), unknown, tt.wantFound, tt.wantUnknown)
			}
		})
	}
}

// commandCalls reads the calls of one command from INFO commandstats.
func commandCalls(info, cmd string) int {
	for line := range strings.Lines(info) {
		rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		return n
	}
	return 0
}

func TestCorruptValueIsCountedMiss(t *testing.T) {
	srv := redistest.Start(t)
	rdb := rawClient(t, srv)
	c, reg := newCache(t, Config{RedisURL: srv.URL})
	ctx := t.Context()
	other, _ := encodeValue(verdictOf(2), nil)
	partial := verdictOf(3)
	partial.Partial = true
	partialJSON, _ := encodeValue(partial, nil)
	tests := []struct {
		name  string
		i     int
		value string
	}{
		{"not json", 1, "\x00garbage"},
		{"another file's verdict", 2 + 100, string(other)},
		{"partial verdict", 3, string(partialJSON)},
		{"bad tag", 4, `{"tags":[""],"verdict":{"label":"clean","sha256":"` + hashOf(4) + `"}}`},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := keyOf(tt.i)
			if err := rdb.Set(ctx, redisKey(k), tt.value, 0).Err(); err != nil {
				t.Fatal(err)
			}
			v, ok, err := c.GetErr(ctx, k)
			if ok || !errors.Is(err, errCorrupt) {
				t.Fatalf("GetErr = %+v, %v, %v; want a miss and a corrupt-value error", v, ok, err)
			}
			found, unknown, err := c.GetMany(ctx, testFP, []string{k.SHA256})
			if err != nil || len(found) != 0 || len(unknown) != 1 {
				t.Fatalf("GetMany = %v, %v, %v; want the hash unknown", found, unknown, err)
			}
			if got, want := metricValue(t, reg, "athena_cache_errors_total", map[string]string{"op": "decode"}), float64(2*(n+1)); got != want {
				t.Errorf("errors_total{op=decode} = %v, want %v", got, want)
			}
			if err := c.Ready(); err != nil {
				t.Errorf("Ready after a corrupt value = %v, want nil", err)
			}
		})
	}
}

// TestRedisKilledAndRestarted: with Redis gone, calls answer misses at once
// and count errors; once Redis is back, hits and invalidations resume.
func TestRedisKilledAndRestarted(t *testing.T) {
	srv := redistest.Start(t)
	a, regA := newCache(t, Config{RedisURL: srv.URL})
	b, _ := newCache(t, Config{RedisURL: srv.URL, L1MaxEntries: -1}) // Redis only
	ctx := t.Context()
	if err := a.Put(ctx, keyOf(1), verdictOf(1), nil); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if _, ok := b.Get(ctx, keyOf(1)); !ok {
		t.Fatalf("b.Get before the kill: miss")
	}

	srv.Kill()
	start := time.Now()
	_, ok, err := b.GetErr(ctx, keyOf(1))
	if ok || err == nil {
		t.Fatalf("b.GetErr with redis killed = %v, %v; want a miss and an error", ok, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("first Get with redis killed took %v", took)
	}
	testkit.WaitForNil(t, 5*time.Second, "a degraded", func() error {
		if err := a.Ready(); !errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("Ready = %v", err)
		}
		return nil
	})
	if err := b.Ready(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "degraded: redis unreachable") {
		t.Errorf("b.Ready = %v, want degraded: redis unreachable", err)
	}
	// While degraded, calls skip Redis at once.
	start = time.Now()
	for i := range 50 {
		if _, ok := b.Get(ctx, keyOf(i)); ok {
			t.Fatalf("b.Get(%d) with redis down: hit", i)
		}
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("50 degraded Gets took %v, want them to skip Redis", took)
	}
	if found, unknown, err := b.GetMany(ctx, testFP, []string{hashOf(1), hashOf(2)}); err != nil || len(found) != 0 || len(unknown) != 2 {
		t.Errorf("b.GetMany degraded = %v, %v, %v; want all unknown, no error", found, unknown, err)
	}
	// Put keeps the verdict in L1 and reports that Redis did not get it.
	if err := a.Put(ctx, keyOf(2), verdictOf(2), nil); err == nil {
		t.Errorf("a.Put with redis down = nil, want an error")
	}
	if _, ok := a.Get(ctx, keyOf(2)); !ok {
		t.Errorf("a.Get of a verdict Put while redis was down: miss, want an L1 hit")
	}
	if _, err := a.InvalidateTag(ctx, "x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("InvalidateTag degraded = %v, want ErrUnavailable", err)
	}
	if st := b.Stats(); st.Redis != "degraded" || st.L2.Errors == 0 || st.Errors == 0 {
		t.Errorf("b.Stats = redis %q, %d L2 errors; want degraded with errors", st.Redis, st.L2.Errors)
	}
	if v := metricValue(t, regA, "athena_cache_redis_up", nil); v != 0 {
		t.Errorf("athena_cache_redis_up = %v, want 0", v)
	}
	if v := metricValue(t, regA, "athena_cache_errors_total", map[string]string{"op": "put"}); v < 1 {
		t.Errorf("errors_total{op=put} = %v, want at least 1", v)
	}

	srv.Restart() // empty: persistence is off
	for name, c := range map[string]*Cache{"a": a, "b": b} {
		testkit.WaitForNil(t, 10*time.Second, name+" ready again", c.Ready)
	}
	if v := metricValue(t, regA, "athena_cache_redis_up", nil); v != 1 {
		t.Errorf("athena_cache_redis_up = %v, want 1", v)
	}
	if err := a.Put(ctx, keyOf(3), verdictOf(3), nil); err != nil {
		t.Fatalf("a.Put after restart: %v", err)
	}
	hitsBefore := b.Stats().L2.Hits
	if _, ok := b.Get(ctx, keyOf(3)); !ok {
		t.Fatalf("b.Get after restart: miss, want an L2 hit")
	}
	if got := b.Stats().L2.Hits; got != hitsBefore+1 {
		t.Errorf("b L2 hits = %d, want %d", got, hitsBefore+1)
	}
	// a's subscription comes back: both Caches listen again, and an
	// invalidation from b reaches a's L1.
	rdb := rawClient(t, srv)
	testkit.WaitForNil(t, 10*time.Second, "both subscribed again", func() error {
		n := rdb.PubSubNumSub(ctx, invalidateChan).Val()[invalidateChan]
		if n != 2 {
			return fmt.Errorf("%d subscribers", n)
		}
		return nil
	})
	if _, err := b.InvalidateTag(ctx, FingerprintTag(testFP)); err != nil {
		t.Fatalf("b.InvalidateTag after restart: %v", err)
	}
	testkit.WaitForNil(t, 5*time.Second, "invalidation reaching a", func() error {
		if _, ok := a.Get(ctx, keyOf(3)); ok {
			return errors.New("a still hits")
		}
		return nil
	})
}

func TestNewWithRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	start := time.Now()
	c, _ := newCache(t, Config{RedisURL: srv.URL})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("New with redis down took %v", took)
	}
	if err := c.Ready(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready = %v, want ErrUnavailable", err)
	}
	ctx := t.Context()
	if err := c.Put(ctx, keyOf(1), verdictOf(1), nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Put = %v, want ErrUnavailable", err)
	}
	srv.Restart()
	testkit.WaitForNil(t, 10*time.Second, "ready once redis runs", c.Ready)
	// The L1 entry from the outage goes when the subscription comes up:
	// invalidations could have been missed meanwhile.
	testkit.WaitForNil(t, 10*time.Second, "L1 emptied on subscribe", func() error {
		if n := c.l1.EstimatedSize(); n != 0 {
			return fmt.Errorf("L1 holds %d", n)
		}
		return nil
	})
	if err := c.Put(ctx, keyOf(1), verdictOf(1), nil); err != nil {
		t.Errorf("Put after recovery: %v", err)
	}
}

func TestClose(t *testing.T) {
	srv := redistest.Start(t)
	for _, url := range []string{"", srv.URL} {
		c, err := New(t.Context(), Config{RedisURL: url, Logger: quiet, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		if err := c.Put(ctx, keyOf(1), verdictOf(1), nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Close(ctx); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := c.Put(ctx, keyOf(1), verdictOf(1), nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Put after Close = %v, want ErrClosed", err)
		}
		if _, ok := c.Get(ctx, keyOf(1)); ok {
			t.Errorf("Get after Close: hit, want a miss")
		}
		if _, _, err := c.GetMany(ctx, testFP, []string{hashOf(1)}); !errors.Is(err, ErrClosed) {
			t.Errorf("GetMany after Close = %v, want ErrClosed", err)
		}
		if err := c.Ready(); !errors.Is(err, ErrClosed) {
			t.Errorf("Ready after Close = %v, want ErrClosed", err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"bad url", Config{RedisURL: "http://x"}},
		{"negative ttl", Config{TTL: -time.Second}},
		{"ttl under 1ms", Config{TTL: time.Microsecond}},
		{"negative pool", Config{PoolSize: -1}},
		{"negative bytes", Config{L1MaxBytes: -1}},
		{"backoffs reversed", Config{MinRetryBackoff: time.Second, MaxRetryBackoff: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(t.Context(), tt.cfg)
			if err == nil {
				_ = c.Close(t.Context())
				t.Fatalf("New(%+v) = nil error, want one", tt.cfg)
			}
		})
	}
	// Twice on one registry: the second registration fails cleanly.
	reg := prometheus.NewRegistry()
	c, err := New(t.Context(), Config{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	if _, err := New(t.Context(), Config{Registerer: reg}); err == nil {
		t.Errorf("second New on one registry = nil error, want a duplicate registration error")
	}
}

// TestConcurrentUse runs Gets, Puts, GetManys and invalidations at once;
// its point is the race detector.
func TestConcurrentUse(t *testing.T) {
	srv := redistest.Start(t)
	c, _ := newCache(t, Config{RedisURL: srv.URL, L1MaxEntries: 50})
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				n := (w*100 + i) % 120
				tag := "worker:" + strconv.Itoa(w)
				if err := c.Put(ctx, keyOf(n), verdictOf(n), []string{tag}); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				c.Get(ctx, keyOf((n+7)%120))
				if i%10 == 0 {
					_, _, _ = c.GetMany(ctx, testFP, []string{hashOf(n), hashOf(n + 1)})
				}
				if i%25 == 0 {
					if _, err := c.InvalidateTag(ctx, tag); err != nil {
						t.Errorf("InvalidateTag: %v", err)
					}
				}
				_ = c.Stats()
			}
		})
	}
	wg.Wait()
}

func TestLatencyBuckets(t *testing.T) {
	for _, ns := range []uint64{0, 1, 7, 8, 9, 15, 16, 100, 1000, 123456, 1 << 40, 1<<63 + 5, ^uint64(0)} {
		i := bucketOf(ns)
		if i < 0 || i >= nBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", ns, i)
		}
		mid := bucketMid(i)
		if rel := (mid - float64(ns)) / max(float64(ns), 1); rel > 0.125 || rel < -0.125 {
			t.Errorf("bucketOf(%d): middle %v is %.1f%% away", ns, mid, rel*100)
		}
	}
	var l latency
	for i := 1; i <= 100; i++ {
		l.observe(time.Duration(i) * time.Microsecond)
	}
	s := l.snapshot()
	if s.Count != 100 || s.MeanUS < 50 || s.MeanUS > 51 {
		t.Errorf("snapshot = %+v, want count 100, mean 50.5µs", s)
	}
	if s.P50US < 50*0.875 || s.P50US > 50*1.125 || s.P99US < 99*0.875 || s.P99US > 99*1.125 {
		t.Errorf("snapshot = %+v, want p50 near 50µs and p99 near 99µs", s)
	}
}

func TestMain(m *testing.M) {
	SetRedisLogger(quiet) // no "failed to dial" lines from the kill tests
	os.Exit(m.Run())
}

// TestRedisPartitioned: Redis stops answering without closing connections
// (a network partition). With the default timeouts a Get gives up within
// OpTimeout, later Gets skip Redis at once, the invalidation subscriber
// notices its dead connection, and everything resumes when the network
// does.
func TestRedisPartitioned(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv)
	// The package defaults, not newCache's generous test timeouts.
	cfg := Config{
		RedisURL:     proxy.URL,
		ReadTimeout:  DefaultReadTimeout,
		WriteTimeout: DefaultWriteTimeout,
		OpTimeout:    DefaultOpTimeout,
	}
	a, regA := newCache(t, cfg)
	b, _ := newCache(t, Config{RedisURL: srv.URL}) // not partitioned
	ctx := t.Context()
	if err := a.Put(ctx, keyOf(1), verdictOf(1), nil); err != nil {
		t.Fatalf("Put: %v", err)
	}

	proxy.Freeze()
	start := time.Now()
	if _, ok, err := a.GetErr(ctx, keyOf(2)); ok || err == nil {
		t.Errorf("GetErr through a partition = %v, %v; want a miss and an error", ok, err)
	}
	if took := time.Since(start); took > DefaultOpTimeout+time.Second {
		t.Errorf("first Get through a partition took %v, want about OpTimeout (%v) at most", took, DefaultOpTimeout)
	}
	testkit.WaitForNil(t, 5*time.Second, "a degraded", func() error {
		if err := a.Ready(); err == nil {
			return errors.New("still ready")
		}
		return nil
	})
	start = time.Now()
	for i := range 20 {
		a.Get(ctx, keyOf(10+i))
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("20 Gets while degraded took %v, want them to skip Redis", took)
	}
	testkit.WaitForNil(t, 10*time.Second, "the subscriber noticing its dead connection", func() error {
		if v := metricValue(t, regA, "athena_cache_errors_total", map[string]string{"op": "subscribe"}); v == 0 {
			return errors.New("no subscribe error yet")
		}
		return nil
	})

	proxy.Thaw()
	testkit.WaitForNil(t, 10*time.Second, "a ready again", a.Ready)
	testkit.WaitForNil(t, 10*time.Second, "a serving a verdict stored by b", func() error {
		if err := b.Put(ctx, keyOf(3), verdictOf(3), nil); err != nil {
			return err
		}
		if _, ok, err := a.GetErr(ctx, keyOf(3)); !ok {
			return fmt.Errorf("miss: %v", err)
		}
		return nil
	})
	testkit.WaitForNil(t, 10*time.Second, "an invalidation from b reaching a's L1", func() error {
		if _, err := b.InvalidateTag(ctx, FingerprintTag(testFP)); err != nil {
			return err
		}
		if _, ok := a.Get(ctx, keyOf(3)); ok {
			return errors.New("a still hits")
		}
		return nil
	})
}
