//go:build !wasip1

package archive

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"athena/internal/formats"
)

// Cross-checks against Debian's reference tools (APT: unzip xz-utils zstd
// bzip2); each case is skipped when its tool is missing.

func TestCrossCheckZipCryptoWithUnzip(t *testing.T) {
	if _, err := exec.LookPath("unzip"); err != nil {
		t.Fatal("unzip is a test dependency (make deps installs it)")
	}
	secret := []byte(strings.Repeat("cross-checked secret\n", 30))
	path := filepath.Join(t.TempDir(), "enc.zip")
	if err := os.WriteFile(path, makeZipCrypto(t, "s.txt", "infected", secret, 8), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("unzip", "-P", "infected", "-p", path, "s.txt").Output()
	if err != nil || !bytes.Equal(out, secret) {
		t.Fatalf("unzip -P infected: %v, %d bytes, want the secret", err, len(out))
	}
}

func TestCrossCheckCompressors(t *testing.T) {
	plain := []byte(strings.Repeat("compressed by the reference tool\n", 500))
	tests := []struct {
		tool   string
		args   []string
		format string
	}{
		{"xz", []string{"-c", "-9"}, "xz"},
		{"zstd", []string{"-c", "-q", "-19"}, "zstd"},
		{"bzip2", []string{"-c"}, "bzip2"},
		{"gzip", []string{"-c", "-n"}, "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			if _, err := exec.LookPath(tt.tool); err != nil {
				t.Fatalf("%s is a test dependency (make deps installs it)", tt.tool)
			}
			cmd := exec.Command(tt.tool, tt.args...)
			cmd.Stdin = bytes.NewReader(plain)
			data, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", tt.tool, err)
			}
			if got := Detect(data); got != tt.format {
				t.Fatalf("Detect = %q, want %q", got, tt.format)
			}
			s := newSink(t, formats.Budget{})
			if err := s.extract(t, data); err != nil {
				t.Fatal(err)
			}
			if got := s.children["data"]; !bytes.Equal(got, plain) {
				t.Fatalf("decoded %d bytes, want %d; children %q", len(got), len(plain), s.order)
			}
		})
	}
}

func TestCrossCheckZipCryptoFromZip(t *testing.T) {
	if _, err := exec.LookPath("zip"); err != nil {
		t.Fatal("zip is a test dependency (make deps installs it)")
	}
	secret := []byte(strings.Repeat("made by Info-ZIP zip -P\n", 40))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.txt"), secret, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		stdin  []byte
		member string
	}{
		{"file", []string{"-q", "-P", "infected", "f.zip", "s.txt"}, nil, "s.txt"},
		{"streamed (data descriptor, time check byte)", []string{"-q", "-P", "malware", "-", "-"}, secret, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("zip", tt.args...)
			cmd.Dir = dir
			var out bytes.Buffer
			if tt.stdin != nil {
				cmd.Stdin = bytes.NewReader(tt.stdin)
				cmd.Stdout = &out
			}
			if err := cmd.Run(); err != nil {
				t.Fatalf("zip: %v", err)
			}
			data := out.Bytes()
			if tt.stdin == nil {
				var err error
				if data, err = os.ReadFile(filepath.Join(dir, "f.zip")); err != nil {
					t.Fatal(err)
				}
			}
			s := newSink(t, formats.Budget{})
			if err := s.extract(t, data); err != nil {
				t.Fatal(err)
			}
			if got := s.children[tt.member]; !bytes.Equal(got, secret) {
				t.Fatalf("child %q: %d bytes, want the secret; findings %+v", tt.member, len(got), s.findings)
			}
		})
	}
}
