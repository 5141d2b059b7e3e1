// Package plan is a compiled YARA rule set in a form that holds no syntax
// tree: the strings to search, the rules and their conditions as small
// expression trees. The compiler builds a Plan on the host; Encode turns it
// into a compact versioned byte form that a WebAssembly guest decodes with
// Decode and hands to the scanner.
//
// A Plan is immutable once built; it is safe to share between goroutines.
package plan

// Plan is everything the scanner needs to run a rule set.
type Plan struct {
	// Imports are the modules the rules use, in import order.
	Imports []string
	// Rules are in declaration order; a condition refers to a rule by its
	// index here, and only to earlier rules.
	RuleList []Rule
	// Strings are every rule's strings, rule by rule in declaration order.
	Strings []String
	// Atoms, when not nil, is the scanner's choice of atoms, made once on
	// the host (scan.ChooseAtoms) instead of in every guest instance.
	Atoms *Atoms
}

// Atoms are the short literals the scanner looks for. They refer to the
// scanner's concrete forms of the strings (an ascii and a wide form, one
// per xor key or base64 encoding...), Forms of them in the scanner's
// order; a scanner whose forms differ in number ignores them.
type Atoms struct {
	Forms int
	List  []Atom
	// Slow are the forms that have no atom: they are tried at every
	// offset whose byte may start them.
	Slow []int
}

// Atom says that form Form may match starting Off bytes before each
// occurrence of Bytes (1 to 4 bytes).
type Atom struct {
	Form, Off int
	Bytes     []byte
}

// Limits of Atoms that Decode enforces.
const (
	MaxAtomLen = 4
	MaxAtomOff = 1 << 16
)

// Rules is the number of rules, for logs.
func (p *Plan) Rules() int { return len(p.RuleList) }

// Rule is one rule.
type Rule struct {
	Name string
	Tags []string
	Meta []Meta
	// Global and Private are the rule's modifiers.
	Global, Private bool
	// Early is true when the condition is monotone over string matches
	// only, so that the rule may be reported as soon as it is true.
	Early bool
	// First and Count locate the rule's strings in Plan.Strings.
	First, Count int
	// Vars is how many loop variable slots the condition uses.
	Vars int
	Cond *Node
}

// Meta is one metadata entry; Value is a string, an int64 or a bool.
type Meta struct {
	Key   string
	Value any
}

// StringKind says how a String's pattern is given.
type StringKind uint8

const (
	Text StringKind = iota
	Hex
	Regex
)

// Flags are a string's modifiers.
type Flags uint16

const (
	Nocase Flags = 1 << iota
	Wide
	ASCII
	Fullword
	Private
	Xor
	Base64
	Base64Wide
	// RegexNocase and RegexDotAll are the /i and /s flags of a regexp.
	RegexNocase
	RegexDotAll
	// Fixed marks a string whose every use is `$a at N` with one constant
	// N (String.At): like yara, only its matches at N are kept.
	Fixed
)

// String is one string of a rule.
type String struct {
	// ID is "$name", or "$" for an anonymous string.
	ID    string
	Kind  StringKind
	Flags Flags
	// Text is a text string's bytes, or a regexp's source.
	Text []byte
	// Hex is a hex string's tokens.
	Hex []HexToken
	// XorMin and XorMax are the xor key range.
	XorMin, XorMax byte
	// Alphabet is a custom base64 alphabet, nil for the standard one.
	Alphabet []byte
	// At is the only offset a Fixed string's matches are kept at.
	At int64
}

// HexKind says what a HexToken is.
type HexKind uint8

const (
	HexByte HexKind = iota
	HexJump
	HexAlt
)

// HexToken is one element of a hex string: a byte with a mask (Not
// inverts), a jump of Min to Max bytes (Max -1: unbounded) or
// alternatives.
type HexToken struct {
	Kind        HexKind
	Value, Mask byte
	Not         bool
	Min, Max    int
	Alts        [][]HexToken
}
