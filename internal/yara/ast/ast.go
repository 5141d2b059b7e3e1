// Package ast is the syntax tree of the YARA 4 rule language, as the
// parser builds it and the compiler reads it. It holds no behaviour beyond
// positions and printing: meaning lives in the compiler.
package ast

import "fmt"

// Pos is a place in a rule source: file name, 1-based line and column
// (columns count bytes).
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is one problem found in a rule source, printed as
// "file:line:col: message".
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is every error of one parse or compile, in source order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	return fmt.Sprintf("%s (and %d more errors)", l[0].Error(), len(l)-1)
}

// RuleSet is a parsed source with its includes inlined, in order.
type RuleSet struct {
	Imports []Import
	Rules   []*Rule
}

// Import is `import "pe"`.
type Import struct {
	Pos    Pos
	Module string
}

// Rule is one rule declaration.
type Rule struct {
	Pos       Pos
	Name      string
	Global    bool
	Private   bool
	Tags      []string
	Meta      []Meta
	Strings   []*String
	Condition Expr
}

// Meta is one `key = value` line; Value is a string, an int64 or a bool.
type Meta struct {
	Key   string
	Value any
}

// StringKind says how a string's pattern is written.
type StringKind int

const (
	TextString StringKind = iota
	HexString
	RegexString
)

// String is one entry of a rule's strings section.
type String struct {
	Pos Pos
	// ID is "$name", or "$" for an anonymous string.
	ID   string
	Kind StringKind
	// Text is a text string's bytes, escapes resolved.
	Text []byte
	// Hex is a hex string's tokens.
	Hex []HexToken
	// Regex is a regular expression as written between the slashes, with
	// its own flags.
	Regex Regex
	Mods  Modifiers
}

// Regex is a regular expression literal: /source/is.
type Regex struct {
	Source string
	Nocase bool // i
	DotAll bool // s
}

// Modifiers are a string's modifiers. Absent ascii and wide mean ascii.
type Modifiers struct {
	Nocase, Wide, ASCII, Fullword, Private bool
	Xor                                    bool
	XorMin, XorMax                         int // 0..255; xor alone is 0-255
	Base64, Base64Wide                     bool
	// Base64Alphabet is a custom 64-byte alphabet, nil for the standard one.
	Base64Alphabet []byte
}

// HexToken is a hex string element: HexByte, HexJump or HexAlt.
type HexToken interface{ hexToken() }

// HexByte matches one byte b where b&Mask == Value&Mask: `4D` has mask
// 0xFF, `4?` 0xF0, `?D` 0x0F, `??` 0x00. Not inverts it (`~4D`, YARA 4.3).
type HexByte struct {
	Value, Mask byte
	Not         bool
}

// HexJump is `[n]`, `[n-m]` or `[n-]` (Max -1).
type HexJump struct{ Min, Max int }

// HexAlt is `( a | b | ... )`.
type HexAlt struct{ Alts [][]HexToken }

func (HexByte) hexToken() {}
func (HexJump) hexToken() {}
func (HexAlt) hexToken()  {}

// Expr is a condition expression.
type Expr interface{ Position() Pos }

