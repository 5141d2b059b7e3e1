package plan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// magic and version start every encoded Plan.
const (
	magic   = "YPLN"
	version = 3
	// maxDepth bounds condition nesting, so that decoding cannot exhaust
	// the stack.
	maxDepth = 2000
)

// ErrFormat is returned, wrapped, by Decode for bytes that are not a Plan of
// this version.
var ErrFormat = errors.New("plan: bad encoding")

// Encode returns the Plan's binary form: "YPLN", a version byte, then the
// imports, strings, rules and, when present, the atoms. The same Plan always
// encodes to the same bytes.
func (p *Plan) Encode() []byte {
	e := &encoder{b: append([]byte(magic), version)}
	e.uint(uint64(len(p.Imports)))
	for _, s := range p.Imports {
		e.str(s)
	}
	e.uint(uint64(len(p.Strings)))
	for i := range p.Strings {
		s := &p.Strings[i]
		e.str(s.ID)
		e.uint(uint64(s.Kind))
		e.uint(uint64(s.Flags))
		e.bytes(s.Text)
		e.hex(s.Hex)
		e.b = append(e.b, s.XorMin, s.XorMax)
		e.bytes(s.Alphabet)
		if s.Flags&Fixed != 0 {
			e.int(s.At)
		}
	}
	e.uint(uint64(len(p.RuleList)))
	for i := range p.RuleList {
		r := &p.RuleList[i]
		e.str(r.Name)
		e.uint(uint64(len(r.Tags)))
		for _, t := range r.Tags {
			e.str(t)
		}
		e.uint(uint64(len(r.Meta)))
		for _, m := range r.Meta {
			e.str(m.Key)
			switch v := m.Value.(type) {
			case int64:
				e.uint(1)
				e.int(v)
			case bool:
				e.uint(2)
				e.bool(v)
			case string:
				e.uint(3)
				e.str(v)
			default:
				e.uint(0)
			}
		}
		e.bool(r.Global)
		e.bool(r.Private)
		e.bool(r.Early)
		e.uint(uint64(r.First))
		e.uint(uint64(r.Count))
		e.uint(uint64(r.Vars))
		e.node(r.Cond)
	}
	e.bool(p.Atoms != nil)
	if a := p.Atoms; a != nil {
		e.uint(uint64(a.Forms))
		e.uint(uint64(len(a.List)))
		for _, at := range a.List {
			e.uint(uint64(at.Form))
			e.uint(uint64(at.Off))
			e.bytes(at.Bytes)
		}
		e.uint(uint64(len(a.Slow)))
		for _, f := range a.Slow {
			e.uint(uint64(f))
		}
	}
	return e.b
}

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)  { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(s []byte) {
	if s == nil {
		e.uint(0)
		return
	}
	e.uint(uint64(len(s)) + 1)
	e.b = append(e.b, s...)
}
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) hex(toks []HexToken) {
	e.uint(uint64(len(toks)))
	for _, t := range toks {
		e.uint(uint64(t.Kind))
		switch t.Kind {
		case HexByte:
			e.b = append(e.b, t.Value, t.Mask)
			e.bool(t.Not)
		case HexJump:
			e.int(int64(t.Min))
			e.int(int64(t.Max))
		case HexAlt:
			e.uint(uint64(len(t.Alts)))
			for _, a := range t.Alts {
				e.hex(a)
			}
		}
	}
}

func (e *encoder) node(n *Node) {
	if n == nil {
		e.uint(0)
		return
	}
	e.uint(uint64(n.Op))
	e.uint(uint64(len(n.Args)))
	for _, a := range n.Args {
		e.node(a)
	}
	e.int(n.Int)
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(n.Float))
	e.bytes(n.Str)
	e.uint(uint64(len(n.Items)))
	for _, it := range n.Items {
		e.uint(uint64(it))
	}
}

