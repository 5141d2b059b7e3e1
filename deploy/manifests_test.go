package deploy

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	// manifestDir holds the Kubernetes manifests, relative to this package.
	manifestDir = "k8s"
	// namespace is where every namespaced object must live.
	namespace = "athena"
	// minNATSPayload is the largest message Athena publishes: a 1 MiB chunk
	// plus headers (internal/natsembed configures the same 2 MiB).
	minNATSPayload = 2 << 20
	// maxEngineLiveness bounds how long a wedged engine pod may keep its jobs
	// before the kubelet restarts it: in a cluster the liveness probe is the
	// supervisor, whose own heartbeat timeout is 5s (internal/supervise).
	maxEngineLiveness = 10 * time.Second
)

// kinds maps apiVersion and kind to the typed object a document decodes
// into. A document of any other kind fails the tests: add it here, with the
// checks it needs, when a manifest needs it.
var kinds = map[string]func() metav1.Object{
	"v1/Namespace":                           func() metav1.Object { return new(corev1.Namespace) },
	"v1/ConfigMap":                           func() metav1.Object { return new(corev1.ConfigMap) },
	"v1/Service":                             func() metav1.Object { return new(corev1.Service) },
	"apps/v1/Deployment":                     func() metav1.Object { return new(appsv1.Deployment) },
	"apps/v1/StatefulSet":                    func() metav1.Object { return new(appsv1.StatefulSet) },
	"policy/v1/PodDisruptionBudget":          func() metav1.Object { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler": func() metav1.Object { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"networking.k8s.io/v1/NetworkPolicy":     func() metav1.Object { return new(networkingv1.NetworkPolicy) },
}

// manifest is one YAML document of deploy/k8s.
type manifest struct {
	file  string // relative to this package
	doc   int    // index of the document in its file, from 0
	kind  string
	obj   metav1.Object
	bytes []byte
}

func (m manifest) String() string {
	return fmt.Sprintf("%s[%d] %s/%s", m.file, m.doc, m.kind, m.obj.GetName())
}

// workload is a Deployment or a StatefulSet, seen through what the checks
// need.
type workload struct {
	m           manifest
	replicas    *int32
	selector    *metav1.LabelSelector
	template    *corev1.PodTemplateSpec
	claims      []corev1.PersistentVolumeClaim // StatefulSet volumeClaimTemplates
	serviceName string                         // StatefulSet governing Service
}

func (w workload) String() string { return w.m.String() }

// set is every object of deploy/k8s, decoded.
type set struct {
	all        []manifest
	workloads  []workload
	services   []*corev1.Service
	configMaps map[string]*corev1.ConfigMap
	pdbs       []*policyv1.PodDisruptionBudget
	hpas       []*autoscalingv2.HorizontalPodAutoscaler
	netpols    []*networkingv1.NetworkPolicy
	namespaces []*corev1.Namespace
}

// loadManifests reads and strictly decodes every document under deploy/k8s.
// Decoding errors fail the test at once: nothing else is meaningful after.
func loadManifests(t *testing.T) *set {
	t.Helper()
	var files []string
	err := filepath.WalkDir(manifestDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml":
			files = append(files, p)
		case ".json":
			return fmt.Errorf("%s: write manifests in YAML", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no manifests under %s", manifestDir)
	}
	s := &set{configMaps: map[string]*corev1.ConfigMap{}}
	for _, f := range files {
		docs, err := splitYAML(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docs {
			m, err := decode(f, i, doc)
			if err != nil {
				t.Fatal(err)
			}
			if m != nil {
				s.add(*m)
			}
		}
	}
	return s
}

// splitYAML returns the documents of a multi-document YAML file.
func splitYAML(file string) ([][]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		docs = append(docs, doc)
	}
}

// decode decodes one document strictly (no unknown or duplicate fields) into
// the typed object of its apiVersion and kind. It returns nil for a document
// that holds only comments.
func decode(file string, i int, doc []byte) (*manifest, error) {
	var generic map[string]any
	if err := yaml.Unmarshal(doc, &generic); err != nil {
		return nil, fmt.Errorf("%s[%d]: %w", file, i, err)
	}
	if generic == nil {
		return nil, nil
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, fmt.Errorf("%s[%d]: %w", file, i, err)
	}
	key := tm.APIVersion + "/" + tm.Kind
	newObj, ok := kinds[key]
	if !ok {
		return nil, fmt.Errorf("%s[%d]: apiVersion %q kind %q is not one the tests know (see kinds in manifests_test.go)", file, i, tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s[%d] %s: strict decoding: %w", file, i, tm.Kind, err)
	}
	return &manifest{file: file, doc: i, kind: tm.Kind, obj: obj, bytes: doc}, nil
}

func (s *set) add(m manifest) {
	s.all = append(s.all, m)
	switch o := m.obj.(type) {
	case *appsv1.Deployment:
		s.workloads = append(s.workloads, workload{m: m, replicas: o.Spec.Replicas, selector: o.Spec.Selector, template: &o.Spec.Template})
	case *appsv1.StatefulSet:
		s.workloads = append(s.workloads, workload{m: m, replicas: o.Spec.Replicas, selector: o.Spec.Selector, template: &o.Spec.Template,
			claims: o.Spec.VolumeClaimTemplates, serviceName: o.Spec.ServiceName})
	case *corev1.Service:
		s.services = append(s.services, o)
	case *corev1.ConfigMap:
		s.configMaps[o.Name] = o
	case *policyv1.PodDisruptionBudget:
		s.pdbs = append(s.pdbs, o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		s.hpas = append(s.hpas, o)
	case *networkingv1.NetworkPolicy:
		s.netpols = append(s.netpols, o)
	case *corev1.Namespace:
		s.namespaces = append(s.namespaces, o)
	}
}

// selecting returns the workloads whose pod labels sel matches.
func (s *set) selecting(t *testing.T, what string, sel *metav1.LabelSelector) []workload {
	t.Helper()
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		t.Errorf("%s: empty selector selects every pod", what)
		return nil
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("%s: selector: %v", what, err)
		return nil
	}
	var out []workload
	for _, w := range s.workloads {
		if selector.Matches(labels.Set(w.template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// minReplicas is the fewest pods a workload runs: its autoscaler's minimum
// when one targets it, else its replicas (1 when unset, as the API does).
func (s *set) minReplicas(w workload) int {
	for _, h := range s.hpas {
		if h.Spec.ScaleTargetRef.Kind == w.m.kind && h.Spec.ScaleTargetRef.Name == w.m.obj.GetName() {
			if h.Spec.MinReplicas == nil {
				return 1
			}
			return int(*h.Spec.MinReplicas)
		}
	}
	if w.replicas == nil {
		return 1
	}
	return int(*w.replicas)
}

func TestManifests(t *testing.T) {
	s := loadManifests(t)

	t.Run("namespace", func(t *testing.T) {
		found := false
		for _, m := range s.all {
			if ns, ok := m.obj.(*corev1.Namespace); ok {
				if ns.Name != namespace {
					t.Errorf("%s: namespace %q, want only %q", m, ns.Name, namespace)
				}
				found = true
				continue
			}
			if got := m.obj.GetNamespace(); got != namespace {
				t.Errorf("%s: metadata.namespace %q, want %q", m, got, namespace)
			}
		}
		if !found {
			t.Errorf("no Namespace %q among the manifests", namespace)
		}
	})

	t.Run("names and labels", func(t *testing.T) {
		seen := map[string]manifest{}
		for _, m := range s.all {
			name := m.obj.GetName()
			check := validation.IsDNS1123Subdomain
			if m.kind == "Service" || m.kind == "Namespace" {
				check = validation.IsDNS1035Label
			}
			for _, e := range check(name) {
				t.Errorf("%s: name: %s", m, e)
			}
			key := m.kind + "/" + name
			if prev, dup := seen[key]; dup {
				t.Errorf("%s: same kind and name as %s", m, prev)
			}
			seen[key] = m
			checkLabels(t, m.String(), m.obj.GetLabels())
		}
		for _, w := range s.workloads {
			checkLabels(t, w.String()+" pod template", w.template.Labels)
		}
	})

	t.Run("workloads", func(t *testing.T) {
		if len(s.workloads) == 0 {
			t.Fatal("no Deployment or StatefulSet")
		}
		for _, w := range s.workloads {
			checkWorkload(t, s, w)
		}
	})

	t.Run("services", func(t *testing.T) {
		for _, svc := range s.services {
			what := "Service/" + svc.Name
			ws := s.selecting(t, what, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
			if len(ws) != 1 {
				t.Errorf("%s: selector %v matches %d workloads, want 1", what, svc.Spec.Selector, len(ws))
				continue
			}
			w := ws[0]
			for _, p := range svc.Spec.Ports {
				target := p.TargetPort
				if target.Type == intstr.Int && target.IntVal == 0 {
					target = intstr.FromInt32(p.Port)
				}
				if _, ok := podPort(w.template.Spec, target); !ok {
					t.Errorf("%s port %q: targetPort %s is not a port that a container of %s declares", what, p.Name, target.String(), w)
				}
			}
			// Traffic must wait for readiness.
			for _, c := range w.template.Spec.Containers {
				if c.ReadinessProbe == nil {
					t.Errorf("%s selects %s, whose container %q has no readinessProbe", what, w, c.Name)
				}
			}
		}
		for _, w := range s.workloads {
			if w.m.kind != "StatefulSet" {
				continue
			}
			i := slices.IndexFunc(s.services, func(svc *corev1.Service) bool { return svc.Name == w.serviceName })
			if i < 0 {
				t.Errorf("%s: serviceName %q is not a Service here", w, w.serviceName)
				continue
			}
			if svc := s.services[i]; svc.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("%s: governing Service %q must be headless (clusterIP: None)", w, svc.Name)
			}
		}
	})

	t.Run("disruption budgets", func(t *testing.T) {
		covered := map[string]bool{}
		for _, pdb := range s.pdbs {
			what := "PodDisruptionBudget/" + pdb.Name
			ws := s.selecting(t, what, pdb.Spec.Selector)
			if len(ws) != 1 {
				t.Errorf("%s matches %d workloads, want 1", what, len(ws))
				continue
			}
			w := ws[0]
			covered[w.String()] = true
			if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
				t.Errorf("%s: set exactly one of minAvailable and maxUnavailable", what)
				continue
			}
			// A budget that allows no disruption at the minimum size blocks
			// every node drain.
			n := s.minReplicas(w)
			var allowed int
			if pdb.Spec.MinAvailable != nil {
				minAvail, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, n, true)
				if err != nil {
					t.Errorf("%s: minAvailable: %v", what, err)
					continue
				}
				allowed = n - minAvail
			} else {
				maxUnavail, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, n, true)
				if err != nil {
					t.Errorf("%s: maxUnavailable: %v", what, err)
					continue
				}
				allowed = maxUnavail
			}
			if allowed < 1 {
				t.Errorf("%s allows %d disruptions at %d replicas of %s: node drains would block", what, allowed, n, w)
			}
		}
		for _, w := range s.workloads {
			if !covered[w.String()] {
				t.Errorf("%s has no PodDisruptionBudget", w)
			}
		}
	})

	t.Run("autoscalers", func(t *testing.T) {
		for _, h := range s.hpas {
			what := "HorizontalPodAutoscaler/" + h.Name
			ref := h.Spec.ScaleTargetRef
			i := slices.IndexFunc(s.workloads, func(w workload) bool {
				return w.m.kind == ref.Kind && w.m.obj.GetName() == ref.Name
			})
			if ref.APIVersion != "apps/v1" || i < 0 {
				t.Errorf("%s: scaleTargetRef %s %s/%s is not a workload here", what, ref.APIVersion, ref.Kind, ref.Name)
				continue
			}
			w := s.workloads[i]
			if w.replicas != nil {
				t.Errorf("%s scales %s, which sets replicas: every apply would reset the autoscaler's count; remove it", what, w)
			}
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
				t.Errorf("%s: want 1 <= minReplicas <= maxReplicas (%d)", what, h.Spec.MaxReplicas)
			}
			if len(h.Spec.Metrics) == 0 {
				t.Errorf("%s: no metrics", what)
			}
			for _, metric := range h.Spec.Metrics {
				if metric.Type != autoscalingv2.ResourceMetricSourceType || metric.Resource == nil {
					continue
				}
				if metric.Resource.Target.Type != autoscalingv2.UtilizationMetricType {
					continue
				}
				// Utilization is relative to the request: without one the
				// autoscaler does nothing.
				for _, c := range w.template.Spec.Containers {
					if q, ok := c.Resources.Requests[metric.Resource.Name]; !ok || q.IsZero() {
						t.Errorf("%s scales on %s utilization, but container %q of %s requests no %s", what, metric.Resource.Name, c.Name, w, metric.Resource.Name)
					}
				}
			}
		}
	})

	t.Run("network policies", func(t *testing.T) {
		for _, np := range s.netpols {
			what := "NetworkPolicy/" + np.Name
			ws := s.selecting(t, what, &np.Spec.PodSelector)
			if len(ws) == 0 {
				t.Errorf("%s selects no workload", what)
			}
			for _, rule := range np.Spec.Ingress {
				for _, peer := range rule.From {
					if peer.PodSelector != nil && peer.NamespaceSelector == nil && len(s.selecting(t, what+" from", peer.PodSelector)) == 0 {
						t.Errorf("%s: from %v selects no workload", what, peer.PodSelector.MatchLabels)
					}
				}
				for _, p := range rule.Ports {
					if p.Port == nil {
						continue
					}
					for _, w := range ws {
						if _, ok := podPort(w.template.Spec, *p.Port); !ok {
							t.Errorf("%s: port %s is not declared by %s", what, p.Port.String(), w)
						}
					}
				}
			}
		}
	})

	t.Run("nats", func(t *testing.T) {
		checkNATS(t, s)
	})

	t.Run("redis", func(t *testing.T) {
		checkRedis(t, s)
	})
}

func checkLabels(t *testing.T, what string, l map[string]string) {
	for k, v := range l {
		for _, e := range validation.IsQualifiedName(k) {
			t.Errorf("%s: label key %q: %s", what, k, e)
		}
		for _, e := range validation.IsValidLabelValue(v) {
			t.Errorf("%s: label %s value %q: %s", what, k, v, e)
		}
	}
}

// checkWorkload checks one Deployment or StatefulSet on its own.
func checkWorkload(t *testing.T, s *set, w workload) {
	if !selects(w.selector, w.template.Labels) {
		t.Errorf("%s: selector %v does not match its own pod template labels %v", w, w.selector, w.template.Labels)
	}
	spec := w.template.Spec
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: set automountServiceAccountToken: false (no container here talks to the API server)", w)
	}

	// Volumes: every mount has a volume, every volume is mounted, every
	// ConfigMap exists.
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
		if v.ConfigMap != nil {
			cm, ok := s.configMaps[v.ConfigMap.Name]
			if !ok {
				t.Errorf("%s: volume %q: ConfigMap %q is not among the manifests", w, v.Name, v.ConfigMap.Name)
				continue
			}
			for _, it := range v.ConfigMap.Items {
				if _, ok := cm.Data[it.Key]; !ok {
					t.Errorf("%s: volume %q: ConfigMap %q has no key %q", w, v.Name, cm.Name, it.Key)
				}
			}
		}
	}
	claims := map[string]bool{}
	for _, c := range w.claims {
		claims[c.Name] = true
		if q := c.Spec.Resources.Requests[corev1.ResourceStorage]; q.IsZero() {
			t.Errorf("%s: volumeClaimTemplate %q requests no storage", w, c.Name)
		}
	}
	mounted := map[string]bool{}

	// Prometheus scrapes the port the annotations name.
	ann := w.template.Annotations
	if ann["prometheus.io/scrape"] == "true" {
		port, err := strconv.Atoi(ann["prometheus.io/port"])
		if err != nil {
			t.Errorf("%s: prometheus.io/port %q: %v", w, ann["prometheus.io/port"], err)
		} else if _, ok := podPort(spec, intstr.FromInt(port)); !ok {
			t.Errorf("%s: prometheus.io/port %d is not a declared container port", w, port)
		}
		if p := ann["prometheus.io/path"]; !strings.HasPrefix(p, "/") {
			t.Errorf("%s: prometheus.io/path %q, want an absolute path", w, p)
		}
	} else if runsAthena(spec) {
		t.Errorf("%s runs athena, which serves /metrics: add the prometheus.io/scrape, port and path annotations", w)
	}

	for i, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		what := fmt.Sprintf("%s container %q", w, c.Name)
		isInit := i < len(spec.InitContainers)
		for _, e := range validation.IsDNS1123Label(c.Name) {
			t.Errorf("%s: name: %s", what, e)
		}
		if err := pinned(c.Image); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		for _, p := range c.Ports {
			for _, e := range validation.IsValidPortName(p.Name) {
				t.Errorf("%s: port name %q: %s", what, p.Name, e)
			}
		}
		checkResources(t, what, c)
		checkSecurity(t, what, spec, c)
		for _, vm := range c.VolumeMounts {
			mounted[vm.Name] = true
			if _, ok := volumes[vm.Name]; !ok && !claims[vm.Name] {
				t.Errorf("%s: volumeMount %q has no volume or volumeClaimTemplate", what, vm.Name)
			}
		}
		// Probes: liveness on every long-running container, every probe on a
		// port the container declares.
		if c.LivenessProbe == nil && !isInit {
			t.Errorf("%s: no livenessProbe", what)
		}
		for _, p := range probes(c) {
			if err := checkProbe(c, p.probe); err != nil {
				t.Errorf("%s: %s: %v", what, p.name, err)
			}
		}
		if sub := athenaCommand(c); sub == "engine" && c.LivenessProbe != nil {
			// The API's defaults: every 10s, 3 failures.
			period, failures := cmp.Or(c.LivenessProbe.PeriodSeconds, 10), cmp.Or(c.LivenessProbe.FailureThreshold, 3)
			window := time.Duration(period*failures) * time.Second
			if window > maxEngineLiveness {
				t.Errorf("%s: liveness restarts a wedged engine after %v, want at most %v (it replaces the supervisor)", what, window, maxEngineLiveness)
			}
		}
		// Uploads in flight get --shutdown-grace after the preStop hook:
		// both must end before the kubelet's SIGKILL.
		if v := flagValue(c.Args, "shutdown-grace"); isAthena(c) && v != "" {
			grace, err := time.ParseDuration(v)
			if err != nil {
				t.Errorf("%s: --shutdown-grace %q: %v", what, v, err)
			}
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
				grace += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			}
			if kill := time.Duration(ptrOr(spec.TerminationGracePeriodSeconds, 30)) * time.Second; grace >= kill {
				t.Errorf("%s: preStop plus --shutdown-grace take %v, not less than terminationGracePeriodSeconds (%v)", what, grace, kill)
			}
		}
	}
	for name := range volumes {
		if !mounted[name] {
			t.Errorf("%s: volume %q is never mounted", w, name)
		}
	}
	for name := range claims {
		if !mounted[name] {
			t.Errorf("%s: volumeClaimTemplate %q is never mounted", w, name)
		}
	}
}

