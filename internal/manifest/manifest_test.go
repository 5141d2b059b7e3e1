package manifest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// tiny is the smallest valid wasm binary: the header alone.
var tiny = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr string
		check   func(Manifest) bool
	}{
		{"defaults", `{"abi":1,"name":"m","version":"1"}`, "", func(m Manifest) bool {
			return m.Wants[0] == "*" && m.Prewarm == 1 && m.Limits.MemoryMiB == 64 &&
				m.Limits.HighWaterMiB == 48 && m.Limits.MaxFeed == 65536 && m.Limits.CallMillis == 2000
		}},
		{"explicit", `{"abi":1,"name":"m","version":"1","wants":["text/*"],"limits":{"memory_mib":8}}`, "", func(m Manifest) bool {
			return m.Wanted("text/plain") && !m.Wanted("application/pdf") && !m.Wanted("") && m.Limits.HighWaterMiB == 6
		}},
		{"wrong abi", `{"abi":2,"name":"m","version":"1"}`, "abi 2", nil},
		{"bad name", `{"abi":1,"name":"Bad Name","version":"1"}`, "name", nil},
		{"no version", `{"abi":1,"name":"m"}`, "version is required", nil},
		{"bad glob", `{"abi":1,"name":"m","version":"1","wants":["["]}`, "wants", nil},
		{"huge memory", `{"abi":1,"name":"m","version":"1","limits":{"memory_mib":99999}}`, "memory_mib", nil},
		{"optional setting", `{"abi":1,"name":"m","version":"1","config":"archive_passwords","config_optional":true}`, "", func(m Manifest) bool {
			return m.Config == "archive_passwords" && m.ConfigOptional
		}},
		{"optional without a kind", `{"abi":1,"name":"m","version":"1","config_optional":true}`, "config_optional without", nil},
		{"not json", `{`, "manifest:", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.raw))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tc.check(m) {
				t.Errorf("Parse = %+v, not as expected", m)
			}
		})
	}
}

func TestPackAndRead(t *testing.T) {
	if _, err := Read(tiny); !errors.Is(err, ErrMissing) {
		t.Fatalf("Read(header only) = %v, want ErrMissing", err)
	}
	first := []byte(`{"abi":1,"name":"a","version":"1"}`)
	packed, err := Pack(tiny, first)
	if err != nil {
		t.Fatal(err)
	}
	second := []byte(`{"abi":1,"name":"b","version":"2"}`)
	repacked, err := Pack(packed, second)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(repacked)
	if err != nil || !bytes.Equal(got, second) {
		t.Errorf("Read after repack = %q, %v; want %q", got, err, second)
	}
	if n := bytes.Count(repacked, []byte(Section)); n != 1 {
		t.Errorf("repacked binary has %d manifest sections, want 1", n)
	}
	if _, err := Pack(tiny, []byte(`{"abi":1}`)); err == nil {
		t.Errorf("Pack accepted an invalid manifest")
	}
}

func TestSectionsRejectsMalformed(t *testing.T) {
	tests := map[string][]byte{
		"empty":            nil,
		"bad magic":        []byte("\x00wsm\x01\x00\x00\x00"),
		"truncated size":   append(append([]byte{}, tiny...), 1, 0x80),
		"section overruns": append(append([]byte{}, tiny...), 1, 10, 0),
		"custom bad name":  append(append([]byte{}, tiny...), 0, 2, 5, 'a'),
		"leb over 32 bits": append(append([]byte{}, tiny...), 1, 0xff, 0xff, 0xff, 0xff, 0x7f),
	}
	for name, b := range tests {
		if _, err := Read(b); err == nil || errors.Is(err, ErrMissing) {
			t.Errorf("%s: Read = %v, want a malformed-binary error", name, err)
		}
	}
}

// FuzzRead feeds arbitrary bytes to the section walker: it must never panic,
// and whatever it accepts must survive a Pack round trip.
func FuzzRead(f *testing.F) {
	packed, _ := Pack(tiny, []byte(`{"abi":1,"name":"a","version":"1"}`))
	f.Add(packed)
	f.Add(tiny)
	f.Add(append(append([]byte{}, tiny...), 0, 3, 1, 'x', 'y'))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := sections(b); err != nil {
			return
		}
		man := []byte(`{"abi":1,"name":"z","version":"1"}`)
		out, err := Pack(b, man)
		if err != nil {
			t.Fatalf("Pack of a binary sections accepted: %v", err)
		}
		got, err := Read(out)
		if err != nil || !bytes.Equal(got, man) {
			t.Fatalf("Read after Pack = %q, %v", got, err)
		}
	})
}

// FuzzParse checks Parse never panics and that accepted manifests are sane.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"abi":1,"name":"m","version":"1","wants":["text/*"],"limits":{"memory_mib":8}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			return
		}
		if m.Limits.MemoryMiB < 1 || m.Limits.MaxFeed < 1 || m.Prewarm < 1 || len(m.Wants) == 0 {
			t.Fatalf("Parse accepted %+v", m)
		}
	})
}
