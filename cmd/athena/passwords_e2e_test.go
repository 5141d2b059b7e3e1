package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"athena/internal/core"
	"athena/internal/formats"
	"athena/internal/formats/formatstest"
	"athena/internal/testkit"
)

// encryptedEICARZip writes a zip whose one member, eicar.com, is encrypted
// with Info-ZIP's zip -P (ZipCrypto) under pw.
func encryptedEICARZip(t *testing.T, pw string) string {
	t.Helper()
	return writeFile(t, filepath.Join(t.TempDir(), "enc.zip"), string(formatstest.ZipCrypto(t, pw, "eicar.com", testkit.EICAR())))
}

// decryptedByAnalyze runs athena analyze on the zip and reports whether
// its member was decrypted and analysed as a child (EICAR found at its
// path); the encrypted finding and the child event must agree.
func decryptedByAnalyze(t *testing.T, zipPath string, args ...string) bool {
	t.Helper()
	out, errOut, code := athena(t, append(append(engineArgs("analyze"), args...), zipPath)...)
	if code == 2 {
		t.Fatalf("analyze: exit 2\n%s", errOut)
	}
	member := zipPath + " > eicar.com"
	var encrypted []core.Finding
	child, eicar, malicious := false, false, false
	for _, ev := range decodeEvents(t, out) {
		switch {
		case ev.Verdict != nil:
			malicious = ev.Verdict.Label == core.LabelMalicious
		case ev.Child != nil:
			child = child || ev.Child.Path == member
		case ev.Finding != nil && ev.Finding.Kind == formats.KindEncrypted:
			encrypted = append(encrypted, *ev.Finding)
		case ev.Finding != nil && ev.Finding.Rule == "eicar_test_file":
			eicar = eicar || ev.Finding.Path == member
		}
	}
	if len(encrypted) != 1 {
		t.Fatalf("encrypted findings %+v, want one\n%s", encrypted, out)
	}
	decrypted := encrypted[0].Detail["decrypted"] == true
	if child != decrypted || eicar != decrypted || malicious != decrypted {
		t.Fatalf("decrypted %v, child %v, EICAR in the member %v, malicious %v: they disagree\n%s", decrypted, child, eicar, malicious, out)
	}
	return decrypted
}

func TestAnalyzeArchivePasswords(t *testing.T) {
	zipPath := encryptedEICARZip(t, "operator secret")
	dir := t.TempDir()
	ours := writeFile(t, filepath.Join(dir, "ours.txt"), "# the operator's list\ninfected\noperator secret\n")
	other := writeFile(t, filepath.Join(dir, "other.txt"), "malware\n")

	if decryptedByAnalyze(t, zipPath) {
		t.Error("decrypted with the default passwords")
	}
	if !decryptedByAnalyze(t, zipPath, "--archive-passwords", ours) {
		t.Error("not decrypted with --archive-passwords")
	}
	if decryptedByAnalyze(t, zipPath, "--archive-passwords", other) {
		t.Error("decrypted with a list that lacks the password")
	}
	t.Setenv("ATHENA_ARCHIVE_PASSWORDS", ours)
	if !decryptedByAnalyze(t, zipPath) {
		t.Error("not decrypted with ATHENA_ARCHIVE_PASSWORDS")
	}
	if decryptedByAnalyze(t, zipPath, "--archive-passwords", other) {
		t.Error("the environment won over the command line")
	}
}

func TestAnalyzeRejectsABadPasswordList(t *testing.T) {
	dir := t.TempDir()
	sample := writeFile(t, filepath.Join(dir, "s.txt"), "text\n")
	tests := []struct {
		name, list, want string
	}{
		{"control character", "ok\nbad\x01one\n", "line 2: control character"},
		{"not UTF-8", "\xff\n", "line 1: not UTF-8"},
		{"too long", strings.Repeat("x", formats.MaxPasswordBytes+1) + "\n", "line 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := writeFile(t, filepath.Join(dir, "list.txt"), tt.list)
			_, errOut, code := athena(t, append(engineArgs("analyze"), "--archive-passwords", list, sample)...)
			if code != 2 || !strings.Contains(errOut, list) || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2, the file and %q", code, errOut, tt.want)
			}
		})
	}
	_, errOut, code := athena(t, append(engineArgs("analyze"), "--archive-passwords", filepath.Join(dir, "missing"), sample)...)
	if code != 2 || !strings.Contains(errOut, "archive passwords") {
		t.Fatalf("missing list: exit %d, stderr %q", code, errOut)
	}
}

