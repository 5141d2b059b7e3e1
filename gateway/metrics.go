package gateway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus metrics. Labels are bounded: routes,
// status codes, transports, kinds and abort reasons; never a job or a name.
type metrics struct {
	requests       *prometheus.CounterVec   // route, code
	requestSeconds *prometheus.HistogramVec // route
	sessions       prometheus.Gauge
	uploads        *prometheus.CounterVec // transport
	bytesIn        *prometheus.CounterVec // transport
	firstFinding   prometheus.Histogram
	jobSeconds     prometheus.Histogram
	publishSeconds *prometheus.HistogramVec // kind: job, chunk, abort
	aborted        *prometheus.CounterVec   // reason
	cacheAnswers   prometheus.Counter       // verdicts answered from the cache
	coalesced      prometheus.Counter       // uploads answered by a concurrent one's verdict
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "athena", "gateway"
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "http_requests_total",
			Help: "HTTP requests by route and status code (101 for WebSocket sessions).",
		}, []string{"route", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "http_request_duration_seconds",
			Help:    "Time from request to the end of the exchange; streaming routes include the whole upload and job.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300},
		}, []string{"route"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "websocket_sessions",
			Help: "WebSocket connections open now.",
		}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "uploads_total",
			Help: "Uploads accepted (a job was published), by transport.",
		}, []string{"transport"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "bytes_in_total",
			Help: "File bytes received from clients, by transport.",
		}, []string{"transport"}),
		firstFinding: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "first_finding_seconds",
			Help:    "Time from a job's start to its first finding reaching the client.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		jobSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "job_duration_seconds",
			Help:    "Time from a job's start to its verdict reaching the client.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		}),
		publishSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "jetstream_publish_seconds",
			Help:    "Time from a JetStream publish to its acknowledgement, by message kind.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"kind"}),
		aborted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "uploads_aborted_total",
			Help: "Uploads ended before their last byte, by reason (client_gone, cancelled, file_too_large, publish_failed, protocol_error, server_shutdown).",
		}, []string{"reason"}),
		cacheAnswers: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "cache_answers_total",
			Help: "Verdicts answered from the verdict cache (declared-hash uploads and /v1/verdicts lookups).",
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "coalesced_uploads_total",
			Help: "Uploads that declared a sha256 already in flight and were answered with that upload's verdict.",
		}),
	}
	for _, c := range []prometheus.Collector{m.cacheAnswers, m.coalesced, m.requests, m.requestSeconds, m.sessions, m.uploads,
		m.bytesIn, m.firstFinding, m.jobSeconds, m.publishSeconds, m.aborted} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("gateway: metrics: %w", err)
		}
	}
	return m, nil
}
