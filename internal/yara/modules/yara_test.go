package modules

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"athena/internal/yara/object"
)

// The tests compare every value the modules compute with what the
// reference yara binary computes for the same expression.

const yaraBin = "/usr/bin/yara"

func needYara(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(yaraBin); err != nil {
		t.Fatalf("reference %s is a test dependency (make deps installs it): %v", yaraBin, err)
	}
}

// check is one expression and the value our module gives it; nil means
// undefined.
type check struct {
	expr string
	want object.Value
}

// rule renders the check as a YARA condition that matches exactly when
// yara agrees with want.
func (c check) condition() string {
	switch v := c.want.(type) {
	case nil:
		// Undefined makes every comparison false; a defined value (even
		// NaN, which != catches) makes one of these true.
		return fmt.Sprintf("not (%s == %s or %s != %s)", c.expr, c.expr, c.expr, c.expr)
	case int64:
		return fmt.Sprintf("%s == %s", c.expr, intLiteral(v))
	case float64:
		if math.IsNaN(v) {
			return fmt.Sprintf("%s != %s", c.expr, c.expr)
		}
		tol := 1e-9 * max(1, math.Abs(v))
		return fmt.Sprintf("%s > %s and %s < %s", c.expr, floatLiteral(v-tol), c.expr, floatLiteral(v+tol))
	case []byte:
		return fmt.Sprintf("%s == %s", c.expr, stringLiteral(v))
	}
	panic(fmt.Sprintf("check %s: unexpected value %T", c.expr, c.want))
}

func intLiteral(v int64) string {
	if v == math.MinInt64 {
		return "(-9223372036854775807-1)"
	}
	return strconv.FormatInt(v, 10)
}

func floatLiteral(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	if f < 0 {
		s = "(" + s + ")"
	}
	return s
}

func stringLiteral(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, `\x%02x`, c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// argLiteral renders a function argument.
func argLiteral(v object.Value) string {
	switch v := v.(type) {
	case int64:
		return intLiteral(v)
	case float64:
		return floatLiteral(v)
	case []byte:
		return stringLiteral(v)
	case *regexp.Regexp:
		src, nocase := strings.CutPrefix(v.String(), "(?i)")
		if nocase {
			return "/" + src + "/i"
		}
		return "/" + src + "/"
	}
	panic(fmt.Sprintf("argument %T", v))
}

// call evaluates module.fn(args) with the given overload and renders the
// expression.
func call(fields object.Fields, module, fn string, overload int, args ...object.Value) check {
	lits := make([]string, len(args))
	for i, a := range args {
		lits[i] = argLiteral(a)
	}
	expr := fmt.Sprintf("%s.%s(%s)", module, fn, strings.Join(lits, ", "))
	var v object.Value
	path := strings.Split(fn, ".")
	cur := fields
	for _, p := range path[:len(path)-1] {
		next, _ := cur[p].(object.Fields)
		cur = next
	}
	if funcs, ok := cur[path[len(path)-1]].(object.Funcs); ok {
		v = funcs[overload](args)
	}
	return check{expr: expr, want: v}
}

// sample is one file and the checks to verify on it.
type sample struct {
	name   string
	data   []byte
	checks []check
}

// verify writes each sample and a rules file of its checks, runs yara on
// each, and reports every check yara disagrees with.
func verify(t *testing.T, modules []string, samples []sample) {
	t.Helper()
	needYara(t)
	dir := t.TempDir()
	for si, s := range samples {
		var rules strings.Builder
		for _, m := range modules {
			fmt.Fprintf(&rules, "import %q\n", m)
		}
		for i, c := range s.checks {
			fmt.Fprintf(&rules, "rule r%d { condition: %s }\n", i, c.condition())
		}
		rulesPath := filepath.Join(dir, fmt.Sprintf("s%d.yar", si))
		filePath := filepath.Join(dir, fmt.Sprintf("s%d.bin", si))
		if err := os.WriteFile(rulesPath, []byte(rules.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filePath, s.data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(yaraBin, rulesPath, filePath).CombinedOutput()
		// KEEP_RULES=dir keeps every sample and its rules there, to
		// investigate a disagreement with yara -D.
		if keep := os.Getenv("KEEP_RULES"); keep != "" {
			os.WriteFile(filepath.Join(keep, s.name+".yar"), []byte(rules.String()), 0o600)
			os.WriteFile(filepath.Join(keep, s.name+".bin"), s.data, 0o600)
		}
		if err != nil {
			t.Fatalf("%s: yara: %v\n%s", s.name, err, out)
		}
		matched := map[string]bool{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			name, _, _ := strings.Cut(sc.Text(), " ")
			matched[name] = true
		}
		for i, c := range s.checks {
			if !matched[fmt.Sprintf("r%d", i)] {
				t.Errorf("%s: yara disagrees: %s (our value %s)", s.name, c.expr, describe(c.want))
			}
		}
	}
}

func describe(v object.Value) string {
	switch v := v.(type) {
	case nil:
		return "undefined"
	case []byte:
		return stringLiteral(v)
	}
	return fmt.Sprint(v)
}

// fieldChecks walks a declared type and a value together, yielding a check
// for every integer, float and string leaf, undefined ones included, and
// for the first element past the end of every array.
func fieldChecks(prefix string, typ *object.Type, v object.Value, skip func(string) bool) []check {
	var out []check
	switch typ.Kind {
	case object.Int, object.Float, object.String:
		return []check{{expr: prefix, want: v}}
	case object.Struct:
		fields, _ := v.(object.Fields)
		names := make([]string, 0, len(typ.Fields))
		for n := range typ.Fields {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			p := prefix + "." + n
			if skip != nil && skip(p) {
				continue
			}
			var fv object.Value
			if fields != nil {
				fv = fields[n]
			}
			out = append(out, fieldChecks(p, typ.Fields[n], fv, skip)...)
		}
	case object.Array:
		elems, _ := v.([]object.Value)
		for i, e := range elems {
			out = append(out, fieldChecks(fmt.Sprintf("%s[%d]", prefix, i), typ.Elem, e, skip)...)
		}
		past := fieldChecks(fmt.Sprintf("%s[%d]", prefix, len(elems)), typ.Elem, nil, skip)
		if len(past) > 0 {
			out = append(out, past[0])
		}
	}
	return out
}
