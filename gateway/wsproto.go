package gateway

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// WebSocket client message types (docs/api.md).
const (
	msgStart  = "start"
	msgEnd    = "end"
	msgCancel = "cancel"
)

// Limits of a start message's fields.
const (
	maxNameLen     = 255
	maxOptions     = 32
	maxOptionKey   = 64
	maxOptionValue = 1024
	// maxControl bounds a text (control) message; larger ones close the
	// connection with 1009.
	maxControl = 64 << 10
)

// Connection-level protocol errors: the connection closes with 1003.
var (
	errMalformed   = errors.New("malformed message")
	errUnknownType = errors.New("unknown message type")
	errBadStream   = errors.New(`"stream" must be an integer from 1 to 65535`)
	errShortFrame  = errors.New("binary frame shorter than its 2-byte stream header")
)

// controlMsg is a decoded client text message.
type controlMsg struct {
	Type   string
	Stream uint16
	// The fields below are set for start messages only.
	Name    string
	Size    int64 // -1 when the client did not say
	SHA256  string
	Options map[string]string
	// StartErr is set when a start message names a valid stream but one of
	// its other fields is invalid: the server rejects that file with
	// bad_start and the connection stays open.
	StartErr error
}

// parseControl decodes a client text message. An error means the
// connection must close with 1003: the message is not a JSON object, has an
// unknown type, or does not name a stream in 1..65535.
func parseControl(b []byte) (controlMsg, error) {
	var head struct {
		Type   *string          `json:"type"`
		Stream *json.RawMessage `json:"stream"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return controlMsg{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if head.Type == nil {
		return controlMsg{}, fmt.Errorf(`%w: no "type"`, errMalformed)
	}
	m := controlMsg{Type: *head.Type, Size: -1}
	switch m.Type {
	case msgStart, msgEnd, msgCancel:
	default:
		return controlMsg{}, fmt.Errorf("%w %q", errUnknownType, truncate(m.Type, 32))
	}
	if head.Stream == nil {
		return controlMsg{}, errBadStream
	}
	n, err := strconv.ParseUint(string(*head.Stream), 10, 16)
	if err != nil || n == 0 {
		return controlMsg{}, errBadStream
	}
	m.Stream = uint16(n)
	if m.Type == msgStart {
		m.StartErr = m.parseStart(b)
	}
	return m, nil
}

// parseStart decodes and checks the fields of a start message.
func (m *controlMsg) parseStart(b []byte) error {
	var f struct {
		Name    *string           `json:"name"`
		Size    *int64            `json:"size"`
		SHA256  *string           `json:"sha256"`
		Options map[string]string `json:"options"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%q has the wrong type", te.Field)
		}
		return errors.New("bad field")
	}
	if f.Name != nil {
		if err := checkName(*f.Name); err != nil {
			return err
		}
		m.Name = *f.Name
	}
	if f.Size != nil {
		if *f.Size < -1 {
			return errors.New(`"size" must be the file's size in bytes, or -1 when unknown`)
		}
		m.Size = *f.Size
	}
	if f.SHA256 != nil && *f.SHA256 != "" {
		sum, err := checkSHA256(*f.SHA256)
		if err != nil {
			return err
		}
		m.SHA256 = sum
	}
	if len(f.Options) > 0 {
		if err := checkOptions(f.Options); err != nil {
			return err
		}
		m.Options = f.Options
	}
	return nil
}

// decodeFrameHeader reads the stream number of a binary frame from its
// first two bytes (big endian). Stream 0 is never valid.
func decodeFrameHeader(b []byte) (uint16, error) {
	if len(b) < 2 {
		return 0, errShortFrame
	}
	n := binary.BigEndian.Uint16(b)
	if n == 0 {
		return 0, errBadStream
	}
	return n, nil
}

// checkName accepts a display name: at most 255 bytes of UTF-8 without
// control characters. The empty name means "not given".
func checkName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("name longer than %d bytes", maxNameLen)
	}
	if !utf8.ValidString(name) {
		return errors.New("name is not valid UTF-8")
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return errors.New("name contains a control character")
	}
	return nil
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// checkSHA256 validates a declared sha256 and returns it in lower case.
func checkSHA256(s string) (string, error) {
	if !hexSHA256.MatchString(s) {
		return "", errors.New("sha256 must be 64 hexadecimal digits")
	}
	return strings.ToLower(s), nil
}

var optionKey = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func checkOptions(opts map[string]string) error {
	if len(opts) > maxOptions {
		return fmt.Errorf("more than %d options", maxOptions)
	}
	for k, v := range opts {
		if !optionKey.MatchString(k) {
			return fmt.Errorf("option name %q: want 1-%d characters of A-Z a-z 0-9 _ . -", truncate(k, 32), maxOptionKey)
		}
		if len(v) > maxOptionValue || !utf8.ValidString(v) {
			return fmt.Errorf("option %q: value must be valid UTF-8 of at most %d bytes", k, maxOptionValue)
		}
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary, for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// Server control messages.

func acceptedMsg(stream uint16, job string) []byte {
	return []byte(`{"type":"accepted","stream":` + strconv.Itoa(int(stream)) + `,"job":"` + job + `"}`)
}

func acceptedCachedMsg(stream uint16, job string) []byte {
	return []byte(`{"type":"accepted","stream":` + strconv.Itoa(int(stream)) + `,"job":"` + job + `","cached":true}`)
}

func ackMsg(stream uint16, bytes int64) []byte {
	return []byte(`{"type":"ack","stream":` + strconv.Itoa(int(stream)) + `,"bytes":` + strconv.FormatInt(bytes, 10) + `}`)
}

type rejection struct {
	Type   string   `json:"type"`
	Stream uint16   `json:"stream"`
	Error  apiError `json:"error"`
}

func rejectedMsg(stream uint16, code, message string) []byte {
	b, _ := json.Marshal(rejection{Type: "rejected", Stream: stream, Error: apiError{Code: code, Message: message}})
	return b
}