func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(l))
}

// pinned reports an image reference without a version: no tag, or latest.
func pinned(image string) error {
	ref, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest {
		if !strings.HasPrefix(digest, "sha256:") {
			return fmt.Errorf("image %q: malformed digest", image)
		}
		return nil
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	switch {
	case !ok || tag == "":
		return fmt.Errorf("image %q has no tag: pin a version", image)
	case tag == "latest":
		return fmt.Errorf("image %q: pin a version, not latest", image)
	}
	return nil
}

// imageRepo returns an image reference without tag or digest.
func imageRepo(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

func imageTag(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return ""
}

// isAthena reports whether a container runs the athena image: its
// repository's last element is athena (athena:1.2, registry/x/athena:1.2).
func isAthena(c corev1.Container) bool {
	return path.Base(imageRepo(c.Image)) == "athena"
}

func runsAthena(spec corev1.PodSpec) bool {
	return slices.ContainsFunc(spec.Containers, isAthena)
}

// athenaCommand returns the athena subcommand a container runs, or "".
func athenaCommand(c corev1.Container) string {
	if !isAthena(c) || len(c.Args) == 0 {
		return ""
	}
	return c.Args[0]
}

func checkResources(t *testing.T, what string, c corev1.Container) {
	r := c.Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := r.Requests[name]; !ok || q.IsZero() {
			t.Errorf("%s: no %s request", what, name)
		}
	}
	limit, ok := r.Limits[corev1.ResourceMemory]
	if !ok || limit.IsZero() {
		t.Errorf("%s: no memory limit", what)
		return
	}
	for name, req := range r.Requests {
		if l, ok := r.Limits[name]; ok && req.Cmp(l) > 0 {
			t.Errorf("%s: %s request %s above its limit %s", what, name, req.String(), l.String())
		}
	}
	// A Go program's soft memory limit must sit below the container's.
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" {
			continue
		}
		n, err := parseGoMemLimit(e.Value)
		if err != nil {
			t.Errorf("%s: GOMEMLIMIT %q: %v", what, e.Value, err)
		} else if n >= limit.Value() {
			t.Errorf("%s: GOMEMLIMIT %s is not below the memory limit %s", what, e.Value, limit.String())
		}
	}
}

