package worker

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// maxInFlight bounds one job's publishes awaiting JetStream's
// acknowledgement; a job that emits faster waits (back-pressure). With the
// default Concurrency the total stays far below nats.go's own async limit.
const maxInFlight = 256

// publishTimeout bounds the wait for one publish acknowledgement.
const publishTimeout = 15 * time.Second

// errPublishTimeout means JetStream did not acknowledge a publish in time.
var errPublishTimeout = errors.New("worker: no publish acknowledgement within " + publishTimeout.String())

// publisher publishes one job's messages asynchronously, in order, and
// collects their acknowledgements on its own goroutine, which ends in wait.
// publish must be called from one goroutine; failed and wait from any.
type publisher struct {
	js      jetstream.JetStream
	latency prometheus.Observer
	queue   chan inFlight
	done    chan struct{}
	once    sync.Once

	mu  sync.Mutex
	err error // the first failure; later publishes are dropped
}

type inFlight struct {
	f    jetstream.PubAckFuture
	subj string
	at   time.Time
}

func newPublisher(js jetstream.JetStream, latency prometheus.Observer) *publisher {
	p := &publisher{js: js, latency: latency, queue: make(chan inFlight, maxInFlight), done: make(chan struct{})}
	go p.collect()
	return p
}

// publish sends m. It blocks while maxInFlight publishes are unacknowledged.
// After a failure it does nothing: the job cannot be acked anyway.
func (p *publisher) publish(m *nats.Msg) {
	if p.failed() != nil {
		return
	}
	f, err := p.js.PublishMsgAsync(m)
	if err != nil {
		p.fail(fmt.Errorf("worker: publish %s: %w", m.Subject, err))
		return
	}
	p.queue <- inFlight{f: f, subj: m.Subject, at: time.Now()}
}

func (p *publisher) collect() {
	defer close(p.done)
	timer := time.NewTimer(publishTimeout)
	defer timer.Stop()
	for in := range p.queue {
		if p.failed() != nil {
			continue // the job is lost anyway: do not wait any more
		}
		timer.Reset(publishTimeout)
		select {
		case <-in.f.Ok():
			p.latency.Observe(time.Since(in.at).Seconds())
		case err := <-in.f.Err():
			p.fail(fmt.Errorf("worker: publish %s: %w", in.subj, err))
		case <-timer.C:
			p.fail(fmt.Errorf("worker: publish %s: %w", in.subj, errPublishTimeout))
		}
	}
}

func (p *publisher) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

// failed returns the first failure so far, if any.
func (p *publisher) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// wait ends publishing: it returns once every publish is acknowledged (nil)
// or one has failed. It may be called more than once; publish must not be
// called after it.
func (p *publisher) wait() error {
	p.once.Do(func() { close(p.queue) })
	<-p.done
	return p.failed()
}
