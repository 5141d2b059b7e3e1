package supervise

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Restart reasons, the values of the "reason" label of
// athena_supervisor_restarts_total.
const (
	reasonExit            = "exit"             // the child exited on its own
	reasonMissedHeartbeat = "missed_heartbeat" // no heartbeat for HeartbeatTimeout
	reasonUnhealthy       = "unhealthy"        // the child reported not ok
	reasonStartFailed     = "start_failed"     // the previous restart could not start a process
)

// metrics holds the supervisor's instruments. The gauges are computed from
// the children's status at scrape time, so only restarts needs updating.
type metrics struct {
	restarts *prometheus.CounterVec
	running  *prometheus.Desc
	age      *prometheus.Desc
	status   func() []ChildStatus
}

var _ prometheus.Collector = (*metrics)(nil)

// newMetrics creates the instruments and registers them on reg when reg is
// not nil. status is called on every scrape.
func newMetrics(reg prometheus.Registerer, status func() []ChildStatus) (*metrics, error) {
	m := &metrics{
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "athena_supervisor_restarts_total",
			Help: "Child processes restarted, by reason: exit, missed_heartbeat, unhealthy, start_failed.",
		}, []string{"reason"}),
		running: prometheus.NewDesc("athena_supervisor_children_running",
			"Child processes currently running.", nil, nil),
		age: prometheus.NewDesc("athena_supervisor_heartbeat_age_seconds",
			"Time since the last heartbeat from the child in each slot.", []string{"slot"}, nil),
		status: status,
	}
	for _, r := range []string{reasonExit, reasonMissedHeartbeat, reasonUnhealthy, reasonStartFailed} {
		m.restarts.WithLabelValues(r)
	}
	if reg != nil {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("supervise: register metrics: %w", err)
		}
	}
	return m, nil
}

// Describe implements [prometheus.Collector].
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.restarts.Describe(ch)
	ch <- m.running
	ch <- m.age
}

// Collect implements [prometheus.Collector].
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.restarts.Collect(ch)
	now := time.Now()
	running := 0
	for _, st := range m.status() {
		if st.PID != 0 {
			running++
		}
		if !st.LastHeartbeat.IsZero() {
			ch <- prometheus.MustNewConstMetric(m.age, prometheus.GaugeValue,
				now.Sub(st.LastHeartbeat).Seconds(), strconv.Itoa(st.Slot))
		}
	}
	ch <- prometheus.MustNewConstMetric(m.running, prometheus.GaugeValue, float64(running))
}
