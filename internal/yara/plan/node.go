package plan

// Op is what a condition Node computes.
type Op uint8

// The operations. Args and the scalar fields are used as each comment says;
// a nil Arg is an absent optional operand.
const (
	OpInvalid    Op = iota
	OpBool          // Int 0 or 1
	OpInt           // Int
	OpFloat         // Float
	OpString        // Str
	OpRegex         // Str is the source, Int the Flags (RegexNocase, RegexDotAll)
	OpFilesize      //
	OpEntrypoint    // always undefined
	OpRule          // Int is the rule index
	OpModule        // Str is the module name
	OpField         // Args[0].Str
	OpIndex         // Args[0][Args[1]]
	OpCall          // Args[0](Args[1:]...); Int is the overload
	OpVar           // Int is the loop variable slot
	OpNot
	OpNeg
	OpBitNot
	OpDefined
	OpAnd
	OpOr
	OpLt
	OpLe
	OpGt
	OpGe
	OpEq
	OpNe
	OpAdd
	OpSub
	OpMul
	OpDiv
	OpMod
	OpBitAnd
	OpBitOr
	OpBitXor
	OpShl
	OpShr
	OpContains
	OpIContains
	OpStartsWith
	OpIStartsWith
	OpEndsWith
	OpIEndsWith
	OpIEquals
	OpMatches // Args[1] is an OpRegex
	// String operators: Int is the string index, -1 for the current string
	// of a `for ... of` loop.
	OpStrMatch  //
	OpStrCount  // Args: optional lo, hi of `in`
	OpStrOffset // Args[0]: optional index (1-based)
	OpStrLength // Args[0]: optional index
	OpStrAt     // Args[0]: offset
	OpStrIn     // Args[0], Args[1]: lo, hi
	OpRead      // Args[0]: offset; Int: size | ReadSigned | ReadBigEndian
	// OpOf is `Quant of Items`: Int is the QuantKind, Args[0] the N of
	// QuantExpr and QuantPercent, Args[1], Args[2] an `in` range, Args[3]
	// an `at` offset. Items are string indexes, or rule indexes when Str
	// is "rules".
	OpOf
	// OpForOf is `for Quant of Items : (Args[4])`, Args[0] as in OpOf.
	OpForOf
	// OpForIn is `for Quant Vars in Iter : (Body)`: Int is the QuantKind,
	// Args[0] N, Args[1] the body; Items are the variable slots; Str is
	// the iterable's kind ("range": Args[2], Args[3]; "list": Args[2:]; "expr":
	// Args[2], an array or a dictionary).
	OpForIn
	opCount
)

// Read size flags of OpRead's Int.
const (
	ReadSigned    = 1 << 8
	ReadBigEndian = 1 << 9
)

// Quantifier kinds of OpOf, OpForOf and OpForIn.
const (
	QuantAll = iota
	QuantAny
	QuantNone
	QuantExpr
	QuantPercent
)

// Node is one node of a condition.
type Node struct {
	Op    Op
	Args  []*Node
	Int   int64
	Float float64
	Str   []byte
	Items []int
}
