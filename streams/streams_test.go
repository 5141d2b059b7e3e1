package streams

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"athena/internal/core"
	"athena/internal/natsembed/natstest"
)

func connect(t *testing.T) jetstream.JetStream { return natstest.JetStream(t) }

func TestEnsureIsIdempotent(t *testing.T) {
	js := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topo := Topology{AckWait: 5 * time.Second}
	for i := range 2 {
		if err := topo.Ensure(ctx, js); err != nil {
			t.Fatalf("Ensure #%d: %v", i+1, err)
		}
	}
	for _, name := range []string{StreamJobs, StreamChunks, StreamEvents, StreamVerdicts} {
		if _, err := js.Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
	c, err := js.Consumer(ctx, StreamJobs, ConsumerEngines)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().Config.AckWait; got != 5*time.Second {
		t.Errorf("consumer ack wait %v, want 5s", got)
	}
	// A changed setting is applied to the existing stream.
	topo.EventMaxAge = time.Hour
	if err := topo.Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	st, _ := js.Stream(ctx, StreamEvents)
	if got := st.CachedInfo().Config.MaxAge; got != time.Hour {
		t.Errorf("events max age %v after update, want 1h", got)
	}
}

func TestEventsAreDeduplicatedBySeq(t *testing.T) {
	js := connect(t)
	ctx := t.Context()
	if err := (Topology{}).Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	ev := core.Event{V: 1, Job: "j1", Seq: 1, Type: core.EventProgress, Progress: &core.Progress{Bytes: 10}}
	for range 3 { // a redelivered job republishes the same events
		m, err := EventMsg("j1", ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := js.Stream(ctx, StreamEvents)
	info, _ := st.Info(ctx)
	if info.State.Msgs != 1 {
		t.Errorf("events stream holds %d messages, want 1", info.State.Msgs)
	}
}

func TestJobCodec(t *testing.T) {
	j := Job{ID: "abc_DEF-1", Meta: core.FileMeta{Name: "x.pdf", Size: 3}, SHA256: strings.Repeat("a", 64)}
	b, err := EncodeJob(j)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeJob(b)
	if err != nil || got.ID != j.ID || got.Meta.Name != "x.pdf" || got.SHA256 != j.SHA256 {
		t.Errorf("round trip = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "a.b", "a b", "a*", strings.Repeat("x", 65)} {
		if _, err := EncodeJob(Job{ID: bad}); err == nil {
			t.Errorf("EncodeJob accepted id %q", bad)
		}
	}
	if _, err := DecodeJob([]byte(`{"id":"a>b"}`)); err == nil {
		t.Errorf("DecodeJob accepted a wildcard id")
	}
}

func TestChunkCodec(t *testing.T) {
	in := Chunk{Seq: 3, Offset: 512, Last: true, Data: []byte("tail")}
	m := ChunkMsg("j", in)
	if m.Subject != "athena.chunks.j" {
		t.Errorf("subject %q", m.Subject)
	}
	got, err := DecodeChunk(m.Header, m.Data)
	if err != nil || got.Seq != 3 || got.Offset != 512 || !got.Last || !bytes.Equal(got.Data, in.Data) {
		t.Errorf("round trip = %+v, %v", got, err)
	}
	tests := map[string]nats.Header{
		"no seq":       {HeaderOffset: {"0"}},
		"zero seq":     {HeaderSeq: {"0"}, HeaderOffset: {"0"}},
		"bad offset":   {HeaderSeq: {"1"}, HeaderOffset: {"-1"}},
		"abort + data": {HeaderSeq: {"1"}, HeaderOffset: {"0"}, HeaderAbort: {"client_gone"}},
	}
	for name, h := range tests {
		if _, err := DecodeChunk(h, []byte("x")); err == nil {
			t.Errorf("%s: DecodeChunk accepted it", name)
		}
	}
}

func TestEventCodec(t *testing.T) {
	good := []core.Event{
		{V: 1, Seq: 1, Type: core.EventFinding, Finding: &core.Finding{Module: "m", Kind: "k", Severity: core.High}},
		{V: 1, Seq: 2, Type: core.EventVerdict, Verdict: &core.Verdict{Label: core.LabelClean}},
		{V: 1, Seq: 3, Type: core.EventChild, Child: &core.Child{Path: "a.zip > b"}},
		{V: 1, Seq: 4, Type: core.EventError, Error: &core.Error{Code: "aborted", Message: "client gone"}},
	}
	for _, ev := range good {
		b, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("EncodeEvent(%s): %v", ev.Type, err)
		}
		back, err := DecodeEvent(b)
		if err != nil || back.Type != ev.Type || back.Seq != ev.Seq {
			t.Errorf("round trip of %s = %+v, %v", ev.Type, back, err)
		}
	}
	bad := map[string]string{
		"version":       `{"v":2,"seq":1,"type":"progress","progress":{"bytes":1}}`,
		"no seq":        `{"v":1,"type":"progress","progress":{"bytes":1}}`,
		"unknown type":  `{"v":1,"seq":1,"type":"nope"}`,
		"no payload":    `{"v":1,"seq":1,"type":"finding"}`,
		"wrong payload": `{"v":1,"seq":1,"type":"finding","verdict":{"label":"clean"}}`,
		"two payloads":  `{"v":1,"seq":1,"type":"finding","finding":{"kind":"k","severity":"info"},"progress":{"bytes":1}}`,
		"bad severity":  `{"v":1,"seq":1,"type":"finding","finding":{"kind":"k","severity":"dire"}}`,
		"not json":      `{`,
	}
	for name, raw := range bad {
		if _, err := DecodeEvent([]byte(raw)); err == nil {
			t.Errorf("%s: DecodeEvent accepted %s", name, raw)
		}
	}
}
