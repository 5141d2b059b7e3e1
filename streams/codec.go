package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"

	"athena/internal/core"
)

// Job is the work-queue message that starts a job. The file's bytes follow
// on ChunkSubject(ID).
type Job struct {
	ID   string        `json:"id"`
	Meta core.FileMeta `json:"meta"`
	// SHA256 is the hash the client declared, if any (hex); the engine
	// computes the real one.
	SHA256 string `json:"sha256,omitempty"`
}

// EncodeJob encodes a job message.
func EncodeJob(j Job) ([]byte, error) {
	if !ValidJobID(j.ID) {
		return nil, ErrBadJobID
	}
	return json.Marshal(j)
}

// DecodeJob decodes and validates a job message.
func DecodeJob(b []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return j, fmt.Errorf("streams: job: %w", err)
	}
	if !ValidJobID(j.ID) {
		return j, ErrBadJobID
	}
	return j, nil
}

// Chunk headers.
const (
	HeaderSeq    = "Athena-Seq"    // 1, 2, ... without gaps
	HeaderOffset = "Athena-Offset" // file offset of the first byte
	HeaderLast   = "Athena-Last"   // "1" on the job's last chunk (which may be empty)
	HeaderAbort  = "Athena-Abort"  // a reason: the client went away; no more chunks follow
	// HeaderMsgID is JetStream's de-duplication header.
	HeaderMsgID = "Nats-Msg-Id"
)

// Chunk is a piece of a job's file.
type Chunk struct {
	Seq    int64
	Offset int64
	Last   bool
	// Abort, when set, ends the job without a verdict; Data is empty.
	Abort string
	Data  []byte
}

// ChunkMsg builds the NATS message of a chunk. Its Nats-Msg-Id makes a
// republished chunk a no-op.
func ChunkMsg(job string, c Chunk) *nats.Msg {
	m := nats.NewMsg(ChunkSubject(job))
	m.Data = c.Data
	m.Header.Set(HeaderSeq, strconv.FormatInt(c.Seq, 10))
	m.Header.Set(HeaderOffset, strconv.FormatInt(c.Offset, 10))
	m.Header.Set(HeaderMsgID, "c/"+job+"/"+strconv.FormatInt(c.Seq, 10))
	if c.Last {
		m.Header.Set(HeaderLast, "1")
	}
	if c.Abort != "" {
		m.Header.Set(HeaderAbort, c.Abort)
	}
	return m
}

// DecodeChunk reads a chunk from a message's headers and data.
func DecodeChunk(h nats.Header, data []byte) (Chunk, error) {
	c := Chunk{Data: data, Last: h.Get(HeaderLast) == "1", Abort: h.Get(HeaderAbort)}
	var err error
	if c.Seq, err = strconv.ParseInt(h.Get(HeaderSeq), 10, 64); err != nil || c.Seq < 1 {
		return c, fmt.Errorf("streams: chunk: bad %s %q", HeaderSeq, h.Get(HeaderSeq))
	}
	if c.Offset, err = strconv.ParseInt(h.Get(HeaderOffset), 10, 64); err != nil || c.Offset < 0 {
		return c, fmt.Errorf("streams: chunk: bad %s %q", HeaderOffset, h.Get(HeaderOffset))
	}
	if c.Abort != "" && len(data) > 0 {
		return c, errors.New("streams: chunk: an abort carries no data")
	}
	return c, nil
}

// EventMsg builds the NATS message of an event. Its Nats-Msg-Id (job and
// sequence) lets JetStream drop the copies a redelivered job republishes.
func EventMsg(job string, ev core.Event) (*nats.Msg, error) {
	b, err := EncodeEvent(ev)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(EventSubject(job))
	m.Data = b
	m.Header.Set(HeaderMsgID, "e/"+job+"/"+strconv.FormatInt(ev.Seq, 10))
	return m, nil
}

// EncodeEvent encodes an event in the schema of docs/events.md.
func EncodeEvent(ev core.Event) ([]byte, error) {
	if err := checkEvent(ev); err != nil {
		return nil, err
	}
	return json.Marshal(ev)
}

// DecodeEvent decodes and validates an event.
func DecodeEvent(b []byte) (core.Event, error) {
	var ev core.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return ev, fmt.Errorf("streams: event: %w", err)
	}
	return ev, checkEvent(ev)
}

// checkEvent enforces the schema: a known version, a sequence, and exactly
// the payload the type names.
func checkEvent(ev core.Event) error {
	if ev.V != core.SchemaVersion {
		return fmt.Errorf("streams: event: schema version %d, want %d", ev.V, core.SchemaVersion)
	}
	if ev.Seq < 1 && !(ev.Seq == 0 && ev.Type == core.EventError) {
		return fmt.Errorf("streams: event: sequence %d, want 1 or more (0 only for a gateway's error)", ev.Seq)
	}
	payloads := map[string]bool{
		core.EventProgress: ev.Progress != nil,
		core.EventFinding:  ev.Finding != nil,
		core.EventChild:    ev.Child != nil,
		core.EventVerdict:  ev.Verdict != nil,
		core.EventError:    ev.Error != nil,
	}
	has, known := payloads[ev.Type]
	if !known {
		return fmt.Errorf("streams: event: unknown type %q", ev.Type)
	}
	set := 0
	for _, p := range payloads {
		if p {
			set++
		}
	}
	if !has || set != 1 {
		return fmt.Errorf("streams: event: type %q needs exactly its own payload", ev.Type)
	}
	return nil
}
