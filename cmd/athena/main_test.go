package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"athena/internal/core"
	"athena/internal/modbuild"
	"athena/internal/testkit"
)

var modulesDir, cacheDir, athenaBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		tmp, err := os.MkdirTemp("", "athena-cmd-test-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(tmp)
		modulesDir, cacheDir = filepath.Join(tmp, "modules"), filepath.Join(tmp, "cache")
		if _, err := modbuild.BuildAll("../../modules", modulesDir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// The end-to-end tests run the real binary: serve re-executes it
		// for its engine processes.
		athenaBin = filepath.Join(tmp, "athena")
		if out, err := exec.Command("go", "build", "-o", athenaBin, ".").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}())
}

// athena runs the command line and returns stdout, stderr and the exit code.
func athena(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), args, &stdout, &stderr)
	code := 0
	var exit exitCode
	switch {
	case errors.As(err, &exit):
		code = int(exit)
	case err != nil:
		fmt.Fprintln(&stderr, err)
		code = 2
	}
	return stdout.String(), stderr.String(), code
}

func engineArgs(cmd string) []string {
	return []string{cmd, "--modules", modulesDir, "--cache-dir", cacheDir}
}

func eicarFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "eicar.com")
	if err := os.WriteFile(p, testkit.EICAR(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeEvents(t *testing.T, out string) []core.Event {
	t.Helper()
	var events []core.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev core.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q is not an event: %v", sc.Text(), err)
		}
		events = append(events, ev)
	}
	return events
}

func TestAnalyzeFindsEICAR(t *testing.T) {
	eicar := eicarFile(t)
	clean := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(clean, []byte("nothing to see here\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantRule string
	}{
		{"eicar", []string{eicar}, 1, "eicar_test_file"},
		{"eicar in 1-byte chunks", []string{"--chunk-size", "1", eicar}, 1, "eicar_test_file"},
		{"clean text", []string{clean}, 0, ""},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope")}, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := athena(t, append(engineArgs("analyze"), tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tc.wantCode, errOut)
			}
			if tc.wantRule == "" {
				return
			}
			events := decodeEvents(t, out)
			var found bool
			for _, ev := range events {
				found = found || ev.Finding != nil && ev.Finding.Rule == tc.wantRule
			}
			if !found {
				t.Errorf("no %s finding in:\n%s", tc.wantRule, out)
			}
			if last := events[len(events)-1]; last.Verdict == nil || last.Verdict.Label != core.LabelMalicious {
				t.Errorf("last event %+v, want a malicious verdict", last)
			}
		})
	}
}

func TestAnalyzeIsDeterministic(t *testing.T) {
	eicar := eicarFile(t)
	first, _, _ := athena(t, append(engineArgs("analyze"), eicar)...)
	second, _, _ := athena(t, append(engineArgs("analyze"), eicar)...)
	if first == "" || first != second {
		t.Errorf("two runs differ or are empty:\n%s\n---\n%s", first, second)
	}
}

func TestModulesList(t *testing.T) {
	out, errOut, code := athena(t, append(engineArgs("modules"), "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var mods []struct {
		Name     string
		Version  string
		Size     int
		Critical bool
		Idle     int
	}
	if err := json.Unmarshal([]byte(out), &mods); err != nil {
		t.Fatalf("modules --json: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, m := range mods {
		got[m.Name] = true
		if m.Version == "" || m.Size == 0 || (m.Critical && m.Idle == 0) {
			t.Errorf("module %+v: want a version, a size and pre-warmed instances when critical", m)
		}
	}
	for _, want := range []string{"filetype", "patterns", "lines"} {
		if !got[want] {
			t.Errorf("module %s missing from %s", want, out)
		}
	}
}

func TestModulesPack(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(modulesDir, "lines.wasm"), filepath.Join(dir, "renamed.wasm")
	man := filepath.Join(dir, "manifest.json")
	os.WriteFile(man, []byte(`{"abi":1,"name":"renamed","version":"9"}`), 0o644)
	if _, errOut, code := athena(t, "modules", "pack", "--manifest", man, in, out); code != 0 {
		t.Fatalf("pack: exit %d: %s", code, errOut)
	}
	list, errOut, code := athena(t, "modules", "--modules", dir, "--cache-dir", "")
	if code != 0 || !strings.Contains(list, "renamed") {
		t.Errorf("modules after pack: exit %d\n%s%s", code, list, errOut)
	}
	os.WriteFile(man, []byte(`{"abi":2,"name":"x","version":"1"}`), 0o644)
	if _, errOut, code := athena(t, "modules", "pack", "--manifest", man, in, out); code != 2 || !strings.Contains(errOut, "abi 2") {
		t.Errorf("pack of a bad manifest: exit %d, stderr %q; want 2 and the reason", code, errOut)
	}
}

func TestHelpAndUnknownCommand(t *testing.T) {
	out, _, code := athena(t, "--help")
	if code != 0 || !strings.Contains(out, "analyze") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	if _, _, code := athena(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	_, errOut, code := athena(t, "analyze", "-h")
	if code != 0 || !strings.Contains(errOut, "ATHENA_MODULES") {
		t.Errorf("analyze -h: exit %d, want 0 and the env names\n%s", code, errOut)
	}
}
