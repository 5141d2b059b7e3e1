package cache

import (
	"errors"
	"strings"
	"testing"
)

// FuzzKeyValidate: a key that validates makes a Redis key that splits back
// into exactly its parts.
func FuzzKeyValidate(f *testing.F) {
	f.Add(hashOf(1), testFP)
	f.Add(strings.ToUpper(hashOf(1)), "a:b")
	f.Add("", "")
	f.Add(hashOf(2), strings.Repeat("x", 129))
	f.Fuzz(func(t *testing.T, sha, fp string) {
		k := Key{SHA256: sha, Fingerprint: fp}
		if err := k.Validate(); err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("Validate error %v does not wrap ErrInvalidKey", err)
			}
			return
		}
		rest, ok := strings.CutPrefix(redisKey(k), keyPrefix)
		if !ok {
			t.Fatalf("redisKey(%v) lacks the prefix", k)
		}
		gotFP, gotSHA, ok := strings.Cut(rest, ":")
		if !ok || gotFP != fp || gotSHA != sha {
			t.Fatalf("redisKey(%v) = %q does not split back into its parts", k, redisKey(k))
		}
	})
}

// FuzzDecodeValue: any bytes stored in Redis decode to a servable verdict
// for the key or to an error wrapping errCorrupt, never a panic; what
// decodes re-encodes to an equal entry.
func FuzzDecodeValue(f *testing.F) {
	k := keyOf(1)
	good, _ := encodeValue(verdictOf(1), []string{"fp:" + testFP, "module:patterns@1.0.0"})
	f.Add(good)
	f.Add([]byte(`{"verdict":{"label":"clean","sha256":"` + hashOf(1) + `","partial":true}}`))
	f.Add([]byte(`{"tags":[" "],"verdict":{"label":"clean","sha256":"` + hashOf(1) + `"}}`))
	f.Add([]byte(`{"verdict":{"label":"clean","sha256":"` + hashOf(1) + `","severity":"x","score":1e999}}`))
	f.Add([]byte("null"))
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeValue(k, b)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("decode error %v does not wrap errCorrupt", err)
			}
			return
		}
		if err := cacheable(k, e.v); err != nil {
			t.Fatalf("decoded an uncacheable verdict: %v", err)
		}
		v := e.verdict()
		if !v.Cached {
			t.Fatalf("served verdict not marked Cached")
		}
		again, err := encodeValue(e.v, e.tags)
		if err != nil {
			if errors.Is(err, ErrNotCacheable) {
				return // over maxValueBytes after re-encoding
			}
			t.Fatalf("re-encode: %v", err)
		}
		e2, err := decodeValue(k, again)
		if err != nil {
			t.Fatalf("decode of re-encoded value: %v", err)
		}
		if !equalVerdicts(e.v, e2.v) || strings.Join(e.tags, "\n") != strings.Join(e2.tags, "\n") {
			t.Fatalf("round trip changed the entry: %+v -> %+v", e, e2)
		}
	})
}

// FuzzDecodeInvalidation: any message on the channel decodes to a valid
// tag or an error, never a panic.
func FuzzDecodeInvalidation(f *testing.F) {
	f.Add(encodeInvalidation("module:patterns@1.0.0", "abcd"))
	f.Add(`{"tag":""}`)
	f.Add(`{"tag":"a b"}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, payload string) {
		m, err := decodeInvalidation(payload)
		if err != nil {
			return
		}
		if err := validateTag(m.Tag); err != nil {
			t.Fatalf("decoded an invalid tag %q", m.Tag)
		}
		if got, err := decodeInvalidation(encodeInvalidation(m.Tag, m.Origin)); err != nil || got != m {
			t.Fatalf("round trip: %+v, %v; want %+v", got, err, m)
		}
	})
}
