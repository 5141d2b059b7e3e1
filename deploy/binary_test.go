package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// invocation is one way the deployment runs athena: a container of a
// manifest, or the image's default command.
type invocation struct {
	where     string
	sub       string            // the subcommand: args[0]
	args      []string          // after the subcommand
	env       []string          // ATHENA_* variables set for it
	container *corev1.Container // nil for the Dockerfile's CMD
	pod       *corev1.PodSpec
}

// TestAthenaFlags builds ./cmd/athena and checks that every subcommand,
// flag and ATHENA_* variable the manifests and the Dockerfile pass to it is
// one the binary's help lists.
func TestAthenaFlags(t *testing.T) {
	s := loadManifests(t)
	final := finalStage(loadDockerfile(t))
	imageEnv := final.env()
	imageUID, uidErr := dockerUID(final)

	var invs []invocation
	for _, w := range s.workloads {
		spec := &w.template.Spec
		for i := range spec.Containers {
			c := &spec.Containers[i]
			if !isAthena(*c) {
				continue
			}
			where := fmt.Sprintf("%s container %s", w, c.Name)
			if len(c.Command) > 0 && !slices.Equal(c.Command, []string{"athena"}) {
				t.Errorf("%s: command %q replaces the image's entrypoint; pass the subcommand in args", where, c.Command)
				continue
			}
			if len(c.Args) == 0 || strings.HasPrefix(c.Args[0], "-") {
				t.Errorf("%s: args must start with the athena subcommand, got %q", where, c.Args)
				continue
			}
			var env []string
			for _, e := range c.Env {
				if strings.HasPrefix(e.Name, "ATHENA_") {
					env = append(env, e.Name)
				}
			}
			invs = append(invs, invocation{where: where, sub: c.Args[0], args: c.Args[1:], env: env, container: c, pod: spec})
		}
	}
	if cmd, ok := final.last("CMD"); ok && cmd.exec && len(cmd.args) > 0 {
		var env []string
		for k := range imageEnv {
			if strings.HasPrefix(k, "ATHENA_") {
				env = append(env, k)
			}
		}
		slices.Sort(env)
		invs = append(invs, invocation{where: "Dockerfile CMD", sub: cmd.args[0], args: cmd.args[1:], env: env})
	}
	if len(invs) == 0 {
		t.Fatal("nothing runs athena")
	}

	bin := buildAthena(t)
	helps := map[string]string{}
	for _, inv := range invs {
		t.Run(inv.where, func(t *testing.T) {
			h, ok := helps[inv.sub]
			if !ok {
				var err error
				h, err = athenaHelp(bin, inv.sub)
				if err != nil {
					t.Fatalf("%s runs `athena %s`, but ./cmd/athena has no such subcommand: %v", inv.where, inv.sub, err)
				}
				helps[inv.sub] = h
			}
			for _, f := range parseFlags(inv.args) {
				if want := "--" + f.name + " [" + envName(f.name) + "]"; !strings.Contains(h, want) {
					t.Errorf("%s: `athena %s` has no flag --%s (its help lists no %q)", inv.where, inv.sub, f.name, want)
				}
			}
			for _, e := range inv.env {
				if !strings.Contains(h, "["+e+"]") {
					t.Errorf("%s: `athena %s` reads no %s (its help does not list it)", inv.where, inv.sub, e)
				}
			}
			if inv.container == nil {
				return
			}
			c := *inv.container
			// Directories athena writes must be writable volumes under a
			// read-only root filesystem.
			for _, name := range []string{"cache-dir", "data"} {
				if !strings.Contains(h, "--"+name+" [") {
					continue
				}
				dir := effective(inv, name, imageEnv)
				if dir == "" {
					t.Errorf("%s: no --%s, %s or image ENV: athena would use a default under $HOME", inv.where, name, envName(name))
				} else if !writable(c, dir) {
					t.Errorf("%s: --%s %s is not on a writable volume", inv.where, name, dir)
				}
			}
			// The image's directories belong to its user.
			if uidErr != nil {
				t.Errorf("%s: %v", inv.where, uidErr)
			} else if uid := effectiveUID(*inv.pod, c); uid != nil && *uid != imageUID {
				t.Errorf("%s: runAsUser %d, but the image's files belong to uid %d (Dockerfile USER)", inv.where, *uid, imageUID)
			}
		})
	}
}

// buildAthena builds ./cmd/athena into the test's temporary directory.
func buildAthena(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "athena")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/athena")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/athena: %v\n%s", err, out)
	}
	return bin
}

// athenaHelp returns the output of `athena SUB -h`, run without any
// ATHENA_* variable from the test's environment.
func athenaHelp(bin, sub string) (string, error) {
	cmd := exec.Command(bin, sub, "-h")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATHENA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Usage: athena "+sub) {
		return "", fmt.Errorf("`athena %s -h`: %v\n%s", sub, err, out)
	}
	return string(out), nil
}

// envName is the ATHENA_* variable of a flag, as cmd/athena names it.
func envName(flag string) string {
	return "ATHENA_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

type flagArg struct{ name, value string }

// parseFlags returns the flags of a command line, with the value that
// follows each one (--name value or --name=value).
func parseFlags(args []string) []flagArg {
	var out []flagArg
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name := strings.TrimLeft(a, "-")
		if _, err := strconv.ParseFloat(name, 64); err == nil {
			continue // a negative number: the previous flag's value
		}
		if n, v, ok := strings.Cut(name, "="); ok {
			out = append(out, flagArg{n, v})
			continue
		}
		f := flagArg{name: name}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			f.value = args[i+1]
			i++
		}
		out = append(out, f)
	}
	return out
}

// flagValue returns the value a command line gives a flag, or "".
func flagValue(args []string, name string) string {
	v := ""
	for _, f := range parseFlags(args) {
		if f.name == name {
			v = f.value
		}
	}
	return v
}

// effective returns the value athena sees for a flag: the command line,
// else the container's environment, else the image's.
func effective(inv invocation, name string, imageEnv map[string]string) string {
	if v := flagValue(inv.args, name); v != "" {
		return path.Clean(v)
	}
	if inv.container != nil {
		for _, e := range inv.container.Env {
			if e.Name == envName(name) && e.Value != "" {
				return path.Clean(e.Value)
			}
		}
	}
	if v := imageEnv[envName(name)]; v != "" {
		return path.Clean(v)
	}
	return ""
}

func TestParseFlags(t *testing.T) {
	got := parseFlags([]string{"--addr", "0.0.0.0:8080", "-v", "--x=1", "--nats-port", "-1", "--json", "file"})
	want := []flagArg{{"addr", "0.0.0.0:8080"}, {"v", ""}, {"x", "1"}, {"nats-port", ""}, {"json", "file"}}
	if !slices.Equal(got, want) {
		t.Errorf("parseFlags = %q, want %q", got, want)
	}
}
