// Package modbuild builds analyzer modules from source into packed .wasm
// files: `make modules` uses it through internal/cmd/modbuild, and tests
// use it to build guests on demand in TestMain.
//
// A module source directory holds manifest.json and either a Go shim package
// in wasm/ (built with GOOS=wasip1 -buildmode=c-shared) or one .wat file
// (built with wat2wasm from wabt). The manifest is packed into the binary's
// athena.manifest section.
package modbuild

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"athena/internal/manifest"
)

// Build builds the module in srcDir into dstDir and returns the path of the
// packed .wasm, named after the manifest's module name.
func Build(srcDir, dstDir string) (string, error) {
	rawMan, err := os.ReadFile(filepath.Join(srcDir, "manifest.json"))
	if err != nil {
		return "", fmt.Errorf("modbuild: %w", err)
	}
	man, err := manifest.Parse(rawMan)
	if err != nil {
		return "", fmt.Errorf("modbuild: %s: %w", srcDir, err)
	}
	if dstDir, err = filepath.Abs(dstDir); err != nil {
		return "", fmt.Errorf("modbuild: %w", err)
	}
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return "", fmt.Errorf("modbuild: %w", err)
	}
	tmp, err := os.MkdirTemp(dstDir, ".build-")
	if err != nil {
		return "", fmt.Errorf("modbuild: %w", err)
	}
	defer os.RemoveAll(tmp)
	raw := filepath.Join(tmp, "raw.wasm")
	wats, _ := filepath.Glob(filepath.Join(srcDir, "*.wat"))
	switch {
	case isDir(filepath.Join(srcDir, "wasm")):
		abs, err := filepath.Abs(filepath.Join(srcDir, "wasm"))
		if err != nil {
			return "", err
		}
		cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", raw, ".")
		cmd.Dir = abs
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if err := run(cmd); err != nil {
			return "", fmt.Errorf("modbuild: %s: %w", srcDir, err)
		}
	case len(wats) == 1:
		if err := run(exec.Command("wat2wasm", "-o", raw, wats[0])); err != nil {
			return "", fmt.Errorf("modbuild: %s: %w (wat2wasm comes with Debian's wabt package)", srcDir, err)
		}
	default:
		return "", fmt.Errorf("modbuild: %s has neither a wasm/ Go package nor exactly one .wat file", srcDir)
	}
	wasm, err := os.ReadFile(raw)
	if err != nil {
		return "", fmt.Errorf("modbuild: %w", err)
	}
	packed, err := manifest.Pack(wasm, rawMan)
	if err != nil {
		return "", fmt.Errorf("modbuild: %s: %w", srcDir, err)
	}
	out := filepath.Join(dstDir, man.Name+".wasm")
	if err := os.WriteFile(filepath.Join(tmp, "packed.wasm"), packed, 0o644); err != nil {
		return "", fmt.Errorf("modbuild: %w", err)
	}
	if err := os.Rename(filepath.Join(tmp, "packed.wasm"), out); err != nil {
		return "", fmt.Errorf("modbuild: %w", err)
	}
	return out, nil
}

// Sources lists the module source directories under root (each child with a
// manifest.json), in name order.
func Sources(root string) ([]string, error) {
	mans, err := filepath.Glob(filepath.Join(root, "*", "manifest.json"))
	if err != nil {
		return nil, err
	}
	if len(mans) == 0 {
		return nil, fmt.Errorf("modbuild: no modules under %s", root)
	}
	dirs := make([]string, len(mans))
	for i, m := range mans {
		dirs[i] = filepath.Dir(m)
	}
	return dirs, nil
}

// BuildAll builds every module under root into dstDir.
func BuildAll(root, dstDir string) ([]string, error) {
	srcs, err := Sources(root)
	if err != nil {
		return nil, err
	}
	var out []string
	var errs []error
	for _, s := range srcs {
		p, err := Build(s, dstDir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func run(cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", cmd.Args[0], err, out.Bytes())
	}
	return nil
}
