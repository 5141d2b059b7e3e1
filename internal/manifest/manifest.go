// Package manifest reads, validates and packs analyzer module manifests: the
// JSON a module carries in its athena.manifest custom section (module ABI v1,
// modules/README.md). It walks wasm binaries at the section level only and
// rejects malformed ones; wasm bytes are untrusted input.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
)

// Section is the name of the wasm custom section holding a module's
// JSON manifest (modules/README.md).
const Section = "athena.manifest"

// ABIVersion is the module ABI the engine speaks.
const ABIVersion = 1

// Manifest describes a module: who it is, what it wants and its limits.
// Defaults are applied by Parse.
type Manifest struct {
	ABI         int      `json:"abi"`
	Name        string   `json:"name"`
	Version     string   `json:"version"`
	Description string   `json:"description,omitempty"`
	Wants       []string `json:"wants,omitempty"`
	Critical    bool     `json:"critical,omitempty"`
	Prewarm     int      `json:"prewarm,omitempty"`
	// Config names the kind of configuration the module takes through its
	// configure export (ABI v1.1), such as "rules"; empty when it takes none.
	Config string `json:"config,omitempty"`
	// ConfigOptional lets the module run with its own defaults while no
	// setting of its Config kind is configured (the file processor's
	// password list); otherwise such a module does not run until one is.
	ConfigOptional bool `json:"config_optional,omitempty"`
	// FileAccess lets the module read the whole file at random (read_at)
	// and extract children (child_begin/write/end), ABI v1.2. The engine
	// then spools the file for it.
	FileAccess bool   `json:"file_access,omitempty"`
	Limits     Limits `json:"limits"`
}

// Limits bound what one module instance may use.
type Limits struct {
	MemoryMiB        int `json:"memory_mib,omitempty"`
	CallMillis       int `json:"call_ms,omitempty"`
	MaxFeed          int `json:"max_feed,omitempty"`
	FilesPerInstance int `json:"files_per_instance,omitempty"`
	HighWaterMiB     int `json:"high_water_mib,omitempty"`
}

var moduleName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Parse decodes and validates a manifest and fills in defaults.
func Parse(raw []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	if m.ABI != ABIVersion {
		return m, fmt.Errorf("manifest: abi %d, the engine speaks %d", m.ABI, ABIVersion)
	}
	if !moduleName.MatchString(m.Name) {
		return m, fmt.Errorf("manifest: name %q must match %s", m.Name, moduleName)
	}
	if m.Version == "" {
		return m, fmt.Errorf("manifest: %s: version is required", m.Name)
	}
	if m.Config != "" && !moduleName.MatchString(m.Config) {
		return m, fmt.Errorf("manifest: %s: config %q must match %s", m.Name, m.Config, moduleName)
	}
	if m.ConfigOptional && m.Config == "" {
		return m, fmt.Errorf("manifest: %s: config_optional without a config kind", m.Name)
	}
	if len(m.Wants) == 0 {
		m.Wants = []string{"*"}
	}
	for _, w := range m.Wants {
		if _, err := path.Match(w, ""); err != nil {
			return m, fmt.Errorf("manifest: %s: wants %q: %w", m.Name, w, err)
		}
	}
	l := &m.Limits
	if m.Prewarm <= 0 {
		m.Prewarm = 1
	}
	setDefault(&l.MemoryMiB, 64)
	setDefault(&l.CallMillis, 2000)
	setDefault(&l.MaxFeed, 64<<10)
	setDefault(&l.FilesPerInstance, 1000)
	setDefault(&l.HighWaterMiB, l.MemoryMiB*3/4)
	switch {
	case l.MemoryMiB < 1 || l.MemoryMiB > 4096:
		return m, fmt.Errorf("manifest: %s: memory_mib %d out of 1..4096", m.Name, l.MemoryMiB)
	case l.MaxFeed < 1 || l.MaxFeed > 16<<20:
		return m, fmt.Errorf("manifest: %s: max_feed %d out of 1..16777216", m.Name, l.MaxFeed)
	case l.CallMillis < 1:
		return m, fmt.Errorf("manifest: %s: call_ms must be positive", m.Name)
	case l.FilesPerInstance < 1, l.HighWaterMiB < 1:
		return m, fmt.Errorf("manifest: %s: files_per_instance and high_water_mib must be positive", m.Name)
	}
	return m, nil
}

func setDefault(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

// Wanted reports whether the module analyses files of the given MIME type.
// An empty type (not identified yet) is wanted only by "*".
func (m Manifest) Wanted(mime string) bool {
	for _, w := range m.Wants {
		if w == "*" {
			return true
		}
		if ok, _ := path.Match(w, mime); ok && mime != "" {
			return true
		}
	}
	return false
}

var wasmHeader = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// ErrMissing means a wasm binary has no athena.manifest section.
var ErrMissing = errors.New("manifest: module has no " + Section + " section")

type section struct {
	id        byte
	start     int // offset of the id byte
	end       int // offset after the section
	name      string
	payloadAt int // custom sections: offset of the payload
}

// sections walks the top-level sections of a wasm binary without decoding
// their contents. It rejects anything malformed.
func sections(wasm []byte) ([]section, error) {
	if !bytes.HasPrefix(wasm, wasmHeader) {
		return nil, errors.New("manifest: not a wasm binary (bad magic or version)")
	}
	var out []section
	for at := len(wasmHeader); at < len(wasm); {
		s := section{id: wasm[at], start: at}
		size, n, err := uleb32(wasm[at+1:])
		if err != nil {
			return nil, fmt.Errorf("manifest: section at %d: %w", at, err)
		}
		body := at + 1 + n
		if uint64(body)+uint64(size) > uint64(len(wasm)) {
			return nil, fmt.Errorf("manifest: section at %d overruns the binary", at)
		}
		s.end = body + int(size)
		if s.id == 0 {
			nameLen, n, err := uleb32(wasm[body:s.end])
			if err != nil || uint64(body+n)+uint64(nameLen) > uint64(s.end) {
				return nil, fmt.Errorf("manifest: custom section at %d has a bad name", at)
			}
			s.name = string(wasm[body+n : body+n+int(nameLen)])
			s.payloadAt = body + n + int(nameLen)
		}
		out = append(out, s)
		at = s.end
	}
	return out, nil
}

// Read returns the raw manifest stored in a wasm binary.
func Read(wasm []byte) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	for _, s := range secs {
		if s.id == 0 && s.name == Section {
			return wasm[s.payloadAt:s.end], nil
		}
	}
	return nil, ErrMissing
}

// Pack returns wasm with its manifest section replaced by manifest,
// after checking that the manifest is valid.
func Pack(wasm, manifest []byte) ([]byte, error) {
	if _, err := Parse(manifest); err != nil {
		return nil, err
	}
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), wasmHeader...)
	for _, s := range secs {
		if s.id == 0 && s.name == Section {
			continue
		}
		out = append(out, wasm[s.start:s.end]...)
	}
	name := appendUleb(nil, uint32(len(Section)))
	name = append(name, Section...)
	out = append(out, 0)
	out = appendUleb(out, uint32(len(name)+len(manifest)))
	out = append(out, name...)
	return append(out, manifest...), nil
}

func uleb32(b []byte) (v uint32, n int, err error) {
	var shift uint
	for n < len(b) && n < 5 {
		c := b[n]
		n++
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			if n == 5 && c > 0x0f {
				return 0, 0, errors.New("LEB128 overflows 32 bits")
			}
			return v, n, nil
		}
		shift += 7
	}
	return 0, 0, errors.New("truncated LEB128")
}

func appendUleb(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
