//go:build !wasip1

package archive

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"athena/internal/formats"
	"athena/internal/formats/formatstest"
)

// Cross-checks against Debian's reference tools (APT: unzip zip 7zip
// xz-utils zstd bzip2); each is a test dependency that make deps installs,
// and a missing one fails its test. No rar creator exists on Debian (rar is
// non-free; 7-Zip only reads rar), so encrypted rar is tested only with the
// hand-made records of rar_test.go.

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

// sevenZipTool runs Debian's 7-Zip (package 7zip, command 7zz) in dir.
func sevenZipTool(t *testing.T, dir string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("7zz"); err != nil {
		t.Fatal("7zz is a test dependency (make deps installs Debian's 7zip)")
	}
	cmd := exec.Command("7zz", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("7zz %q: %v\n%s", args, err, out)
	}
}

// An AES-256 7z archive made by 7-Zip itself, with plain and with
// encrypted headers (-mhe): the right password in the list opens it; a
// list without it yields "encrypted" findings and no child.
func TestCrossCheckSevenZipAESFrom7zz(t *testing.T) {
	secret := []byte(strings.Repeat("made by 7-Zip with a password\n", 40))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.txt"), secret, 0o644); err != nil {
		t.Fatal(err)
	}
	const pw = "operator-only 7z pass"
	for _, he := range []string{"off", "on"} {
		name := "he-" + he + ".7z"
		sevenZipTool(t, dir, "a", "-bd", "-p"+pw, "-mhe="+he, name, "s.txt")
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name      string
			passwords []string
			decrypted bool
		}{
			{"password in the list", []string{"infected", pw, "malware"}, true},
			{"default list", nil, false},
			{"wrong list", []string{"wrong", "also wrong"}, false},
		}
		for _, tt := range tests {
			t.Run("mhe="+he+"/"+tt.name, func(t *testing.T) {
				s := newSink(t, formats.Budget{Passwords: tt.passwords})
				if err := s.extract(t, data); err != nil {
					t.Fatal(err)
				}
				enc := s.find(formats.KindEncrypted)
				if len(enc) == 0 {
					t.Fatalf("no encrypted finding; findings %+v", s.findings)
				}
				for _, f := range enc {
					if f.Detail["decrypted"] != tt.decrypted {
						t.Errorf("encrypted finding %+v, want decrypted %v", f.Detail, tt.decrypted)
					}
					if tt.decrypted && f.Detail["password"] != pw {
						t.Errorf("encrypted finding %+v, want password %q", f.Detail, pw)
					}
				}
				got, ok := s.children["s.txt"]
				if tt.decrypted && !bytes.Equal(got, secret) {
					t.Fatalf("child s.txt: %d bytes (present %v), want the secret; findings %+v", len(got), ok, s.findings)
				}
				if !tt.decrypted && len(s.children) != 0 {
					t.Fatalf("children %q without the password", s.order)
				}
			})
		}
	}
}

// BenchmarkSevenZipPasswordTry measures one wrong password tried on a 7z
// with encrypted headers made by 7-Zip: one key derivation (2^19 SHA-256
// rounds) and a failed header decode. Each try uses a password not tried
// before, so the library's key cache never answers.
//
//	go test ./internal/formats/archive/ -run '^$' -bench SevenZipPasswordTry
func BenchmarkSevenZipPasswordTry(b *testing.B) {
	data := formatstest.SevenZipAES(b, "right", "s.txt", []byte("secret\n"))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m := formats.NewMeter(formats.Budget{Passwords: []string{fmt.Sprintf("wrong-%d", i)}})
		if err := Extract("7z", bytes.NewReader(data), int64(len(data)), m, discardSink{}); err != nil {
			b.Fatal(err)
		}
	}
}
