package yaratest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// yaraPath is the reference binary; `make test` installs Debian's yara 4.2.3.
const yaraPath = "/usr/bin/yara"

// TestTableIsWellFormed checks the table itself, without any engine.
func TestTableIsWellFormed(t *testing.T) {
	if len(Cases) < 300 {
		t.Errorf("len(Cases) = %d, want at least 300", len(Cases))
	}
	t.Logf("%d cases", len(Cases))
	seen := make(map[string]bool)
	for _, c := range Cases {
		if c.Name == "" || seen[c.Name] {
			t.Errorf("case name %q is empty or repeated", c.Name)
		}
		seen[c.Name] = true
		if c.ErrSub != "" && c.Want != CompileError {
			t.Errorf("%s: ErrSub %q set on a %v case", c.Name, c.ErrSub, c.Want)
		}
		if c.Rule == "" {
			t.Errorf("%s: empty rule", c.Name)
		}
	}
}

// TestCasesAgainstYara proves every case the installed yara supports: the
// reference must give the outcome the table records.
func TestCasesAgainstYara(t *testing.T) {
	if _, err := os.Stat(yaraPath); err != nil {
		t.Fatalf("yara is a test dependency (make deps installs it): %v", err)
	}
	for _, c := range Cases {
		if !c.Yara42 {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			got, stderr := runYara(t, c)
			if got != c.Want {
				t.Fatalf("%s: yara gave %v, want %v\nrule:\n%s\ndata: %q\nstderr: %s", c.Name, got, c.Want, c.Rule, c.Data, stderr)
			}
			if c.Want == CompileError && !strings.Contains(stderr, c.ErrSub) {
				t.Errorf("%s: yara error %q does not contain %q", c.Name, stderr, c.ErrSub)
			}
		})
	}
}

// runYara compiles and scans one case with the reference binary and
// returns its outcome and standard error.
func runYara(t *testing.T, c Case) (Outcome, string) {
	t.Helper()
	dir := t.TempDir()
	rulePath := filepath.Join(dir, "test.yar")
	dataPath := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(rulePath, []byte(c.Rule), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dataPath, c.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, yaraPath, "--no-warnings", rulePath, dataPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		if strings.Contains(stderr.String(), "error scanning") {
			t.Fatalf("%s: yara failed while scanning, not compiling: %s", c.Name, stderr.String())
		}
		if !strings.Contains(stderr.String(), "error") {
			t.Fatalf("yara exited %d without an error message: %s", exit.ExitCode(), stderr.String())
		}
		return CompileError, stderr.String()
	case err != nil:
		t.Fatalf("run yara: %v", err)
	}
	target := c.TargetRule()
	for _, line := range strings.Split(stdout.String(), "\n") {
		name, _, ok := strings.Cut(line, " ")
		if ok && (target == "" || name == target) {
			return Match, stderr.String()
		}
	}
	return NoMatch, stderr.String()
}
