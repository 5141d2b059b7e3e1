package deploy

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// isRedis reports whether a container runs the redis image.
func isRedis(c corev1.Container) bool {
	return path.Base(imageRepo(c.Image)) == "redis"
}

// redisURL returns the --redis URL an athena container uses: its args, else
// its ATHENA_REDIS variable, else "".
func redisURL(c corev1.Container) string {
	if v := flagValue(c.Args, "redis"); v != "" {
		return v
	}
	for _, e := range c.Env {
		if e.Name == envName("redis") {
			return e.Value
		}
	}
	return ""
}

// redisServer returns the workload and container that run the redis image.
func redisServer(s *set) (workload, corev1.Container, bool) {
	for _, w := range s.workloads {
		for _, c := range w.template.Spec.Containers {
			if isRedis(c) {
				return w, c, true
			}
		}
	}
	return workload{}, corev1.Container{}, false
}

// redisArg returns the value of a redis-server command-line option (the
// last one wins, as in redis-server), and whether it is given.
func redisArg(args []string, name string) (string, bool) {
	v, ok := "", false
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--"+name {
			v, ok = args[i+1], true
		}
	}
	return v, ok
}

// parseRedisMemory parses a redis memory size: 512mb is 512 MiB, 1m is
// 10^6 bytes (redis.conf's units).
func parseRedisMemory(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}}
	s = strings.ToLower(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size such as 512mb")
	}
	return n * mult, nil
}

// checkRedis checks the verdict cache: the Redis server is configured as a
// cache, and every gateway and engine uses the same one, through a Service
// here.
func checkRedis(t *testing.T, s *set) {
	type user struct {
		what string
		sub  string
		url  string
	}
	var users []user
	for _, w := range s.workloads {
		for _, c := range w.template.Spec.Containers {
			if sub := athenaCommand(c); sub == "gateway" || sub == "engine" {
				users = append(users, user{fmt.Sprintf("%s container %q", w, c.Name), sub, redisURL(c)})
			}
		}
	}
	w, c, ok := redisServer(s)
	if !ok {
		for _, u := range users {
			if u.url != "" {
				t.Errorf("%s: --redis %q, but no workload runs the redis image", u.what, u.url)
			}
		}
		return
	}

	// Gateways and engines share one cache, or none does: a gateway with
	// Redis leaves caching to the engines, and an engine without Redis
	// caches nothing.
	for _, u := range users {
		if u.url != users[0].url {
			t.Errorf("%s: --redis %q, but %s uses %q: gateways and engines must share one cache", u.what, u.url, users[0].what, users[0].url)
		}
		if u.url == "" {
			t.Errorf("%s: no --redis, though %s runs Redis", u.what, w)
			continue
		}
		checkRedisURL(t, s, u.what, u.url, w)
	}

	what := fmt.Sprintf("%s container %q", w, c.Name)
	args := slices.Concat(c.Command, c.Args)
	// A cache evicts when full: Redis's default, noeviction, fails writes.
	maxmem, ok := redisArg(args, "maxmemory")
	if !ok {
		t.Errorf("%s: no --maxmemory: Redis would grow until the kernel kills it", what)
	} else if n, err := parseRedisMemory(maxmem); err != nil || n == 0 {
		t.Errorf("%s: --maxmemory %q: want a positive size (%v)", what, maxmem, err)
	} else if limit, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && n >= limit.Value()*9/10 {
		t.Errorf("%s: --maxmemory %s is not below 90%% of the memory limit %s: clients, buffers and fragmentation need room", what, maxmem, limit.String())
	}
	if policy, _ := redisArg(args, "maxmemory-policy"); policy == "" || policy == "noeviction" {
		t.Errorf("%s: --maxmemory-policy %q: a full cache must evict (allkeys-lru), not refuse writes", what, policy)
	}
	// Nothing persisted: a snapshot or an AOF would fill the working
	// directory and slow restarts for a cache that can be rebuilt.
	if save, ok := redisArg(args, "save"); !ok || save != "" {
		t.Errorf(`%s: want --save "" (no RDB snapshots)`, what)
	}
	if aof, _ := redisArg(args, "appendonly"); aof != "no" {
		t.Errorf("%s: want --appendonly no", what)
	}
	// The working directory (the image's WORKDIR, /data) must still be
	// writable: Redis writes there on SHUTDOWN SAVE or a replica sync.
	dir, ok := redisArg(args, "dir")
	if !ok {
		dir = cmp.Or(c.WorkingDir, "/data")
	}
	if !writable(c, dir) {
		t.Errorf("%s: working directory %s is not on a writable volume", what, dir)
	}
}

// checkRedisURL checks that a --redis URL names a Service here, on one of
// its ports, that selects the Redis workload.
func checkRedisURL(t *testing.T, s *set, what, raw string, redis workload) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Port() == "" {
		t.Errorf("%s: --redis %q, want redis://SERVICE:PORT/DB", what, raw)
		return
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if _, err := strconv.Atoi(db); err != nil {
			t.Errorf("%s: --redis %q: database %q is not a number", what, raw, db)
		}
	}
	host := strings.TrimSuffix(strings.TrimSuffix(u.Hostname(), ".svc.cluster.local"), "."+namespace)
	i := slices.IndexFunc(s.services, func(svc *corev1.Service) bool { return svc.Name == host })
	if i < 0 {
		t.Errorf("%s: --redis %q: no Service %q here", what, raw, host)
		return
	}
	svc := s.services[i]
	port, _ := strconv.Atoi(u.Port())
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port }) {
		t.Errorf("%s: --redis %q: Service %s has no port %d", what, raw, svc.Name, port)
	}
	if !selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, redis.template.Labels) {
		t.Errorf("%s: --redis %q: Service %s does not select %s", what, raw, svc.Name, redis)
	}
}

// startRedis runs redis-server here with the manifest container's command
// line, moved to a free loopback port and a temporary directory, and
// returns its address once it answers PING. It fails the test when
// redis-server is missing (Debian package redis-server) or rejects the
// manifest's options.
func startRedis(t *testing.T, c corev1.Container) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (%v): apt-get install -y redis-server", err)
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	args := c.Args
	if len(c.Command) > 1 {
		args = slices.Concat(c.Command[1:], c.Args)
	}
	// Later options win: the address and directory are this machine's.
	args = slices.Concat(args, []string{"--port", port, "--bind", "127.0.0.1", "--dir", t.TempDir(), "--daemonize", "no", "--logfile", ""})
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := redisPing(addr)
		if err == nil {
			return addr
		}
		select {
		case werr := <-done:
			done <- werr
			t.Fatalf("redis-server %s exited: %v\n%s", strings.Join(args, " "), werr, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server %s: no PONG within 15s (%v)\n%s", strings.Join(args, " "), err, out.String())
		}
	}
}

func redisPing(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// localRedisURL moves a --redis URL to addr, keeping its database.
func localRedisURL(raw, addr string) string {
	u, err := url.Parse(raw)
	if err != nil || addr == "" {
		return raw
	}
	u.Host = addr
	return u.String()
}

func TestParseRedisMemory(t *testing.T) {
	for in, want := range map[string]int64{"512mb": 512 << 20, "1m": 1e6, "2GB": 2 << 30, "100": 100} {
		if got, err := parseRedisMemory(in); err != nil || got != want {
			t.Errorf("parseRedisMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
