package exe

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"athena/internal/core"
	"athena/internal/formats"
)

// discard is a Sink that drains children and fails the test on a
// finding that reports a recovered panic.
type discard struct{ t testing.TB }

func (d discard) Finding(f core.Finding) {
	if e, _ := f.Detail["error"].(string); f.Kind == formats.KindMalformed && strings.HasPrefix(e, "parser panic") {
		d.t.Errorf("%s", e)
	}
}

func (discard) Child(_ string, r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func fuzzFormat(f *testing.F, format string, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = Detect(data)
		m := formats.NewMeter(formats.Budget{}.WithDefaults())
		if err := Analyze(format, bytes.NewReader(data), int64(len(data)), m, discard{t}); err != nil {
			t.Fatalf("Analyze: %v", err)
		}
	})
}

func FuzzPE(f *testing.F) {
	imps := []peImp{{dll: "kernel32.dll", names: []string{"LoadLibraryA"}}, {dll: "ws2_32.dll", ords: []uint16{1}}}
	fuzzFormat(f, FormatPE,
		buildPE(peSpec{imports: imps, exports: []string{"A"}, tls: 1, rich: true, overlay: []byte("x")}),
		buildPE(peSpec{is64: true, imports: imps, tls: 2, certSize: 16}),
		[]byte("MZ"))
}

func FuzzELF(f *testing.F) {
	fuzzFormat(f, FormatELF, buildELF(7, []byte("UPX!"), []byte("tail")), []byte("\x7fELF\x01\x01\x01"))
}

func FuzzMachO(f *testing.F) {
	thin := buildMachO(0x01000007, true)
	fuzzFormat(f, FormatMachO, thin, buildMachO(0x0100000c, false))
}

func FuzzMachOFat(f *testing.F) {
	thin := buildMachO(0x01000007, true)
	fuzzFormat(f, FormatMachOFat, buildFat([][]byte{thin, thin}, []uint32{0x01000007, 0x0100000c}, []byte("t")))
}

// TestTruncated cuts every generated sample at many lengths: no panic,
// no error, whatever the cut.
func TestTruncated(t *testing.T) {
	thin := buildMachO(0x01000007, true)
	imps := []peImp{{dll: "kernel32.dll", names: []string{"LoadLibraryA"}}, {dll: "ws2_32.dll", ords: []uint16{1}}}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"pe32", buildPE(peSpec{imports: imps, exports: []string{"A"}, tls: 1, rich: true, rcdata: [][]byte{[]byte("r")}, overlay: []byte("x")})},
		{"pe32+", buildPE(peSpec{is64: true, imports: imps, tls: 2, certSize: 16})},
		{"elf", buildELF(7, []byte("UPX!"), []byte("tail"))},
		{"macho", thin},
		{"fat", buildFat([][]byte{thin, thin}, []uint32{0x01000007, 0x0100000c}, []byte("t"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			format := Detect(tc.data)
			for cut := 0; cut <= len(tc.data); cut += 1 + cut/64 {
				d := tc.data[:cut]
				m := formats.NewMeter(formats.Budget{})
				if err := Analyze(format, bytes.NewReader(d), int64(len(d)), m, discard{t}); err != nil {
					t.Fatalf("cut at %d: %v", cut, err)
				}
			}
		})
	}
}
