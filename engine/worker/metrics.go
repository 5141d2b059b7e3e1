package worker

import "github.com/prometheus/client_golang/prometheus"

// Job outcomes, the values of the outcome label.
const (
	outcomeComplete      = "complete"       // verdict from the whole file
	outcomePartial       = "partial"        // verdict from the whole file, a module failed
	outcomeAborted       = "aborted"        // the client aborted: no verdict
	outcomeBadChunks     = "bad_chunks"     // chunk protocol error: partial verdict
	outcomeUploadTimeout = "upload_timeout" // no chunk for ChunkIdleTimeout: partial verdict
	outcomeMaxDeliveries = "max_deliveries" // given up after MaxDeliver deliveries: partial verdict
	outcomeAlreadyDone   = "already_done"   // a redelivered job whose last event was already stored
	outcomeRequeued      = "requeued"       // left un-acked (shutdown, NATS error): redelivered
	outcomeBadJob        = "bad_job"        // undecodable job message: terminated
)

// metrics are the worker's Prometheus series. Labels are bounded: outcome
// takes the values above, nothing else is labelled.
type metrics struct {
	jobs         *prometheus.CounterVec
	redeliveries prometheus.Counter
	busy         prometheus.Gauge
	duration     prometheus.Histogram
	firstFinding prometheus.Histogram
	publish      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "athena_worker_jobs_total",
			Help: "Jobs ended by outcome (complete, partial, aborted, bad_chunks, upload_timeout, max_deliveries, already_done, requeued, bad_job).",
		}, []string{"outcome"}),
		redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "athena_worker_redeliveries_total",
			Help: "Job messages received that had been delivered before (NumDelivered > 1).",
		}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "athena_worker_jobs_in_flight",
			Help: "Jobs the worker holds now.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "athena_worker_job_duration_seconds",
			Help:    "Time from claiming a job to acking (or requeueing) it.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12), // 5ms .. ~12min
		}),
		firstFinding: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "athena_worker_first_finding_seconds",
			Help:    "Time from claiming a job to publishing its first finding.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12), // 1ms .. ~2.4min
		}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "athena_worker_publish_duration_seconds",
			Help:    "JetStream publish latency of events and verdicts, from publish to acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 0.1ms .. ~24s
		}),
	}
	if reg != nil {
		reg.MustRegister(m.jobs, m.redeliveries, m.busy, m.duration, m.firstFinding, m.publish)
	}
	return m
}
