// Package modules implements the YARA modules Athena's rule engine offers:
// math, hash and pe, compatible with YARA 4.2.3 (the reference binary the
// tests compare against).
//
// Each module is an object.Module: a static Type the compiler checks
// conditions against, and a Load that builds one file's values. Load never
// fails and never panics: what cannot be computed is left undefined (nil),
// and functions return nil for undefined results. Arrays may hold nil
// elements (undefined entries, as yara's import_details has). Work per
// file is bounded whatever the input. Modules are immutable and safe for
// concurrent use; the values one Load returns belong to that file, and
// their strings may alias Input.Data: they are valid as long as it is.
//
// Files may be seen only in part (object.Input.Data is a prefix of
// Input.Size bytes): functions over a range that reaches past the bytes
// kept return undefined rather than a wrong answer.
package modules

import (
	"sort"

	"athena/internal/yara/object"
)

var registry = map[string]*object.Module{
	mathModule.Name: mathModule,
	hashModule.Name: hashModule,
	peModule.Name:   peModule,
}

// Lookup returns the module named by an import, or false.
func Lookup(name string) (*object.Module, bool) {
	m, ok := registry[name]
	return m, ok
}

// Names lists the modules available, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Shorthands for declaring types.
var (
	intType    = &object.Type{Kind: object.Int}
	floatType  = &object.Type{Kind: object.Float}
	stringType = &object.Type{Kind: object.String}
)

func sig(ret *object.Type, args ...object.Kind) object.Signature {
	return object.Signature{Args: args, Ret: ret}
}

func funcType(sigs ...object.Signature) *object.Type {
	return &object.Type{Kind: object.Func, Overloads: sigs}
}

func structType(fields map[string]*object.Type) *object.Type {
	return &object.Type{Kind: object.Struct, Fields: fields}
}

func arrayType(elem *object.Type) *object.Type {
	return &object.Type{Kind: object.Array, Elem: elem}
}

// fileRange returns the bytes [offset, offset+size) of the file, clipped at
// its end, as YARA's modules read them: undefined (ok false) when offset or
// size is negative or offset is not inside the file, or when the clipped
// range reaches past the bytes the scanner kept.
func fileRange(in *object.Input, offset, size int64) ([]byte, bool) {
	if offset < 0 || size < 0 || offset >= in.Size {
		return nil, false
	}
	end := in.Size
	if size < end-offset {
		end = offset + size
	}
	if end > int64(len(in.Data)) {
		return nil, false
	}
	return in.Data[offset:end], true
}

// Argument accessors: the evaluator passes int64, float64, []byte or
// Matcher as the overload declares; anything else (nil) is undefined.

func intArg(v object.Value) (int64, bool) {
	i, ok := v.(int64)
	return i, ok
}

func floatArg(v object.Value) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}

func bytesArg(v object.Value) ([]byte, bool) {
	b, ok := v.([]byte)
	return b, ok
}

func boolValue(b bool) object.Value {
	if b {
		return int64(1)
	}
	return int64(0)
}
