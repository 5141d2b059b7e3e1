package deploy

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// checkNATS parses the NATS servers' configuration with the nats-server
// library and checks it against their StatefulSet and against what Athena
// needs.
func checkNATS(t *testing.T, s *set) {
	var sts workload
	var c corev1.Container
	for _, w := range s.workloads {
		for _, ct := range w.template.Spec.Containers {
			if path.Base(imageRepo(ct.Image)) == "nats" {
				sts, c = w, ct
			}
		}
	}
	if sts.template == nil {
		t.Fatal("no workload runs the nats image")
	}
	if sts.m.kind != "StatefulSet" {
		t.Fatalf("%s runs NATS: JetStream needs a StatefulSet with stable storage and names", sts)
	}

	// The server runs the same minor version as the one Athena embeds and tests with.
	if got, want := minorVersion(imageTag(c.Image)), minorVersion(goModVersion(t, "github.com/nats-io/nats-server/v2")); got != want {
		t.Errorf("%s: image %s is NATS %s, but go.mod embeds nats-server %s", sts, c.Image, got, want)
	}

	args := slices.Concat(c.Command, c.Args)
	i := slices.IndexFunc(args, func(a string) bool { return a == "--config" || a == "-c" })
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("%s: NATS runs without --config FILE: %q", sts, args)
	}
	confPath := args[i+1]
	vm, ok := mountFor(c, confPath)
	if !ok {
		t.Fatalf("%s: no volume holds %s", sts, confPath)
	}
	vol := slices.IndexFunc(sts.template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
	if vol < 0 || sts.template.Spec.Volumes[vol].ConfigMap == nil {
		t.Fatalf("%s: %s is not on a ConfigMap volume", sts, confPath)
	}
	cmName := sts.template.Spec.Volumes[vol].ConfigMap.Name
	cm, ok := s.configMaps[cmName]
	if !ok {
		t.Fatalf("%s: ConfigMap %q is missing", sts, cmName)
	}
	key := strings.TrimPrefix(strings.TrimPrefix(confPath, vm.MountPath), "/")
	conf, ok := cm.Data[key]
	if !ok {
		t.Fatalf("%s: ConfigMap %q has no key %q", sts, cmName, key)
	}

	// The configuration reads variables from the container's environment.
	podName := sts.m.obj.GetName() + "-0"
	for _, m := range regexp.MustCompile(`\$([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(conf, -1) {
		j := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == m[1] })
		switch {
		case j < 0:
			t.Errorf("%s: nats.conf uses $%s, which the container's env does not set", sts, m[1])
		case c.Env[j].ValueFrom != nil && c.Env[j].ValueFrom.FieldRef != nil && c.Env[j].ValueFrom.FieldRef.FieldPath == "metadata.name":
			t.Setenv(m[1], podName)
		default:
			t.Setenv(m[1], c.Env[j].Value)
		}
	}
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("%s: nats-server rejects its configuration: %v", cmName, err)
	}

	portOf := func(name string) int {
		cp, ok := containerPort(c, intstr.FromString(name))
		if !ok {
			t.Errorf("%s: NATS container declares no port %q", sts, name)
		}
		return int(cp.ContainerPort)
	}
	if opts.ServerName != podName {
		t.Errorf("server_name is %q in pod %s, want the pod name (JetStream clustering needs unique names)", opts.ServerName, podName)
	}
	if opts.MaxPayload < minNATSPayload {
		t.Errorf("max_payload %d, want at least %d: a 1 MiB chunk plus headers", opts.MaxPayload, minNATSPayload)
	}
	if got, want := opts.Port, portOf("client"); got != want {
		t.Errorf("client port %d, container port %d", got, want)
	}
	if got, want := opts.HTTPPort, portOf("monitor"); got != want {
		t.Errorf("monitoring port %d, container port %d", got, want)
	}
	if !opts.JetStream {
		t.Error("JetStream is not enabled")
	}
	dataMount, ok := mountFor(c, opts.StoreDir)
	if !ok || !slices.ContainsFunc(sts.claims, func(pvc corev1.PersistentVolumeClaim) bool { return pvc.Name == dataMount.Name }) {
		t.Errorf("JetStream store_dir %q is not on a volumeClaimTemplate: streams would not survive a restart", opts.StoreDir)
	} else {
		i := slices.IndexFunc(sts.claims, func(pvc corev1.PersistentVolumeClaim) bool { return pvc.Name == dataMount.Name })
		size := sts.claims[i].Spec.Resources.Requests[corev1.ResourceStorage]
		if opts.JetStreamMaxStore <= 0 || opts.JetStreamMaxStore >= size.Value() {
			t.Errorf("jetstream max_file_store %d, want a bound below the %s volume", opts.JetStreamMaxStore, size.String())
		}
	}
	if opts.PidFile != "" && !writable(c, path.Dir(opts.PidFile)) {
		t.Errorf("pid_file %s is not on a writable volume", opts.PidFile)
	}
	grace := time.Duration(ptrOr(sts.template.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
	if opts.LameDuckDuration >= grace {
		t.Errorf("lame_duck_duration %v is not below terminationGracePeriodSeconds %v", opts.LameDuckDuration, grace)
	}

	// A cluster: one route to every server, by its stable DNS name.
	n := s.minReplicas(sts)
	if n > 1 {
		if got, want := opts.Cluster.Port, portOf("cluster"); got != want {
			t.Errorf("cluster port %d, container port %d", got, want)
		}
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("%s-%d.%s:%d", sts.m.obj.GetName(), i, sts.serviceName, opts.Cluster.Port))
		}
		var got []string
		for _, u := range opts.Routes {
			got = append(got, u.Host)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("cluster routes %q, want %q (one per replica)", got, want)
		}
	}

	// Athena's containers reach NATS through a Service of this StatefulSet.
	for _, w := range s.workloads {
		for _, ac := range w.template.Spec.Containers {
			u := flagValue(ac.Args, "nats")
			if !isAthena(ac) || u == "" {
				continue
			}
			checkNATSURL(t, s, fmt.Sprintf("%s container %q", w, ac.Name), u, sts)
		}
	}
}

// checkNATSURL checks that a --nats URL names a Service here, on one of its
// ports, that selects the NATS StatefulSet.
func checkNATSURL(t *testing.T, s *set, what, raw string, sts workload) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "nats" {
		t.Errorf("%s: --nats %q, want nats://SERVICE:PORT", what, raw)
		return
	}
	host := strings.TrimSuffix(strings.TrimSuffix(u.Hostname(), ".svc.cluster.local"), "."+namespace)
	i := slices.IndexFunc(s.services, func(svc *corev1.Service) bool { return svc.Name == host })
	if i < 0 {
		t.Errorf("%s: --nats %q: no Service %q here", what, raw, host)
		return
	}
	svc := s.services[i]
	port, _ := strconv.Atoi(u.Port())
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port }) {
		t.Errorf("%s: --nats %q: Service %s has no port %d", what, raw, svc.Name, port)
	}
	if !selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, sts.template.Labels) {
		t.Errorf("%s: --nats %q: Service %s does not select %s", what, raw, svc.Name, sts)
	}
}

// goModVersion returns the version go.mod requires of a module.
func goModVersion(t *testing.T, module string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == module {
			return f[1]
		}
	}
	t.Fatalf("go.mod does not require %s", module)
	return ""
}

// minorVersion returns "1.26" of "v1.26.8", "1.26-bookworm" or "1.26.8-alpine".
func minorVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	v, _, _ = strings.Cut(v, "-")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}
