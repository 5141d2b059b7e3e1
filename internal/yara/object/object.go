// Package object is the contract between the rule compiler, the condition
// evaluator and YARA modules (math, hash, pe...): a module declares its
// fields and functions with a Type, and for each scanned file builds a
// Struct of Values the evaluator walks.
package object

// Kind is the kind of a Type or a function argument.
type Kind int

const (
	Int Kind = iota
	Float
	String
	Regex // function arguments only: a compiled regular expression (Matcher)
	Struct
	Array
	Dict
	Func
)

func (k Kind) String() string {
	return [...]string{"integer", "float", "string", "regexp", "struct", "array", "dictionary", "function"}[k]
}

// Type declares a module's shape so the compiler can check a condition
// without data.
type Type struct {
	Kind Kind
	// Fields of a Struct.
	Fields map[string]*Type
	// Elem is the element type of an Array or a Dict.
	Elem *Type
	// Overloads of a Func; the compiler picks one by argument kinds.
	Overloads []Signature
}

// Signature is one overload of a function.
type Signature struct {
	Args []Kind
	Ret  *Type
}

// Value is what a field or a call yields at scan time: nil (undefined),
// int64, float64, []byte (string), Fields (struct), []Value (array),
// map[string]Value (dictionary) or Funcs (a function's overloads, in the
// order of its Type.Overloads).
type Value = any

// Fields is a struct value.
type Fields map[string]Value

// Funcs are a function's implementations, one per overload. Arguments come
// as int64, float64, []byte or Matcher, as the overload's Args say; nil
// means undefined.
type Funcs []func(args []Value) Value

// Matcher is a regular-expression argument (pe.exports(/^Dll/)).
type Matcher interface {
	// Match reports whether the expression matches anywhere in b.
	Match(b []byte) bool
}

// Input is what a module sees of a file.
type Input struct {
	// Data is the file's bytes, or its first len(Data) bytes when the
	// scanner did not keep it all.
	Data []byte
	// Size is the file's full size.
	Size int64
}

// Module is one importable module.
type Module struct {
	Name string
	Type *Type
	// Load builds the module's value for one file; it never fails: fields
	// it cannot fill are left out (undefined).
	Load func(in *Input) Fields
}
