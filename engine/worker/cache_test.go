package worker

import (
	"context"
	"errors"
	"testing"

	"athena/engine"
	"athena/internal/cache"
	"athena/internal/redistest"
	"athena/internal/testkit"
	"athena/streams"
)

// TestCacheVerdict checks the engine side of the verdict cache: a complete
// verdict is cached under the engine's fingerprint (and only that one), with
// the pipeline's tags; an aborted job caches nothing; a pipeline change (a
// new fingerprint) misses.
func TestCacheVerdict(t *testing.T) {
	rs := redistest.Start(t)
	ctx := context.Background()
	c, err := cache.New(ctx, cache.Config{RedisURL: rs.URL, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	e := newEnv(t, streams.Topology{})
	w := e.startWorker(Config{Cache: c})

	data := plant(7, 100_000, 10_000, testkit.EICAR())
	sum := sha256Hex(data)
	e.publishJob("cached-1", int64(len(data)), "")
	e.publishChunks("cached-1", chunksOf(data, 32<<10)...)
	evs := e.waitEvents("cached-1", "the verdict", ended)
	v := evs[len(evs)-1].Verdict
	if v == nil || v.Partial {
		t.Fatalf("last event %s, want a complete verdict", summary(evs))
	}
	if got, want := v.Fingerprint, w.Fingerprint(); got != want || want == "" {
		t.Errorf("verdict fingerprint %q, want the engine's %q", got, want)
	}
	key := cache.Key{SHA256: sum, Fingerprint: w.Fingerprint()}
	testkit.WaitForNil(t, waitTimeout, "the verdict in the cache", func() error {
		if _, ok := c.Get(ctx, key); !ok {
			return errors.New("not cached yet")
		}
		return nil
	})
	got, _ := c.Get(ctx, key)
	if got.Label != v.Label || got.SHA256 != sum || !got.Cached {
		t.Errorf("cached verdict %+v, want %+v marked cached", got, v)
	}

	// A module or setting change gives another fingerprint: a miss.
	eng, err := engine.New(ctx, engine.Config{ModuleDirs: []string{modulesDir}, CacheDir: cacheDir,
		MaxFindings: 17, Logger: testLogger(t), Settings: []engine.Setting{builtinRules(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	other := eng.Pipeline().Fingerprint()
	if other == w.Fingerprint() {
		t.Fatalf("fingerprint %s did not change with MaxFindings", other)
	}
	if v, ok := c.Get(ctx, cache.Key{SHA256: sum, Fingerprint: other}); ok {
		t.Errorf("hit %+v under a changed fingerprint, want a miss", v)
	}

	// Invalidation by a module tag of the pipeline removes it.
	mods := eng.Pipeline().Modules
	if n, err := c.InvalidateTag(ctx, cache.ModuleTag(mods[0].Name, mods[0].Version)); err != nil || n != 1 {
		t.Errorf("InvalidateTag(module) = %d, %v, want 1, nil", n, err)
	}
	if _, ok := c.Get(ctx, key); ok {
		t.Error("hit after its module tag was invalidated")
	}

	// An aborted job caches nothing.
	data2 := plant(8, 100_000, 0, nil)
	e.publishJob("cached-2", int64(len(data2)), "")
	e.publishChunks("cached-2", chunksOf(data2, 32<<10)[0], streams.Chunk{Seq: 2, Offset: 32 << 10, Abort: "gone"})
	e.waitEvents("cached-2", "the abort", ended)
	e.waitJobsAcked()
	if _, ok := c.Get(ctx, cache.Key{SHA256: sha256Hex(data2), Fingerprint: w.Fingerprint()}); ok {
		t.Error("an aborted job's file is cached")
	}
}