// Decode parses bytes made by Encode. It checks the structure (counts,
// indexes, nesting) well enough that the scanner can trust the result, and
// returns an error wrapping ErrFormat, never panics, on anything else.
func Decode(b []byte) (*Plan, error) {
	if len(b) < len(magic)+1 || string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: no magic", ErrFormat)
	}
	if b[len(magic)] != version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrFormat, b[len(magic)], version)
	}
	d := &decoder{b: b[len(magic)+1:]}
	p := &Plan{}
	n := d.count()
	for range n {
		p.Imports = append(p.Imports, d.str())
	}
	n = d.count()
	if d.err == nil {
		p.Strings = make([]String, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		var s String
		s.ID = d.str()
		s.Kind = StringKind(d.uint())
		s.Flags = Flags(d.uint())
		s.Text = d.bytes()
		s.Hex = d.hex(0)
		s.XorMin = d.byte()
		s.XorMax = d.byte()
		s.Alphabet = d.bytes()
		if s.Flags&Fixed != 0 {
			s.At = d.int()
		}
		if s.Kind > Regex {
			d.fail("string kind")
		}
		if s.Alphabet != nil && len(s.Alphabet) != 64 {
			d.fail("base64 alphabet")
		}
		p.Strings = append(p.Strings, s)
	}
	n = d.count()
	if d.err == nil {
		p.RuleList = make([]Rule, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		var r Rule
		r.Name = d.str()
		if c := d.count(); c > 0 {
			r.Tags = make([]string, 0, c)
			for range c {
				r.Tags = append(r.Tags, d.str())
			}
		}
		if c := d.count(); c > 0 {
			r.Meta = make([]Meta, 0, c)
		}
		for range cap(r.Meta) {
			m := Meta{Key: d.str()}
			switch d.uint() {
			case 1:
				m.Value = d.int()
			case 2:
				m.Value = d.bool()
			case 3:
				m.Value = d.str()
			default:
				d.fail("meta kind")
			}
			r.Meta = append(r.Meta, m)
		}
		r.Global = d.bool()
		r.Private = d.bool()
		r.Early = d.bool()
		// First and Count index the strings already decoded; Vars is a
		// slot count. None is bounded by the bytes left.
		first, count, vars := d.uint(), d.uint(), d.uint()
		if first > uint64(len(p.Strings)) || count > uint64(len(p.Strings))-first || vars > maxVars {
			d.fail("rule strings")
		} else {
			r.First, r.Count, r.Vars = int(first), int(count), int(vars)
		}
		r.Cond = d.node(0)
		if r.Cond == nil {
			d.fail("rule without condition")
		}
		p.RuleList = append(p.RuleList, r)
		if d.err == nil {
			d.check(p, i, r.Cond)
		}
	}
	if d.err == nil && d.bool() {
		p.Atoms = d.atoms()
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// maxForms bounds Atoms.Forms (1,000 rules have about 5,000).
const maxForms = 1 << 24

// atoms reads Plan.Atoms.
func (d *decoder) atoms() *Atoms {
	forms := d.uint()
	if forms > maxForms {
		d.fail("forms")
		return nil
	}
	a := &Atoms{Forms: int(forms)}
	n := d.count()
	a.List = make([]Atom, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		form, off, b := d.uint(), d.uint(), d.bytes()
		if form >= uint64(a.Forms) || off > MaxAtomOff || len(b) == 0 || len(b) > MaxAtomLen {
			d.fail("atom")
			break
		}
		a.List = append(a.List, Atom{Form: int(form), Off: int(off), Bytes: b})
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		if f := d.uint(); f < uint64(a.Forms) {
			a.Slow = append(a.Slow, int(f))
		} else {
			d.fail("slow form")
		}
	}
	return a
}

type decoder struct {
	b   []byte
	err error
	// A 10,000-rule plan holds hundreds of thousands of small slices and
	// nodes; taken from a few large allocations instead of one each, they
	// decode in half the time, which in a guest is a good part of its
	// start-up.
	toks  arena[HexToken]
	nodes arena[Node]
	args  arena[*Node]
	ints  arena[int]
	raw   arena[byte]
}

// arena hands out slices of larger allocations. The slices are full
// (len == cap), so appending to one never writes into another.
type arena[T any] struct{ free []T }

// arenaChunk is the elements of one allocation; larger requests get their
// own.
const arenaChunk = 4096

func (a *arena[T]) take(n int) []T {
	if n > len(a.free) {
		if n > arenaChunk/8 {
			return make([]T, n)
		}
		a.free = make([]T, arenaChunk)
	}
	s := a.free[:n:n]
	a.free = a.free[n:]
	return s
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrFormat, what)
	}
	d.b = nil
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("truncated")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length, which cannot exceed the bytes left since every
// element takes at least one.
// maxVars bounds a rule's loop-variable slots.
const maxVars = 1 << 16

func (d *decoder) count() int {
	v := d.uint()
	if v > uint64(len(d.b)) {
		d.fail("count")
		return 0
	}
	return int(v)
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bool")
	return false
}

func (d *decoder) take(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail("truncated")
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

// str copies a string into the byte arena; the arena's bytes are never
// written again, so the string may share them.
func (d *decoder) str() string {
	src := d.take(d.uint())
	if len(src) == 0 {
		return ""
	}
	b := d.raw.take(len(src))
	copy(b, src)
	return unsafe.String(&b[0], len(b))
}

func (d *decoder) bytes() []byte {
	n := d.uint()
	if n == 0 {
		return nil
	}
	src := d.take(n - 1)
	if d.err != nil {
		return nil
	}
	b := d.raw.take(len(src))
	copy(b, src)
	return b
}

func (d *decoder) hex(depth int) []HexToken {
	if depth > maxDepth {
		d.fail("hex nesting")
		return nil
	}
	n := d.count()
	if n == 0 {
		return nil
	}
	if n > len(d.b)/2 { // a token takes 2 bytes or more
		d.fail("hex tokens")
		return nil
	}
	toks := d.toks.take(n)[:0]
	for i := 0; i < n && d.err == nil; i++ {
		t := HexToken{Kind: HexKind(d.uint())}
		switch t.Kind {
		case HexByte:
			t.Value = d.byte()
			t.Mask = d.byte()
			t.Not = d.bool()
		case HexJump:
			lo, hi := d.int(), d.int()
			if lo < 0 || lo > 1<<20 || hi < -1 || hi > 1<<20 || (hi >= 0 && hi < lo) {
				d.fail("hex jump")
			}
			t.Min, t.Max = int(lo), int(hi)
		case HexAlt:
			for range d.count() {
				t.Alts = append(t.Alts, d.hex(depth+1))
			}
		default:
			d.fail("hex token")
		}
		toks = append(toks, t)
	}
	return toks
}

func (d *decoder) node(depth int) *Node {
	if depth > maxDepth {
		d.fail("condition nesting")
		return nil
	}
	op := Op(d.uint())
	if op == OpInvalid || d.err != nil {
		return nil
	}
	if op >= opCount {
		d.fail("op")
		return nil
	}
	n := &d.nodes.take(1)[0]
	n.Op = op
	if c := d.count(); c > 0 {
		n.Args = d.args.take(c)
		for i := range n.Args {
			n.Args[i] = d.node(depth + 1)
		}
	}
	n.Int = d.int()
	if f := d.take(8); len(f) == 8 {
		n.Float = math.Float64frombits(binary.LittleEndian.Uint64(f))
	}
	n.Str = d.bytes()
	if c := d.count(); c > 0 {
		n.Items = d.ints.take(c)
		for i := range n.Items {
			v := d.uint()
			if v > 1<<31 {
				d.fail("item")
			}
			n.Items[i] = int(v)
		}
	}
	return n
}