type (
	// BoolLit is true or false.
	BoolLit struct {
		Pos   Pos
		Value bool
	}
	// IntLit is an integer literal, with KB/MB suffixes applied.
	IntLit struct {
		Pos   Pos
		Value int64
	}
	// FloatLit is a float literal.
	FloatLit struct {
		Pos   Pos
		Value float64
	}
	// StringLit is a quoted string, escapes resolved.
	StringLit struct {
		Pos   Pos
		Value []byte
	}
	// RegexLit is a regular expression in a condition (`matches /x/`).
	RegexLit struct {
		Pos   Pos
		Regex Regex
	}
	// Filesize is the `filesize` keyword.
	Filesize struct{ Pos Pos }
	// Entrypoint is the deprecated `entrypoint` keyword.
	Entrypoint struct{ Pos Pos }
	// Ident is a bare identifier: a rule, a module or a loop variable.
	Ident struct {
		Pos  Pos
		Name string
	}
	// Field is X.Name (pe.sections).
	Field struct {
		Pos  Pos
		X    Expr
		Name string
	}
	// Index is X[Index], on an array or a dictionary.
	Index struct {
		Pos   Pos
		X     Expr
		Index Expr
	}
	// Call is Fn(Args...), Fn an Ident or a Field of a module.
	Call struct {
		Pos  Pos
		Fn   Expr
		Args []Expr
	}
	// Unary is Op X; Op is "not", "-", "~" or "defined".
	Unary struct {
		Pos Pos
		Op  string
		X   Expr
	}
	// Binary is X Op Y. Op is one of: and or < <= > >= == != + - * \ %
	// & | ^ << >> contains icontains startswith istartswith endswith
	// iendswith iequals matches.
	Binary struct {
		Pos  Pos
		Op   string
		X, Y Expr
	}
	// StringMatch is `$a` (true when it matched). ID "$" means the loop's
	// current string inside `for ... of`.
	StringMatch struct {
		Pos Pos
		ID  string
	}
	// StringCount is `#a`, or `#a in (lo..hi)` when In is set.
	StringCount struct {
		Pos Pos
		ID  string
		In  *Range
	}
	// StringOffset is `@a[Index]`; Index nil means `@a`, the first.
	StringOffset struct {
		Pos   Pos
		ID    string
		Index Expr
	}
	// StringLength is `!a[Index]`; Index nil means `!a`, the first.
	StringLength struct {
		Pos   Pos
		ID    string
		Index Expr
	}
	// StringAt is `$a at Offset`.
	StringAt struct {
		Pos    Pos
		ID     string
		Offset Expr
	}
	// StringIn is `$a in (lo..hi)`.
	StringIn struct {
		Pos   Pos
		ID    string
		Range Range
	}
	// DataRead is int8/16/32, uint8/16/32 and their "be" forms at Offset.
	DataRead struct {
		Pos       Pos
		Size      int // 1, 2 or 4 bytes
		Signed    bool
		BigEndian bool
		Offset    Expr
	}
	// Of is `Quant of Set`, optionally `in (range)` or `at offset`.
	Of struct {
		Pos   Pos
		Quant Quantifier
		Set   Set
		In    *Range
		At    Expr
	}
	// ForOf is `for Quant of Set : ( Body )`; in Body, `$`, `#`, `@`, `!`
	// refer to the current string.
	ForOf struct {
		Pos   Pos
		Quant Quantifier
		Set   Set
		Body  Expr
	}
	// ForIn is `for Quant Vars in Iter : ( Body )`.
	ForIn struct {
		Pos   Pos
		Quant Quantifier
		Vars  []string
		Iter  Iterable
		Body  Expr
	}
)

// Range is `(Lo..Hi)`, both inclusive.
type Range struct {
	Lo, Hi Expr
}

// QuantKind says how many items a quantifier asks for.
type QuantKind int

const (
	QuantAll QuantKind = iota
	QuantAny
	QuantNone
	QuantExpr    // N
	QuantPercent // N%
)

// Quantifier is all, any, none, N or N%.
type Quantifier struct {
	Kind QuantKind
	N    Expr // QuantExpr and QuantPercent
}

// Set is what `of` ranges over: strings (`them`, `($a, $b*)`) or rules
// (`(rule1, rule_prefix*)`).
type Set struct {
	Them bool
	// Strings are string patterns, each "$name" or "$prefix*".
	Strings []string
	// Rules are rule names or "prefix*" patterns.
	Rules []string
}

// Iterable is what `for ... in` walks: a Range, a list or an array or
// dictionary expression.
type Iterable interface{ iterable() }

// RangeIter is `(lo..hi)`.
type RangeIter struct{ Range Range }

// ListIter is `(e1, e2, ...)`.
type ListIter struct{ Items []Expr }

// ExprIter is an array or dictionary expression (pe.sections).
type ExprIter struct{ X Expr }

func (RangeIter) iterable() {}
func (ListIter) iterable()  {}
func (ExprIter) iterable()  {}

func (e *BoolLit) Position() Pos      { return e.Pos }
func (e *IntLit) Position() Pos       { return e.Pos }
func (e *FloatLit) Position() Pos     { return e.Pos }
func (e *StringLit) Position() Pos    { return e.Pos }
func (e *RegexLit) Position() Pos     { return e.Pos }
func (e *Filesize) Position() Pos     { return e.Pos }
func (e *Entrypoint) Position() Pos   { return e.Pos }
func (e *Ident) Position() Pos        { return e.Pos }
func (e *Field) Position() Pos        { return e.Pos }
func (e *Index) Position() Pos        { return e.Pos }
func (e *Call) Position() Pos         { return e.Pos }
func (e *Unary) Position() Pos        { return e.Pos }
func (e *Binary) Position() Pos       { return e.Pos }
func (e *StringMatch) Position() Pos  { return e.Pos }
func (e *StringCount) Position() Pos  { return e.Pos }
func (e *StringOffset) Position() Pos { return e.Pos }
func (e *StringLength) Position() Pos { return e.Pos }
func (e *StringAt) Position() Pos     { return e.Pos }
func (e *StringIn) Position() Pos     { return e.Pos }
func (e *DataRead) Position() Pos     { return e.Pos }
func (e *Of) Position() Pos           { return e.Pos }
func (e *ForOf) Position() Pos        { return e.Pos }
func (e *ForIn) Position() Pos        { return e.Pos }
