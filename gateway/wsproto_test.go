package gateway

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseControl(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		want     controlMsg
		err      error // connection-level
		startErr bool  // rejected file
	}{
		{name: "start", in: `{"type":"start","stream":3,"name":"a.zip","size":10,"sha256":"` + hex64("A") + `","options":{"depth":"2"}}`,
			want: controlMsg{Type: msgStart, Stream: 3, Name: "a.zip", Size: 10, SHA256: hex64("a"), Options: map[string]string{"depth": "2"}}},
		{name: "start minimal", in: `{"type":"start","stream":65535}`, want: controlMsg{Type: msgStart, Stream: 65535, Size: -1}},
		{name: "unknown size", in: `{"type":"start","stream":1,"size":-1}`, want: controlMsg{Type: msgStart, Stream: 1, Size: -1}},
		{name: "end", in: `{"type":"end","stream":1}`, want: controlMsg{Type: msgEnd, Stream: 1, Size: -1}},
		{name: "cancel", in: `{"type":"cancel","stream":9,"extra":true}`, want: controlMsg{Type: msgCancel, Stream: 9, Size: -1}},
		{name: "not JSON", in: `hello`, err: errMalformed},
		{name: "array", in: `[]`, err: errMalformed},
		{name: "no type", in: `{"stream":1}`, err: errMalformed},
		{name: "type not a string", in: `{"type":1,"stream":1}`, err: errMalformed},
		{name: "unknown type", in: `{"type":"pause","stream":1}`, err: errUnknownType},
		{name: "no stream", in: `{"type":"end"}`, err: errBadStream},
		{name: "stream 0", in: `{"type":"end","stream":0}`, err: errBadStream},
		{name: "stream too big", in: `{"type":"end","stream":65536}`, err: errBadStream},
		{name: "stream negative", in: `{"type":"end","stream":-1}`, err: errBadStream},
		{name: "stream fraction", in: `{"type":"end","stream":1.5}`, err: errBadStream},
		{name: "stream string", in: `{"type":"end","stream":"1"}`, err: errBadStream},
		{name: "bad sha256", in: `{"type":"start","stream":1,"sha256":"zz"}`, startErr: true},
		{name: "size below -1", in: `{"type":"start","stream":1,"size":-2}`, startErr: true},
		{name: "size not a number", in: `{"type":"start","stream":1,"size":"big"}`, startErr: true},
		{name: "name control char", in: `{"type":"start","stream":1,"name":"a\nb"}`, startErr: true},
		{name: "option value not a string", in: `{"type":"start","stream":1,"options":{"a":[]}}`, startErr: true},
		{name: "bad option name", in: `{"type":"start","stream":1,"options":{"a b":"c"}}`, startErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseControl([]byte(tc.in))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if (got.StartErr != nil) != tc.startErr {
				t.Fatalf("start error %v, want one: %v", got.StartErr, tc.startErr)
			}
			if tc.startErr {
				return
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if string(g) != string(w) {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

func hex64(c string) string {
	s := ""
	for range 64 {
		s += c
	}
	return s
}

func TestDecodeFrameHeader(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want uint16
		err  error
	}{
		{nil, 0, errShortFrame},
		{[]byte{1}, 0, errShortFrame},
		{[]byte{0, 0}, 0, errBadStream},
		{[]byte{0, 1}, 1, nil},
		{[]byte{0xff, 0xff, 9}, 65535, nil},
		{[]byte{1, 2, 3, 4}, 258, nil},
	} {
		got, err := decodeFrameHeader(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("decodeFrameHeader(%v) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// FuzzParseControl: any bytes decode without panicking, and what decodes
// is well formed.
func FuzzParseControl(f *testing.F) {
	for _, s := range []string{
		`{"type":"start","stream":1,"name":"a","size":3,"sha256":"` + hex64("0") + `","options":{"k":"v"}}`,
		`{"type":"end","stream":65535}`,
		`{"type":"cancel","stream":2}`,
		`{"type":"start","stream":0}`,
		`{"type":"start","stream":1,"size":-1,"options":{"a":1}}`,
		`{"type":"x"}`,
		`{`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseControl(b)
		if err != nil {
			if !errors.Is(err, errMalformed) && !errors.Is(err, errUnknownType) && !errors.Is(err, errBadStream) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if m.Stream == 0 {
			t.Fatal("accepted stream 0")
		}
		switch m.Type {
		case msgStart, msgEnd, msgCancel:
		default:
			t.Fatalf("accepted type %q", m.Type)
		}
		if m.StartErr == nil && m.Type == msgStart {
			if checkName(m.Name) != nil || m.Size < -1 || len(m.Options) > maxOptions {
				t.Fatalf("accepted an invalid start: %+v", m)
			}
			if m.SHA256 != "" {
				if _, err := checkSHA256(m.SHA256); err != nil {
					t.Fatalf("accepted sha256 %q", m.SHA256)
				}
			}
		}
	})
}

// FuzzDecodeFrameHeader: the stream number is the big-endian first two
// bytes, never 0.
func FuzzDecodeFrameHeader(f *testing.F) {
	f.Add([]byte{0, 1, 'x'})
	f.Add([]byte{0, 0})
	f.Add([]byte{7})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeFrameHeader(b)
		switch {
		case len(b) < 2:
			if !errors.Is(err, errShortFrame) {
				t.Fatalf("short frame: %v", err)
			}
		case b[0] == 0 && b[1] == 0:
			if !errors.Is(err, errBadStream) {
				t.Fatalf("stream 0: %v", err)
			}
		default:
			if err != nil || n != uint16(b[0])<<8|uint16(b[1]) {
				t.Fatalf("got %d, %v", n, err)
			}
		}
	})
}
