package office

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestAgainstOlefile cross-checks the test CFB writer and the reader with
// an independent implementation, Debian's python3-olefile: both must list
// the same streams with the same contents. make deps installs it.
func TestAgainstOlefile(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import olefile").Run(); err != nil {
		t.Fatal("python3-olefile is a test dependency (make deps installs it)")
	}
	doc := buildCFB(
		stream("WordDocument", bytes.Repeat([]byte("w0rd"), 2000)),
		storage("Macros", vbaStorage([]vbaSource{{name: "Module1", code: autoOpenShell}, {name: "Big", code: bigModule}}),
			stream("PROJECT", []byte("Module=Module1\r\n"))),
		storage("ObjectPool", storage("_1", stream("\x01Ole10Native", []byte{1, 2, 3}))),
	)
	path := filepath.Join(t.TempDir(), "doc.ole")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `
import hashlib, sys, olefile
o = olefile.OleFileIO(sys.argv[1])
for e in o.listdir(streams=True, storages=False):
    print("/".join(x.replace("\x01", "") for x in e), hashlib.sha256(o.openstream(e).read()).hexdigest())
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("olefile: %v\n%s", err, out)
	}
	want := strings.Split(strings.TrimSpace(string(out)), "\n")
	sort.Strings(want)
	if len(want) < 6 {
		t.Fatalf("olefile listed %d streams: %q", len(want), out)
	}

	c, err := openCFB(bytes.NewReader(doc), int64(len(doc)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, e := range c.entries {
		if e.typ != 2 || e.path == "" {
			continue
		}
		data, err := c.stream(i)
		if err != nil {
			t.Fatalf("%s: %v", e.path, err)
		}
		sum := sha256.Sum256(data)
		got = append(got, e.path+" "+hex.EncodeToString(sum[:]))
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("streams differ\n got: %v\nwant: %v", got, want)
	}
}
