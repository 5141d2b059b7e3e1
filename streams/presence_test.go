package streams

import (
	"errors"
	"strings"
	"testing"
)

func TestPresenceRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Presence
		err  error
	}{
		{name: "idle", p: Presence{ID: "host-1", Capacity: 4, Healthy: true}},
		{name: "busy", p: Presence{ID: "host-1", Busy: 4, Capacity: 4, Healthy: true}},
		{name: "leaving with jobs", p: Presence{ID: "host-1", Busy: 2}},
		{name: "no id", p: Presence{Capacity: 4}, err: ErrBadPresence},
		{name: "long id", p: Presence{ID: strings.Repeat("x", 257), Capacity: 4}, err: ErrBadPresence},
		{name: "negative busy", p: Presence{ID: "a", Busy: -1, Capacity: 4}, err: ErrBadPresence},
		{name: "negative capacity", p: Presence{ID: "a", Capacity: -1}, err: ErrBadPresence},
		{name: "fingerprint", p: Presence{ID: "a", Capacity: 4, Healthy: true, Fingerprint: "0123456789abcdef0123456789abcdef"}},
		{name: "long fingerprint", p: Presence{ID: "a", Capacity: 4, Fingerprint: strings.Repeat("f", 129)}, err: ErrBadPresence},
		{name: "fingerprint with a space", p: Presence{ID: "a", Capacity: 4, Fingerprint: "a b"}, err: ErrBadPresence},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodePresence(tc.p)
			if !errors.Is(err, tc.err) {
				t.Fatalf("EncodePresence: got error %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			got, err := DecodePresence(b)
			if err != nil {
				t.Fatalf("DecodePresence(%s): %v", b, err)
			}
			if got != tc.p {
				t.Errorf("got %+v, want %+v", got, tc.p)
			}
		})
	}
}

func TestDecodePresenceRejects(t *testing.T) {
	for _, in := range []string{``, `null`, `{}`, `{"id":""}`, `{"id":"a","busy":-3}`, `{"id":"a","capacity":"4"}`, `[]`, `{"id":"a","fingerprint":"x y"}`, `{"id":"a","fingerprint":7}`} {
		if p, err := DecodePresence([]byte(in)); err == nil {
			t.Errorf("DecodePresence(%q) = %+v, want an error", in, p)
		}
	}
}

// FuzzDecodePresence checks that DecodePresence never panics and that what it
// accepts encodes back to something it decodes to the same value.
func FuzzDecodePresence(f *testing.F) {
	f.Add([]byte(`{"id":"host-1","busy":1,"capacity":4,"healthy":true}`))
	f.Add([]byte(`{"id":"x","capacity":0}`))
	f.Add([]byte(`{"id":"e","capacity":4,"healthy":true,"fingerprint":"0123456789abcdef0123456789abcdef"}`))
	f.Add([]byte(`{"id":"e","capacity":4,"fingerprint":"a/b"}`))
	f.Add([]byte(`{"id":"\u00ff","busy":99999999999999999999}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePresence(b)
		if err != nil {
			return
		}
		enc, err := EncodePresence(p)
		if err != nil {
			t.Fatalf("EncodePresence(%+v) after a successful decode: %v", p, err)
		}
		again, err := DecodePresence(enc)
		if err != nil || again != p {
			t.Fatalf("round trip: got %+v, %v; want %+v", again, err, p)
		}
	})
}
