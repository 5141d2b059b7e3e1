package pdf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"athena/internal/core"
)

// TestQPDFObjectStreams has Debian's qpdf rewrite a generated PDF with
// compressed object streams and streams, as real producers do, and checks
// that the script, the automatic action and the embedded file are still
// found. make deps installs qpdf.
func TestQPDFObjectStreams(t *testing.T) {
	qpdf, err := exec.LookPath("qpdf")
	if err != nil {
		t.Fatal("qpdf is a test dependency (make deps installs it)")
	}
	in := buildPDF(
		"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R /Names << /EmbeddedFiles << /Names [(a) 5 0 R] >> >> >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
		"<< /Type /Action /S /JavaScript /JS 7 0 R >>",
		"<< /Type /Filespec /F (invoice.exe) /EF << /F 6 0 R >> >>",
		streamObj("/Type /EmbeddedFile", []byte("MZ pretend executable")),
		streamObj("", []byte(jsCode)),
	)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	if err := os.WriteFile(src, in, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(qpdf, "--object-streams=generate", "--compress-streams=y", src, dst).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "warning") {
		t.Fatalf("qpdf: %v\n%s", err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("/ObjStm")) {
		t.Fatalf("qpdf wrote no object stream")
	}
	r := run(t, b)
	var js bool
	for name, data := range r.children {
		if strings.HasPrefix(name, "js/") && string(data) == jsCode {
			js = true
		}
	}
	if !js {
		t.Errorf("script not extracted; children %s", r.names())
	}
	if string(r.children["invoice.exe"]) != "MZ pretend executable" {
		t.Errorf("embedded file not extracted; children %s", r.names())
	}
	if f, ok := r.find(KindJavaScript); !ok || f.Severity != core.High {
		t.Errorf("javascript finding = %+v", f)
	}
	meta, _ := r.find(KindPDF)
	if n, _ := meta.Detail["objects_in_objstm"].(int); n == 0 {
		t.Errorf("no objects parsed from object streams: %v", meta.Detail)
	}
}
