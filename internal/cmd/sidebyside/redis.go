package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"athena/internal/cache"
	"athena/internal/core"
)

// RedisInfo is the latency of the verdict cache's Redis operations, as
// internal/cache does them against a private redis-server on loopback: the
// product target is "Redis operations under 5 ms".
type RedisInfo struct {
	Version  string    `json:"version"`
	TargetMS float64   `json:"target_ms"`
	Ops      []RedisOp `json:"ops"`
}

// RedisOp is one cache operation's latency, from the cache's own Stats
// (log-linear buckets, quantiles within 12.5%).
type RedisOp struct {
	Op      string  `json:"op"`      // the cache call
	Command string  `json:"command"` // what it sends to Redis
	Count   uint64  `json:"count"`
	MeanMS  float64 `json:"mean_ms"`
	P50MS   float64 `json:"p50_ms"`
	P99MS   float64 `json:"p99_ms"`
}

// redisTargetMS is the product target for one Redis operation.
const redisTargetMS = 5

// redisServer is a private redis-server: loopback, persistence off.
type redisServer struct {
	cmd  *exec.Cmd
	done chan struct{}
	url  string
}

// startRedis runs bin on a free loopback port with its files in dir and
// returns once it answers PING.
func startRedis(ctx context.Context, bin, dir string) (*redisServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redis-server (make deps installs it): %w", err)
	}
	s := &redisServer{cmd: cmd, done: make(chan struct{}), url: "redis://" + addr + "/0"}
	go func() { cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := ping(addr); err == nil {
			return s, nil
		} else if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("redis-server on %s: no PONG after 15 s: %v\n%s", addr, err, out.String())
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("redis-server exited before ready:\n%s", out.String())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

func (s *redisServer) stop() {
	s.cmd.Process.Kill()
	<-s.done
}

// measureRedis runs the cache's operations against url, one at a time:
// n Puts (at least 1,000: the verdicts GetMany finds) and n GETs of known
// verdicts (L1 disabled, so that every call goes to Redis), and n/10
// batches of 1,000 hashes, half of them known (GetMany, one MGET).
// Latencies are the cache's own, client side.
func measureRedis(ctx context.Context, url string, n int) ([]RedisOp, error) {
	c, err := cache.New(ctx, cache.Config{RedisURL: url, L1MaxEntries: -1})
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	const files = 1000
	fp := cache.Pipeline{Modules: []cache.Module{{Name: "patterns", Version: "2.0.0"}, {Name: "filetype", Version: "1.0.0"}}}.Fingerprint()
	keys := make([]cache.Key, 2*cache.MaxBatch)
	hashes := make([]string, 2*cache.MaxBatch)
	for i := range keys {
		hashes[i] = fmt.Sprintf("%064x", i+1)
		keys[i] = cache.Key{SHA256: hashes[i], Fingerprint: fp}
	}
	verdict := func(i int) core.Verdict {
		return core.Verdict{Label: core.LabelSuspicious, Score: 50, Reasons: []string{"patterns: url " + strconv.Itoa(i)},
			SHA256: hashes[i], Size: int64(1000 + i),
			Hashes: core.Hashes{MD5: strings.Repeat("a", 32), SHA1: strings.Repeat("b", 40), SHA256: hashes[i], SHA512: strings.Repeat("c", 128)}}
	}
	tags := []string{"module:patterns", "module:filetype", "rules:bench"}
	for i := range max(n, files) { // Put: one MULTI/EXEC transaction
		if err := c.Put(ctx, keys[i%files], verdict(i%files), tags); err != nil {
			return nil, fmt.Errorf("cache Put: %w", err)
		}
	}
	for i := range n { // Get: one GET
		if _, ok, err := c.GetErr(ctx, keys[i%files]); err != nil || !ok {
			return nil, fmt.Errorf("cache Get: found %v, %v", ok, err)
		}
	}
	batch := make([]string, cache.MaxBatch) // every other hash: the first half were put
	for i := range batch {
		batch[i] = hashes[2*i]
	}
	for range max(n/10, 1) { // GetMany: one MGET of 1,000 keys
		found, _, err := c.GetMany(ctx, fp, batch)
		if err != nil || len(found) != files/2 {
			return nil, fmt.Errorf("cache GetMany: %d found, want %d, %v", len(found), files/2, err)
		}
	}
	st := c.Stats()
	if st.Errors > 0 {
		return nil, fmt.Errorf("cache: %d Redis errors", st.Errors)
	}
	var ops []RedisOp
	for _, o := range []struct{ op, command string }{
		{"get", "GET"},
		{"get_many", "MGET of 1,000 keys (half known)"},
		{"put", "MULTI, SET, ZADD + ZREMRANGEBYSCORE + PEXPIRE per tag (4), EXEC: one round trip"},
	} {
		ls, ok := st.L2.Latency[o.op]
		if !ok || ls.Count == 0 {
			return nil, errors.New("cache: no latency for " + o.op)
		}
		ops = append(ops, RedisOp{Op: o.op, Command: o.command, Count: ls.Count,
			MeanMS: ls.MeanUS / 1e3, P50MS: ls.P50US / 1e3, P99MS: ls.P99US / 1e3})
	}
	return ops, nil
}