// replaceFile replaces path at once (write, then rename), as an operator
// should: a watcher never reads it half written.
func replaceFile(t *testing.T, path, data string) {
	t.Helper()
	writeFile(t, path+".new", data)
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// An engine picks up an edited list; a broken edit is logged and the list
// in use stays.
func TestWatchPasswords(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "pw.txt"), "first\n")
	ef := engineFlags{modules: modulesDir, cacheDir: cacheDir, passwords: path, concurrency: 1, jobTimeout: time.Minute}
	var logs testkit.SyncBuffer
	eng, err := newEngine(t.Context(), ef, &logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	v1 := eng.Settings()[formats.PasswordsKind]
	if v1 != formats.PasswordsVersion([]string{"first"}) {
		t.Fatalf("loaded version %q", v1)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchPasswords(ctx, eng, path, 10*time.Millisecond, v1, newLogger(&logs, -4))
	}()
	defer func() { cancel(); <-done }()

	replaceFile(t, path, "first\nsecond\n")
	v2 := formats.PasswordsVersion([]string{"first", "second"})
	testkit.WaitFor(t, time.Minute, "the edited list applied", func() bool { return eng.Settings()[formats.PasswordsKind] == v2 })

	replaceFile(t, path, "first\nsecond\n\\\n")
	testkit.WaitFor(t, time.Minute, "the broken list logged", func() bool { return strings.Contains(logs.String(), "password list rejected") })
	if got := eng.Settings()[formats.PasswordsKind]; got != v2 {
		t.Fatalf("after a broken edit the list is %s, want %s", got, v2)
	}
}

// athena serve hands the list to its engines, which apply an edit to new
// jobs; a verdict made under the old list is not served from the cache
// under the new one. A bad list stops serve at start.
func TestServeArchivePasswords(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, filepath.Join(dir, "bad.txt"), "ok\n\\\n")
	_, errOut, code := athena(t, "serve", "--archive-passwords", bad, "--nats-port", "-1", "--data", t.TempDir())
	if code != 2 || !strings.Contains(errOut, "line 2: empty password") {
		t.Fatalf("serve with a bad list: exit %d, stderr %q", code, errOut)
	}

	list := writeFile(t, filepath.Join(dir, "pw.txt"), "infected\nserve secret\n")
	base, _ := startServe(t, 1, "--archive-passwords", list, "--archive-passwords-poll", "100ms")
	zipPath := encryptedEICARZip(t, "serve secret")
	// scan reports whether the member was decrypted (EICAR found at its
	// path), and the verdict's fingerprint.
	scan := func() (bool, string) {
		t.Helper()
		events, _, errOut := scanJSON(t, base, zipPath)
		eicar, fp := false, ""
		for _, ev := range events {
			if ev.Finding != nil && ev.Finding.Rule == "eicar_test_file" && strings.HasSuffix(ev.Finding.Path, " > eicar.com") {
				eicar = true
			}
			if ev.Verdict != nil {
				fp = ev.Verdict.Fingerprint
			}
		}
		if fp == "" {
			t.Fatalf("no verdict; stderr %s", errOut)
		}
		return eicar, fp
	}
	decrypted, fp1 := scan()
	if !decrypted {
		t.Fatal("serve --archive-passwords: the member was not decrypted")
	}
	replaceFile(t, list, "infected\n")
	var fp2 string
	testkit.WaitFor(t, time.Minute, "the edited list applied", func() bool {
		decrypted, fp2 = scan()
		return !decrypted
	})
	if fp2 == fp1 {
		t.Errorf("the fingerprint %s did not change with the list", fp1)
	}
}
