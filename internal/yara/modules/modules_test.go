package modules

import (
	"fmt"
	"slices"
	"testing"

	"athena/internal/yara/object"
)

func TestLookupAndNames(t *testing.T) {
	if got, want := Names(), []string{"hash", "math", "pe"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for _, name := range Names() {
		m, ok := Lookup(name)
		if !ok || m.Name != name || m.Type == nil || m.Load == nil {
			t.Errorf("Lookup(%q) = %+v, %v", name, m, ok)
		}
	}
	if _, ok := Lookup("cuckoo"); ok {
		t.Error(`Lookup("cuckoo") succeeded`)
	}
}

// TestValuesMatchTypes checks the contract between each module's declared
// Type and the values its Load builds, on PE and non-PE files: every
// value is declared, with the declared kind, and every function has one
// implementation per overload.
func TestValuesMatchTypes(t *testing.T) {
	files := map[string][]byte{"empty": {}, "text": []byte("hello")}
	for name, spec := range peSpecs() {
		files[name] = spec.build()
	}
	for _, name := range Names() {
		m, _ := Lookup(name)
		for file, data := range files {
			v := m.Load(&object.Input{Data: data, Size: int64(len(data))})
			for _, err := range conform(name, m.Type, v) {
				t.Errorf("%s on %s: %v", name, file, err)
			}
		}
	}
}

func conform(path string, typ *object.Type, v object.Value) []error {
	if v == nil {
		return nil
	}
	bad := func() []error { return []error{fmt.Errorf("%s: %T is not a %v", path, v, typ.Kind)} }
	switch typ.Kind {
	case object.Int:
		if _, ok := v.(int64); !ok {
			return bad()
		}
	case object.Float:
		if _, ok := v.(float64); !ok {
			return bad()
		}
	case object.String:
		if _, ok := v.([]byte); !ok {
			return bad()
		}
	case object.Struct:
		fields, ok := v.(object.Fields)
		if !ok {
			return bad()
		}
		var errs []error
		for k, fv := range fields {
			ft, declared := typ.Fields[k]
			if !declared {
				errs = append(errs, fmt.Errorf("%s.%s: not declared", path, k))
				continue
			}
			errs = append(errs, conform(path+"."+k, ft, fv)...)
		}
		return errs
	case object.Array:
		elems, ok := v.([]object.Value)
		if !ok {
			return bad()
		}
		var errs []error
		for i, e := range elems {
			errs = append(errs, conform(fmt.Sprintf("%s[%d]", path, i), typ.Elem, e)...)
		}
		return errs
	case object.Dict:
		entries, ok := v.(map[string]object.Value)
		if !ok {
			return bad()
		}
		var errs []error
		for k, e := range entries {
			errs = append(errs, conform(fmt.Sprintf("%s[%q]", path, k), typ.Elem, e)...)
		}
		return errs
	case object.Func:
		funcs, ok := v.(object.Funcs)
		if !ok {
			return bad()
		}
		if len(funcs) != len(typ.Overloads) {
			return []error{fmt.Errorf("%s: %d implementations for %d overloads", path, len(funcs), len(typ.Overloads))}
		}
	default:
		return bad()
	}
	return nil
}