// parseGoMemLimit parses a GOMEMLIMIT value as the Go runtime does.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive size such as 900MiB")
	}
	return n * mult, nil
}

// checkSecurity asks what the namespace's "restricted" Pod Security
// Standard asks, plus a read-only root filesystem.
func checkSecurity(t *testing.T, what string, spec corev1.PodSpec, c corev1.Container) {
	pod := spec.SecurityContext
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: no securityContext", what)
		return
	}
	nonRoot := pod.RunAsNonRoot
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		t.Errorf("%s: runAsNonRoot is not true", what)
	}
	if uid := effectiveUID(spec, c); uid == nil || *uid == 0 {
		t.Errorf("%s: set a non-zero runAsUser, so that runAsNonRoot holds whatever the image says", what)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", what)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", what)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged", what)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities must drop ALL and add none", what)
	}
	seccomp := pod.SeccompProfile
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
		t.Errorf("%s: seccompProfile must be RuntimeDefault or Localhost", what)
	}
}

func effectiveUID(spec corev1.PodSpec, c corev1.Container) *int64 {
	if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
		return c.SecurityContext.RunAsUser
	}
	if spec.SecurityContext != nil {
		return spec.SecurityContext.RunAsUser
	}
	return nil
}

type namedProbe struct {
	name  string
	probe *corev1.Probe
}

