// Package rules turns YARA rule sources into the compiled rule set that the
// pattern module runs (an engine "rules" setting), and keeps it current:
// from a directory, from the built-in set, or from a NATS object-store
// bucket that every engine watches.
//
// A rule set is all the files of its source compiled together as one
// namespace (a rule name may appear once across the files). Its version is
// derived from the compiled plan, so a change of rules or of the compiler
// gives a new version, and the verdict cache stops serving verdicts made
// with the old one.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"athena/internal/yara/ast"
	"athena/internal/yara/compile"
	"athena/internal/yara/parser"
	"athena/internal/yara/plan"
	"athena/internal/yara/scan"
	builtin "athena/rules"
)

// Kind is the engine setting kind the pattern module takes.
const Kind = "rules"

// Source is one rule file.
type Source struct {
	Name string // shown in error positions
	Data []byte
}

// Set is a compiled rule set.
type Set struct {
	// Version names the set: "rs-" and 16 hex digits of the plan's sha256.
	Version string
	// Plan is the encoded plan the pattern module loads.
	Plan []byte
	// Rules counts the rules; Files names the sources.
	Rules int
	Files []string
}

// IsRuleFile reports whether a file name is a rule source (.yar, .yara).
func IsRuleFile(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return ext == ".yar" || ext == ".yara"
}

// Compile parses and compiles srcs as one rule set. include resolves
// `include` directives (nil: includes are an error). The error, if any, is
// an ast.ErrorList: every problem, as "file:line:col: message".
func Compile(srcs []Source, include func(from, path string) (string, []byte, error)) (*Set, error) {
	if len(srcs) == 0 {
		return nil, errors.New("rules: no rule files")
	}
	all := &ast.RuleSet{}
	var errs ast.ErrorList
	seen := map[string]ast.Pos{}
	imported := map[string]bool{}
	for _, src := range srcs {
		rs, err := parser.Parse(src.Name, src.Data, parser.Options{Include: include})
		if err != nil {
			var list ast.ErrorList
			if errors.As(err, &list) {
				errs = append(errs, list...)
				continue
			}
			return nil, err
		}
		for _, imp := range rs.Imports {
			if !imported[imp.Module] {
				imported[imp.Module] = true
				all.Imports = append(all.Imports, imp)
			}
		}
		for _, r := range rs.Rules {
			if prev, dup := seen[r.Name]; dup {
				errs = append(errs, &ast.Error{Pos: r.Pos, Msg: fmt.Sprintf("duplicated identifier %q (first declared at %s)", r.Name, prev)})
				continue
			}
			seen[r.Name] = r.Pos
			all.Rules = append(all.Rules, r)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	p, err := compile.Compile(all, compile.Options{})
	if err != nil {
		return nil, err
	}
	// The atom choice is the costliest part of building a scanner; made
	// here once, it spares every guest instance from making it again.
	if p.Atoms, err = scan.ChooseAtoms(p); err != nil {
		return nil, err
	}
	enc := p.Encode()
	sum := sha256.Sum256(enc)
	set := &Set{Version: "rs-" + hex.EncodeToString(sum[:8]), Plan: enc, Rules: len(all.Rules)}
	for _, s := range srcs {
		set.Files = append(set.Files, s.Name)
	}
	return set, nil
}

// Decode checks that b is a plan the pattern module can load.
func Decode(b []byte) (*plan.Plan, error) { return plan.Decode(b) }

// ReadFS reads the rule files of fsys (not recursive), sorted by name.
func ReadFS(fsys fs.FS, prefix string) ([]Source, error) {
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var srcs []Source
	for _, e := range ents {
		if e.IsDir() || !IsRuleFile(e.Name()) {
			continue
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, Source{Name: path.Join(prefix, e.Name()), Data: b})
	}
	slices.SortFunc(srcs, func(a, b Source) int { return strings.Compare(a.Name, b.Name) })
	return srcs, nil
}

// ReadPaths reads rule files and the rule files of directories.
func ReadPaths(paths []string) ([]Source, error) {
	var srcs []Source
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		if st.IsDir() {
			s, err := ReadFS(os.DirFS(p), p)
			if err != nil {
				return nil, fmt.Errorf("rules: %w", err)
			}
			if len(s) == 0 {
				return nil, fmt.Errorf("rules: %s holds no .yar or .yara file", p)
			}
			srcs = append(srcs, s...)
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		srcs = append(srcs, Source{Name: p, Data: b})
	}
	return srcs, nil
}

// IncludeFiles resolves includes on the file system, relative to the
// including file's directory, as yara does.
func IncludeFiles(from, p string) (string, []byte, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(from), p)
	}
	b, err := os.ReadFile(p)
	return p, b, err
}

// Load compiles rule files and directories.
func Load(paths []string) (*Set, error) {
	srcs, err := ReadPaths(paths)
	if err != nil {
		return nil, err
	}
	return Compile(srcs, IncludeFiles)
}

// Builtin compiles the built-in rule set.
func Builtin() (*Set, error) {
	srcs, err := ReadFS(builtin.Default, "builtin")
	if err != nil {
		return nil, err
	}
	return Compile(srcs, nil)
}
