package fileproc

import (
	"archive/zip"
	"bytes"
	"io"
	"maps"
	"slices"
	"testing"

	"athena/internal/core"
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
	fs := &files{data: data, children: map[string][]byte{}, refuse: refuse}
	a.UseFiles(fs)
	if err := a.Begin(core.FileMeta{}); err != nil {
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
	return found, fs.children
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