// probes returns a container's probes, in a fixed order.
func probes(c corev1.Container) []namedProbe {
	var out []namedProbe
	for _, p := range []namedProbe{{"startupProbe", c.StartupProbe}, {"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}} {
		if p.probe != nil {
			out = append(out, p)
		}
	}
	return out
}

// checkProbe checks that a probe has one handler and, when it has a port,
// that the container declares it.
func checkProbe(c corev1.Container, p *corev1.Probe) error {
	h := p.ProbeHandler
	n := 0
	var port *intstr.IntOrString
	if h.HTTPGet != nil {
		n++
		port = &h.HTTPGet.Port
		if !strings.HasPrefix(h.HTTPGet.Path, "/") {
			return fmt.Errorf("httpGet path %q is not absolute", h.HTTPGet.Path)
		}
	}
	if h.TCPSocket != nil {
		n++
		port = &h.TCPSocket.Port
	}
	if h.GRPC != nil {
		n++
		v := intstr.FromInt32(h.GRPC.Port)
		port = &v
	}
	if h.Exec != nil {
		n++
		if len(h.Exec.Command) == 0 || h.Exec.Command[0] == "" {
			return errors.New("exec probe without a command")
		}
	}
	if n != 1 {
		return fmt.Errorf("%d handlers, want exactly one", n)
	}
	if port != nil {
		if _, ok := containerPort(c, *port); !ok {
			return fmt.Errorf("port %s is not one the container declares", port.String())
		}
	}
	return nil
}

// containerPort resolves a port by name or number among a container's ports.
func containerPort(c corev1.Container, p intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

// podPort resolves a port by name or number among a pod's containers.
func podPort(spec corev1.PodSpec, p intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, c := range spec.Containers {
		if cp, ok := containerPort(c, p); ok {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

// writable reports whether a container may write under dir: a mount that is
// not read-only holds it, or the root filesystem is writable.
func writable(c corev1.Container, dir string) bool {
	dir = path.Clean(dir)
	for _, vm := range c.VolumeMounts {
		if !vm.ReadOnly && (dir == vm.MountPath || strings.HasPrefix(dir, strings.TrimSuffix(vm.MountPath, "/")+"/")) {
			return true
		}
	}
	return c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem
}

// mountFor returns the mount that holds a path, the longest one first.
func mountFor(c corev1.Container, p string) (corev1.VolumeMount, bool) {
	var best corev1.VolumeMount
	found := false
	for _, vm := range c.VolumeMounts {
		if (p == vm.MountPath || strings.HasPrefix(p, strings.TrimSuffix(vm.MountPath, "/")+"/")) && len(vm.MountPath) > len(best.MountPath) {
			best, found = vm, true
		}
	}
	return best, found
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
