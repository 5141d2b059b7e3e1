package engine

import "github.com/prometheus/client_golang/prometheus"

// metrics are the engine's Prometheus series. Labels are bounded: module
// names come from manifests, exports and reasons from fixed sets.
type metrics struct {
	callSeconds        *prometheus.HistogramVec
	instances          *prometheus.GaugeVec
	failures           *prometheus.CounterVec
	recycles           *prometheus.CounterVec
	compileSeconds     *prometheus.GaugeVec
	instantiateSeconds *prometheus.HistogramVec
	jobs               *prometheus.CounterVec
	bytes              prometheus.Counter
	fileSpools         *spoolStats // files kept for modules that read them at random
	childSpools        *spoolStats // extracted children waiting for analysis
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		callSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "athena_engine_call_duration_seconds",
			Help:    "Duration of guest calls by module and export.",
			Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5},
		}, []string{"module", "export"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "athena_engine_instances",
			Help: "Module instances by state (idle in the pool, busy with a job).",
		}, []string{"module", "state"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "athena_engine_instance_failures_total",
			Help: "Instances discarded after a trap, exit, deadline, bad status or memory exhaustion.",
		}, []string{"module", "reason"}),
		recycles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "athena_engine_instance_recycles_total",
			Help: "Healthy instances retired after too many files or too much memory.",
		}, []string{"module", "reason"}),
		compileSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "athena_engine_compile_seconds",
			Help: "Time the module took to compile (or load from the compilation cache).",
		}, []string{"module"}),
		instantiateSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "athena_engine_instantiate_duration_seconds",
			Help:    "Time to instantiate a module and run _initialize.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12),
		}, []string{"module"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "athena_engine_jobs_total",
			Help: "Jobs finished by outcome (complete, partial, aborted).",
		}, []string{"outcome"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "athena_engine_bytes_total",
			Help: "Bytes fed into jobs.",
		}),
	}
	spools := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "athena_engine_spools",
		Help: "Spools in use by kind (file: a file kept for a module that reads it at random; child: an extracted child waiting for analysis).",
	}, []string{"kind"})
	spoolBytes := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "athena_engine_spool_bytes",
		Help: "Bytes held in spools (memory or temporary files) by kind.",
	}, []string{"kind"})
	m.fileSpools = &spoolStats{spools: spools.WithLabelValues("file"), bytes: spoolBytes.WithLabelValues("file")}
	m.childSpools = &spoolStats{spools: spools.WithLabelValues("child"), bytes: spoolBytes.WithLabelValues("child")}
	if reg != nil {
		reg.MustRegister(m.callSeconds, m.instances, m.failures, m.recycles,
			m.compileSeconds, m.instantiateSeconds, m.jobs, m.bytes, spools, spoolBytes)
	}
	return m
}
