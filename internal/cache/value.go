package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"athena/internal/core"
)

// maxValueBytes bounds one encoded verdict; a bigger one is not cached.
const maxValueBytes = 1 << 20

// envelope is the JSON stored at a verdict key. Tags travel with the value
// so that an L1 entry filled from Redis still knows them and a tag
// invalidation can drop it.
type envelope struct {
	Tags    []string     `json:"tags,omitempty"`
	Verdict core.Verdict `json:"verdict"`
}

// entry is a decoded value, as the L1 keeps it. It is never modified once
// built; verdict() hands out copies.
type entry struct {
	v    core.Verdict
	tags []string
	size int // encoded bytes, the L1 weight
}

// verdict returns a copy of the verdict marked Cached, which the caller may
// modify.
func (e *entry) verdict() core.Verdict {
	v := e.v
	v.Reasons = slices.Clone(v.Reasons)
	v.Cached = true
	return v
}

func (e *entry) hasTag(tag string) bool { return slices.Contains(e.tags, tag) }

// cacheable reports why v must not be cached under k, if it must not: a
// partial verdict, one without a label, or one about another file.
func cacheable(k Key, v core.Verdict) error {
	switch {
	case v.Partial:
		return fmt.Errorf("%w: the verdict is partial", ErrNotCacheable)
	case v.Label == "":
		return fmt.Errorf("%w: the verdict has no label", ErrNotCacheable)
	case v.SHA256 != k.SHA256:
		return fmt.Errorf("%w: the verdict's sha256 %q is not the key's %q", ErrNotCacheable, clip(v.SHA256), k.SHA256)
	}
	return nil
}

// encodeValue encodes v and its tags as stored in Redis. v must be
// cacheable under its key.
func encodeValue(v core.Verdict, tags []string) ([]byte, error) {
	v.Cached = false
	b, err := json.Marshal(envelope{Tags: tags, Verdict: v})
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %v", ErrNotCacheable, err)
	}
	if len(b) > maxValueBytes {
		return nil, fmt.Errorf("%w: the encoded verdict has %d bytes, more than %d", ErrNotCacheable, len(b), maxValueBytes)
	}
	return b, nil
}

// errCorrupt marks a stored value that cannot be served.
var errCorrupt = errors.New("cache: corrupt value")

// decodeValue decodes a value read from Redis for k. A value that does not
// decode, or that decodes to a verdict that could not have been stored
// under k, is an error wrapping errCorrupt: it is served as a miss.
func decodeValue(k Key, b []byte) (*entry, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%w at %s: %v", errCorrupt, k, err)
	}
	if err := cacheable(k, env.Verdict); err != nil {
		return nil, fmt.Errorf("%w at %s: %v", errCorrupt, k, err)
	}
	for _, t := range env.Tags {
		if err := validateTag(t); err != nil {
			return nil, fmt.Errorf("%w at %s: %v", errCorrupt, k, err)
		}
	}
	env.Verdict.Cached = false
	return &entry{v: env.Verdict, tags: env.Tags, size: len(b)}, nil
}

// invalidation is the message published on invalidateChan.
type invalidation struct {
	Tag    string `json:"tag"`
	Origin string `json:"origin"` // the publishing Cache's id
}

func encodeInvalidation(tag, origin string) string {
	b, _ := json.Marshal(invalidation{Tag: tag, Origin: origin}) // strings only: cannot fail
	return string(b)
}

func decodeInvalidation(payload string) (invalidation, error) {
	var m invalidation
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return m, fmt.Errorf("cache: invalidation message: %w", err)
	}
	if err := validateTag(m.Tag); err != nil {
		return m, fmt.Errorf("cache: invalidation message: %w", err)
	}
	return m, nil
}
