package streams

import (
	"encoding/json"
	"errors"
	"fmt"
)

// SubjectEngineHeartbeat is the core NATS subject (not JetStream: presence
// is only worth its latest value) on which every engine announces itself
// once per heartbeat interval. Gateways listen to answer /readyz.
const SubjectEngineHeartbeat = "athena.engines.heartbeat"

// maxPresenceID bounds an engine id on the wire.
const maxPresenceID = 256

// Presence is one engine's heartbeat. An engine that stops sends a last one
// with Capacity 0, so listeners can forget it without waiting for a timeout.
type Presence struct {
	// ID names the engine instance (by default hostname-pid).
	ID string `json:"id"`
	// Busy is how many jobs the engine holds now.
	Busy int `json:"busy"`
	// Capacity is how many jobs it holds at most; 0 means it is leaving.
	Capacity int `json:"capacity"`
	// Healthy is the engine's own health check (its guests are within their
	// deadlines and its NATS connection is usable).
	Healthy bool `json:"healthy"`
	// Fingerprint identifies the engine's analysis pipeline (its modules
	// and their versions, and the settings that change results): a
	// gateway answers a known file from the verdict cache under the
	// fingerprints of the engines present. 1-128 characters of
	// [A-Za-z0-9._-], or empty (an engine without one).
	Fingerprint string `json:"fingerprint,omitempty"`
}

// ErrBadPresence means a presence message does not follow the schema.
var ErrBadPresence = errors.New("streams: presence: id must be 1-256 bytes, 0 <= busy, 0 <= capacity, fingerprint 0-128 characters of [A-Za-z0-9._-]")

// maxFingerprint bounds Presence.Fingerprint.
const maxFingerprint = 128

func (p Presence) valid() bool {
	return p.ID != "" && len(p.ID) <= maxPresenceID && p.Busy >= 0 && p.Capacity >= 0 && validFingerprint(p.Fingerprint)
}

// validFingerprint accepts "" or 1-128 characters of [A-Za-z0-9._-].
func validFingerprint(s string) bool {
	if len(s) > maxFingerprint {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// EncodePresence encodes a heartbeat.
func EncodePresence(p Presence) ([]byte, error) {
	if !p.valid() {
		return nil, ErrBadPresence
	}
	return json.Marshal(p)
}

// DecodePresence decodes and validates a heartbeat.
func DecodePresence(b []byte) (Presence, error) {
	var p Presence
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("streams: presence: %w", err)
	}
	if !p.valid() {
		return p, ErrBadPresence
	}
	return p, nil
}
