package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"athena/internal/natsembed/natstest"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestProbesAgainstBinary runs the cluster's shape on this machine: a NATS
// server with JetStream, then every athena container of the manifests as a
// process of the binary built from ./cmd/athena, with the manifest's args
// (addresses moved to free local ports, --nats to the local server). Every
// HTTP probe and the Prometheus scrape path of every container must answer
// 200: the gateway's /readyz only does once an engine reports presence.
func TestProbesAgainstBinary(t *testing.T) {
	s := loadManifests(t)
	bin := buildAthena(t)
	modules := filepath.Join(t.TempDir(), "modules")
	cmd := exec.Command("go", "run", "./internal/cmd/modbuild", "-src", "modules", "-o", modules)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the modules (make modules; wat2wasm comes with Debian's wabt): %v\n%s", err, out)
	}

	ns := natstest.Start(t)

	// Redis, with the manifest's options, for the containers given --redis.
	var redisAddr string
	if _, rc, ok := redisServer(s); ok {
		redisAddr = startRedis(t, rc)
	}

	type target struct{ what, url string }
	var (
		targets []target
		procs   []*proc
		// readyz of gateways given --redis: they must report the cache ok.
		cacheReady []target
	)
	for _, w := range s.workloads {
		spec := w.template.Spec
		for _, c := range spec.Containers {
			if !isAthena(c) || len(c.Args) == 0 {
				continue
			}
			what := fmt.Sprintf("%s container %s", w, c.Name)
			args, ports := localArgs(t, c, ns.ClientURL(), redisAddr)
			env := []string{"ATHENA_MODULES=" + modules, "ATHENA_CACHE_DIR=" + t.TempDir()}
			for _, e := range c.Env {
				switch {
				case e.ValueFrom == nil && e.Name == envName("redis"):
					env = append(env, e.Name+"="+localRedisURL(e.Value, redisAddr))
				case e.ValueFrom == nil:
					env = append(env, e.Name+"="+e.Value)
				case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
					env = append(env, e.Name+"="+w.m.obj.GetName()+"-test")
				}
			}
			procs = append(procs, start(t, what, bin, args, env))
			for _, p := range probes(c) {
				if p.probe.HTTPGet == nil {
					continue
				}
				cp, _ := containerPort(c, p.probe.HTTPGet.Port)
				local, ok := ports[cp.ContainerPort]
				if !ok {
					t.Errorf("%s: %s port %d is not an address its args listen on", what, p.name, cp.ContainerPort)
					continue
				}
				tg := target{what + " " + p.name, "http://" + local + p.probe.HTTPGet.Path}
				targets = append(targets, tg)
				if redisAddr != "" && redisURL(c) != "" && p.probe.HTTPGet.Path == "/readyz" && !slices.Contains(cacheReady, tg) {
					cacheReady = append(cacheReady, tg)
				}
			}
			if ann := w.template.Annotations; ann["prometheus.io/scrape"] == "true" {
				port, _ := strconv.Atoi(ann["prometheus.io/port"])
				if local, ok := ports[int32(port)]; ok {
					targets = append(targets, target{what + " prometheus scrape", "http://" + local + ann["prometheus.io/path"]})
				} else {
					t.Errorf("%s: prometheus.io/port %d is not an address its args listen on", what, port)
				}
			}
		}
	}
	if len(targets) == 0 {
		t.Fatal("no HTTP probe to check")
	}

	// A process that exits while its probes are polled would be a restart
	// loop in a pod: say so at once rather than after the timeouts.
	errExited := errors.New("a process exited")
	ctx, stop := context.WithCancelCause(t.Context())
	var watchers sync.WaitGroup
	defer watchers.Wait()
	defer stop(nil)
	for _, p := range procs {
		watchers.Go(func() {
			select {
			case <-p.done:
				t.Errorf("%s: athena %s exited (%v) while it should serve: in a pod, a restart loop", p.what, strings.Join(p.args, " "), p.err)
				stop(errExited)
			case <-ctx.Done():
			}
		})
	}
	var wg sync.WaitGroup
	for _, tg := range targets {
		wg.Go(func() {
			err := poll200(ctx, tg.url, 60*time.Second)
			if err != nil && !errors.Is(context.Cause(ctx), errExited) { // else said above
				t.Errorf("%s: GET %s: %v", tg.what, tg.url, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Ready, but is the verdict cache? /readyz says "degraded" while the
	// gateway cannot reach its Redis.
	for _, tg := range cacheReady {
		var body struct{ Status, Cache string }
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(tg.url)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
		}
		if err != nil {
			t.Errorf("%s: GET %s: %v", tg.what, tg.url, err)
		} else if body.Cache != "ok" {
			t.Errorf("%s: GET %s: status %q, cache %q: the gateway does not reach the Redis of the manifests", tg.what, tg.url, body.Status, body.Cache)
		}
	}
}

// localArgs rewrites a container's args to run here: every HOST:PORT value
// whose port the container declares moves to a free local port, --nats to
// natsURL and --redis to redisAddr (when not empty). It returns the args and
// the container port to local address map.
func localArgs(t *testing.T, c corev1.Container, natsURL, redisAddr string) ([]string, map[int32]string) {
	t.Helper()
	args := slices.Clone(c.Args)
	ports := map[int32]string{}
	for i := 1; i < len(args); i++ {
		switch strings.TrimLeft(args[i-1], "-") {
		case "nats":
			args[i] = natsURL
			continue
		case "redis":
			args[i] = localRedisURL(args[i], redisAddr)
			continue
		}
		_, portStr, err := net.SplitHostPort(args[i])
		if err != nil {
			continue
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			continue
		}
		if _, ok := containerPort(c, intstr.FromInt(port)); !ok {
			continue
		}
		addr := freeAddr(t)
		args[i], ports[int32(port)] = addr, addr
	}
	return args, ports
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is an athena process started by the test.
type proc struct {
	what string
	args []string
	done chan struct{} // closed when the process has exited
	err  error         // its exit, once done is closed
}

// start runs the binary until the test ends, then stops it with SIGTERM as
// the kubelet does, and logs its output if the test failed.
func start(t *testing.T, what, bin string, args, env []string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATHENA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", what, err)
	}
	p := &proc{what: what, args: args, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("%s: athena %s: exit %v; output:\n%s", what, strings.Join(args, " "), p.err, out.String())
		}
	})
	return p
}

// poll200 polls url until it answers 200 or the timeout passes.
func poll200(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no 200 (%v); last: %s", context.Cause(ctx), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
