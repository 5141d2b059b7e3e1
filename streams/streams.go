// Package streams is the wire contract between Athena's gateways and
// engines: the JetStream topology (streams, subjects, the engines' work-queue
// consumer) and the codecs of what travels on it (jobs, chunks, events).
//
// Gateways and engines never import each other; both import this package.
//
//	subject                    stream            retention
//	athena.jobs                ATHENA_JOBS       work queue: one message per job, one engine takes it
//	athena.chunks.<job>        ATHENA_CHUNKS     limits, short max age: a job's bytes in order
//	athena.events.<job>        ATHENA_EVENTS     limits: a job's events, replayable after a reconnect
//	athena.verdicts.<sha256>   ATHENA_VERDICTS   limits, long max age: final verdicts for other systems
package streams

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream, subject and consumer names.
const (
	StreamJobs     = "ATHENA_JOBS"
	StreamChunks   = "ATHENA_CHUNKS"
	StreamEvents   = "ATHENA_EVENTS"
	StreamVerdicts = "ATHENA_VERDICTS"

	SubjectJobs = "athena.jobs"

	// ConsumerEngines is the durable pull consumer all engines share.
	ConsumerEngines = "engines"
)

var jobID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ErrBadJobID means a job id is not a valid subject token.
var ErrBadJobID = errors.New("streams: job id must be 1-64 characters of A-Z a-z 0-9 _ -")

// ValidJobID reports whether id can name a job.
func ValidJobID(id string) bool { return jobID.MatchString(id) }

// ChunkSubject is the subject of a job's chunks.
func ChunkSubject(job string) string { return "athena.chunks." + job }

// EventSubject is the subject of a job's events.
func EventSubject(job string) string { return "athena.events." + job }

// VerdictSubject is the subject final verdicts of a file are published on.
func VerdictSubject(sha256 string) string { return "athena.verdicts." + sha256 }

// Topology is the JetStream layout. The zero value of each field means its
// documented default.
type Topology struct {
	// Replicas of every stream (1 for a single server). Default 1.
	Replicas int
	// Storage of every stream. Default file storage.
	Storage jetstream.StorageType
	// ChunkMaxAge bounds how long a job's bytes are kept. Default 1 hour.
	ChunkMaxAge time.Duration
	// ChunkMaxBytes bounds the chunks stream. Default 8 GiB.
	ChunkMaxBytes int64
	// EventMaxAge bounds how long events can be replayed. Default 24 hours.
	EventMaxAge time.Duration
	// VerdictMaxAge bounds how long verdicts stay on their subject. Default 30 days.
	VerdictMaxAge time.Duration
	// AckWait is how long an engine may hold a job without a sign of life
	// before it is redelivered. Engines extend it while they work. Default 30s.
	AckWait time.Duration
	// MaxDeliver bounds deliveries of one job; the last delivery finishes
	// the job with analysis_failed. Default 3.
	MaxDeliver int
	// DuplicateWindow is JetStream's de-duplication window for events.
	// Default 10 minutes.
	DuplicateWindow time.Duration
}

func (t *Topology) setDefaults() {
	if t.Replicas <= 0 {
		t.Replicas = 1
	}
	if t.ChunkMaxAge <= 0 {
		t.ChunkMaxAge = time.Hour
	}
	if t.ChunkMaxBytes <= 0 {
		t.ChunkMaxBytes = 8 << 30
	}
	if t.EventMaxAge <= 0 {
		t.EventMaxAge = 24 * time.Hour
	}
	if t.VerdictMaxAge <= 0 {
		t.VerdictMaxAge = 30 * 24 * time.Hour
	}
	if t.AckWait <= 0 {
		t.AckWait = 30 * time.Second
	}
	if t.MaxDeliver <= 0 {
		t.MaxDeliver = 3
	}
	if t.DuplicateWindow <= 0 {
		t.DuplicateWindow = 10 * time.Minute
	}
}

// Streams returns the stream configurations of the topology.
func (t Topology) Streams() []jetstream.StreamConfig {
	t.setDefaults()
	return []jetstream.StreamConfig{
		{
			Name: StreamJobs, Subjects: []string{SubjectJobs},
			Retention: jetstream.WorkQueuePolicy, Storage: t.Storage, Replicas: t.Replicas,
			MaxAge: t.ChunkMaxAge, Description: "one message per job; engines share one durable consumer",
		},
		{
			Name: StreamChunks, Subjects: []string{ChunkSubject("*")},
			Retention: jetstream.LimitsPolicy, Storage: t.Storage, Replicas: t.Replicas,
			MaxAge: t.ChunkMaxAge, MaxBytes: t.ChunkMaxBytes, Discard: jetstream.DiscardNew,
			Description: "a job's bytes in order; headers Athena-Seq, Athena-Offset, Athena-Last",
		},
		{
			Name: StreamEvents, Subjects: []string{EventSubject("*")},
			Retention: jetstream.LimitsPolicy, Storage: t.Storage, Replicas: t.Replicas,
			MaxAge: t.EventMaxAge, Duplicates: t.DuplicateWindow,
			Description: "a job's events (docs/events.md), de-duplicated by job and sequence",
		},
		{
			Name: StreamVerdicts, Subjects: []string{VerdictSubject("*")},
			Retention: jetstream.LimitsPolicy, Storage: t.Storage, Replicas: t.Replicas,
			MaxAge: t.VerdictMaxAge, MaxMsgsPerSubject: 1, Duplicates: t.DuplicateWindow,
			Description: "final verdicts by sha256, for other systems",
		},
	}
}

// EngineConsumer returns the configuration of the engines' shared consumer.
func (t Topology) EngineConsumer() jetstream.ConsumerConfig {
	t.setDefaults()
	return jetstream.ConsumerConfig{
		Durable:       ConsumerEngines,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       t.AckWait,
		MaxDeliver:    t.MaxDeliver,
		MaxAckPending: -1,
		FilterSubject: SubjectJobs,
		Description:   "engines claim jobs here; each job goes to exactly one engine",
	}
}

// Ensure creates or updates the streams and the engines' consumer. It is
// idempotent: every gateway and engine calls it at start.
func (t Topology) Ensure(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range t.Streams() {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("streams: stream %s: %w", cfg.Name, err)
		}
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, StreamJobs, t.EngineConsumer()); err != nil {
		return fmt.Errorf("streams: consumer %s: %w", ConsumerEngines, err)
	}
	return nil
}
