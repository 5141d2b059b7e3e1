package formatstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Tool runs a command-line tool that make deps installs (zip, 7zz...) in a
// new temporary directory holding the files inputs, and returns the bytes
// of the file out it wrote.
func Tool(tb testing.TB, inputs map[string][]byte, out, name string, args ...string) []byte {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		tb.Fatalf("%s is a test dependency (make deps installs it)", name)
	}
	dir := tb.TempDir()
	for n, data := range inputs {
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s %q: %v\n%s", name, args, err, msg)
	}
	b, err := os.ReadFile(filepath.Join(dir, out))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ZipCrypto is a zip of one member encrypted with ZipCrypto under pw, made
// by Info-ZIP's zip -P.
func ZipCrypto(tb testing.TB, pw, name string, data []byte) []byte {
	tb.Helper()
	return Tool(tb, map[string][]byte{name: data}, "out.zip", "zip", "-q", "-P", pw, "out.zip", name)
}

// SevenZipAES is a 7z of one member encrypted with AES-256 under pw, its
// headers too, made by Debian's 7-Zip (7zz).
func SevenZipAES(tb testing.TB, pw, name string, data []byte) []byte {
	tb.Helper()
	return Tool(tb, map[string][]byte{name: data}, "x.7z", "7zz", "a", "-bd", "-p"+pw, "-mhe=on", "x.7z", name)
}
