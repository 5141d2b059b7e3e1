package streams

import (
	"bytes"
	"testing"

	"github.com/nats-io/nats.go"
)

// The codecs read bytes that come from the network: a gateway's jobs and
// chunks carry client input, events come back from engines. These targets
// check that decoding never panics and that whatever decodes encodes again
// to a stable form.

func FuzzDecodeJob(f *testing.F) {
	f.Add([]byte(`{"id":"j1","meta":{"name":"a.txt","size":3},"sha256":"ab"}`))
	f.Add([]byte(`{"id":"../x","meta":{"size":-1}}`))
	f.Add([]byte(`{"id":"j","meta":{"size":1,"options":{"k":"v"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := DecodeJob(b)
		if err != nil {
			return
		}
		if !ValidJobID(j.ID) {
			t.Fatalf("DecodeJob accepted id %q", j.ID)
		}
		enc, err := EncodeJob(j)
		if err != nil {
			t.Fatalf("EncodeJob after a successful decode: %v", err)
		}
		j2, err := DecodeJob(enc)
		if err != nil {
			t.Fatalf("DecodeJob(%s): %v", enc, err)
		}
		enc2, err := EncodeJob(j2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable round trip:\n%s\n%s (%v)", enc, enc2, err)
		}
	})
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add("1", "0", "", "", []byte("data"))
	f.Add("2", "4", "1", "", []byte{})
	f.Add("3", "4", "", "client went away", []byte{})
	f.Add("-1", "x", "yes", "r", []byte("d"))
	f.Add("+7", "00", "1", "", []byte("d"))
	f.Fuzz(func(t *testing.T, seq, offset, last, abort string, data []byte) {
		h := nats.Header{}
		h.Set(HeaderSeq, seq)
		h.Set(HeaderOffset, offset)
		h.Set(HeaderLast, last)
		h.Set(HeaderAbort, abort)
		c, err := DecodeChunk(h, data)
		if err != nil {
			return
		}
		if c.Seq < 1 || c.Offset < 0 || (c.Abort != "" && len(c.Data) > 0) {
			t.Fatalf("DecodeChunk accepted %+v", c)
		}
		m := ChunkMsg("job", c)
		c2, err := DecodeChunk(m.Header, m.Data)
		if err != nil {
			t.Fatalf("DecodeChunk of ChunkMsg(%+v): %v", c, err)
		}
		if c2.Seq != c.Seq || c2.Offset != c.Offset || c2.Last != c.Last || c2.Abort != c.Abort || !bytes.Equal(c2.Data, c.Data) {
			t.Fatalf("round trip: got %+v, want %+v", c2, c)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"v":1,"job":"j","seq":1,"type":"progress","progress":{"bytes":10}}`))
	f.Add([]byte(`{"v":1,"seq":2,"type":"finding","finding":{"module":"m","kind":"k","severity":"high","offset":3,"detail":{"a":[1,"x",null]}}}`))
	f.Add([]byte(`{"v":1,"seq":3,"type":"verdict","verdict":{"label":"clean","score":0,"sha256":"","size":0,"hashes":{"md5":"","sha1":"","sha256":"","sha512":""},"cached":false}}`))
	f.Add([]byte(`{"v":1,"seq":4,"type":"error","error":{"code":"aborted","message":"gone"}}`))
	f.Add([]byte(`{"v":1,"seq":5,"type":"child","child":{"path":"a > b","size":1}}`))
	f.Add([]byte(`{"v":1,"seq":1,"type":"finding","finding":{"severity":"severe"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvent(b)
		if err != nil {
			return
		}
		enc, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("EncodeEvent after a successful decode: %v", err)
		}
		ev2, err := DecodeEvent(enc)
		if err != nil {
			t.Fatalf("DecodeEvent(%s): %v", enc, err)
		}
		enc2, err := EncodeEvent(ev2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable round trip:\n%s\n%s (%v)", enc, enc2, err)
		}
	})
}
