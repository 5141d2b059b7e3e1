package fileproc

import (
	"archive/zip"
	"bytes"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"athena/internal/core"
	"athena/internal/formats"
	"athena/internal/formats/formatstest"
	"athena/modules/sdk"
)

// files is sdk.Files over a byte slice, collecting children.
type files struct {
	data     []byte
	children map[string][]byte
	refuse   bool
}

func (f *files) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(f.data).ReadAt(p, off)
}

func (f *files) Child(name string, r io.Reader) error {
	if f.refuse {
		return sdk.ErrRefused
	}
	b, err := io.ReadAll(r)
	f.children[name] = b
	return err
}

func run(t *testing.T, data []byte, refuse bool) ([]core.Finding, map[string][]byte) {
	t.Helper()
	var found []core.Finding
	a := New(func(f core.Finding) { found = append(found, f) }).(*Analyzer)
	children := runOn(t, a, core.FileMeta{}, data, refuse)
	return found, children
}

// runOn analyses one file with a, which emits wherever it was made to.
func runOn(t *testing.T, a *Analyzer, meta core.FileMeta, data []byte, refuse bool) map[string][]byte {
	t.Helper()
	fs := &files{data: data, children: map[string][]byte{}, refuse: refuse}
	a.UseFiles(fs)
	if err := a.Begin(meta); err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 { // in 1 KiB chunks, as the engine feeds
		n := min(1024, len(data))
		a.Feed(data[:n])
		data = data[n:]
	}
	if err := a.Finish(); err != nil {
		t.Fatal(err)
	}
	return fs.children
}

func kinds(fs []core.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind)
	}
	return out
}

func TestZipMembersBecomeChildren(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"a.txt", "../escape.txt"} {
		w, _ := zw.Create(name)
		w.Write(bytes.Repeat([]byte(name), 100))
	}
	zw.Close()
	found, children := run(t, buf.Bytes(), false)
	if len(children) != 2 || !bytes.HasPrefix(children["a.txt"], []byte("a.txta.txt")) || children["escape.txt"] == nil {
		t.Errorf("children %v, want a.txt and the sanitised escape.txt", slices.Collect(maps.Keys(children)))
	}
	if k := kinds(found); !slices.Contains(k, "archive") || !slices.Contains(k, "suspicious_path") {
		t.Errorf("findings %v, want archive metadata and the zip-slip path", k)
	}
}

func TestRefusedChildrenStopQuietly(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("a.txt")
	w.Write([]byte("hello"))
	zw.Close()
	found, children := run(t, buf.Bytes(), true)
	if len(children) != 0 || slices.Contains(kinds(found), "malformed") {
		t.Errorf("children %d, findings %v: a refusal is not a malformed file", len(children), kinds(found))
	}
}

func TestPlainTextIsLeftAlone(t *testing.T) {
	found, children := run(t, []byte("just some words\n"), false)
	if len(found) != 0 || len(children) != 0 {
		t.Errorf("findings %v, children %d, want none", kinds(found), len(children))
	}
}

func TestPDFJavaScriptIsExtracted(t *testing.T) {
	pdf := []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /OpenAction 2 0 R >>\nendobj\n" +
		"2 0 obj\n<< /S /JavaScript /JS (app.alert\\('hi'\\);) >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
	found, children := run(t, pdf, false)
	var js []byte
	for name, b := range children {
		if bytes.HasPrefix([]byte(name), []byte("js/")) {
			js = b
		}
	}
	if !bytes.Contains(js, []byte("app.alert('hi');")) {
		t.Errorf("children %v, want the JavaScript", children)
	}
	high := false
	for _, f := range found {
		high = high || f.Severity >= core.High
	}
	if !high {
		t.Errorf("findings %v, want a high one for /OpenAction JavaScript", kinds(found))
	}
}

func TestPasswordsOption(t *testing.T) {
	a := New(func(core.Finding) {}).(*Analyzer)
	a.Begin(core.FileMeta{Options: map[string]string{"passwords": "s3cret,other"}})
	if want := []string{"infected", "malware", "s3cret", "other"}; !slices.Equal(a.budget.Passwords, want) {
		t.Errorf("passwords %q, want %q", a.budget.Passwords, want)
	}
	a.Begin(core.FileMeta{})
	if len(a.budget.Passwords) != 2 {
		t.Errorf("passwords %q leaked into the next file", a.budget.Passwords)
	}
}

func TestUnknownHeadSaysDone(t *testing.T) {
	a := New(func(core.Finding) {}).(*Analyzer)
	a.UseFiles(&files{})
	a.Begin(core.FileMeta{})
	if err := a.Feed(bytes.Repeat([]byte("text "), 2000)); err != sdk.ErrDone {
		t.Errorf("Feed of plain text = %v, want ErrDone", err)
	}
	if err := a.Finish(); err != nil {
		t.Errorf("Finish after DONE: %v", err)
	}
}

func TestConfiguredPasswords(t *testing.T) {
	secret := []byte("only the operator knows the password\n")
	enc := formatstest.ZipCrypto(t, "op-secret", "s.txt", secret)
	var found []core.Finding
	a := New(func(f core.Finding) { found = append(found, f) }).(*Analyzer)
	decrypted := func(meta core.FileMeta) bool {
		t.Helper()
		found = found[:0]
		children := runOn(t, a, meta, enc, false)
		var enc []core.Finding
		for _, f := range found {
			if f.Kind == formats.KindEncrypted {
				enc = append(enc, f)
			}
		}
		if len(enc) != 1 {
			t.Fatalf("encrypted findings %+v, want one", enc)
		}
		got, ok := children["s.txt"]
		if ok != (enc[0].Detail["decrypted"] == true) || ok && !bytes.Equal(got, secret) {
			t.Fatalf("child %q (present %v) and finding %+v disagree", got, ok, enc[0])
		}
		return ok
	}
	if decrypted(core.FileMeta{}) {
		t.Fatal("decrypted with the default list")
	}
	if !decrypted(core.FileMeta{Options: map[string]string{"passwords": "op-secret"}}) {
		t.Fatal("the per-file option did not add the password")
	}
	if err := a.Configure([]byte("# operator list\ninfected\nop-secret\n")); err != nil {
		t.Fatal(err)
	}
	if !decrypted(core.FileMeta{}) {
		t.Fatal("not decrypted with the configured list")
	}
	if want := []string{"infected", "op-secret", "x"}; a.Begin(core.FileMeta{Options: map[string]string{"passwords": "x"}}) != nil || !slices.Equal(a.budget.Passwords, want) {
		t.Fatalf("passwords %q, want the list then the option: %q", a.budget.Passwords, want)
	}
	if err := a.Configure([]byte("ok\nbad\x00\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Configure of a bad list: %v, want an error naming line 2", err)
	}
	if !decrypted(core.FileMeta{}) {
		t.Fatal("a refused list replaced the one in use")
	}
	if err := a.Configure([]byte("# none\n")); err != nil {
		t.Fatal(err)
	}
	if a.Begin(core.FileMeta{}) != nil || len(a.budget.Passwords) != 0 {
		t.Fatalf("an empty list tries %q, want nothing", a.budget.Passwords)
	}
}
