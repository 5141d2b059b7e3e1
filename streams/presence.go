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
}

// ErrBadPresence means a presence message does not follow the schema.
var ErrBadPresence = errors.New("streams: presence: id must be 1-256 bytes, 0 <= busy, 0 <= capacity")

func (p Presence) valid() bool {
	return p.ID != "" && len(p.ID) <= maxPresenceID && p.Busy >= 0 && p.Capacity >= 0
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
