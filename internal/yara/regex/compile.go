package regex

import "fmt"

type opcode uint8

const (
	opSet      opcode = iota // consume one byte in sets[arg]
	opSplit                  // continue at out (preferred) and at arg
	opJmp                    // continue at out
	opMatch                  // a match ends here
	opBegin                  // assert offset 0
	opEnd                    // assert end of data
	opWordB                  // assert \b
	opNotWordB               // assert \B
)

type inst struct {
	op  opcode
	out uint32
	arg uint32
}

// maxInsts bounds the program size (repeats are expanded).
const maxInsts = 1 << 18

type compiler struct {
	prog    []inst
	sets    []byteSet
	setIdx  map[byteSet]uint32
	wide    bool
	zeroSet uint32
}

func compile(n *node, f Flags) (prog []inst, sets []byteSet, err error) {
	c := &compiler{setIdx: map[byteSet]uint32{}, wide: f.Wide}
	var zero byteSet
	zero.add(0)
	c.zeroSet = c.intern(zero)
	if err := c.emit(n); err != nil {
		return nil, nil, err
	}
	c.add(inst{op: opMatch})
	if len(c.prog) > maxInsts {
		return nil, nil, fmt.Errorf("regex: %w", ErrTooComplex)
	}
	return c.prog, c.sets, nil
}

func (c *compiler) intern(s byteSet) uint32 {
	if i, ok := c.setIdx[s]; ok {
		return i
	}
	i := uint32(len(c.sets))
	c.sets = append(c.sets, s)
	c.setIdx[s] = i
	return i
}

// add appends an instruction whose out is the next instruction.
func (c *compiler) add(in inst) uint32 {
	pc := uint32(len(c.prog))
	if in.op != opJmp && in.op != opSplit {
		in.out = pc + 1
	}
	c.prog = append(c.prog, in)
	return pc
}

func (c *compiler) next() uint32 { return uint32(len(c.prog)) }

func (c *compiler) emit(n *node) error {
	if len(c.prog) > maxInsts {
		return fmt.Errorf("regex: %w", ErrTooComplex)
	}
	switch n.kind {
	case nSet:
		c.add(inst{op: opSet, arg: c.intern(n.set)})
		if c.wide && !n.raw {
			c.add(inst{op: opSet, arg: c.zeroSet})
		}
	case nEmpty:
	case nBegin:
		c.add(inst{op: opBegin})
	case nEnd:
		c.add(inst{op: opEnd})
	case nWordB:
		c.add(inst{op: opWordB})
	case nNotWordB:
		c.add(inst{op: opNotWordB})
	case nConcat:
		for _, s := range n.subs {
			if err := c.emit(s); err != nil {
				return err
			}
		}
	case nAlt:
		// split L1, next; L1: sub1; jmp end; next: split L2, ...; last sub
		var jumps []uint32
		for i, s := range n.subs {
			var split uint32
			last := i == len(n.subs)-1
			if !last {
				split = c.add(inst{op: opSplit})
				c.prog[split].out = c.next()
			}
			if err := c.emit(s); err != nil {
				return err
			}
			if !last {
				jumps = append(jumps, c.add(inst{op: opJmp}))
				c.prog[split].arg = c.next()
			}
		}
		for _, j := range jumps {
			c.prog[j].out = c.next()
		}
	case nRepeat:
		return c.emitRepeat(n)
	}
	return nil
}

// split emits a split between the body at the next instruction and a later
// target patched in by the caller, ordered by greediness.
func (c *compiler) split(greedy bool) uint32 {
	pc := c.add(inst{op: opSplit})
	c.prog[pc].out = pc + 1
	if !greedy {
		c.prog[pc].out, c.prog[pc].arg = c.prog[pc].arg, c.prog[pc].out
	}
	return pc
}

// patch points the non-body branch of split pc at target.
func (c *compiler) patch(pc uint32, greedy bool, target uint32) {
	if greedy {
		c.prog[pc].arg = target
	} else {
		c.prog[pc].out = target
	}
}

func (c *compiler) emitRepeat(n *node) error {
	sub := n.subs[0]
	min := n.min
	if n.max == -1 && min > 0 {
		min-- // the last mandatory copy becomes the loop body of x+
	}
	for i := 0; i < min; i++ {
		if err := c.emit(sub); err != nil {
			return err
		}
	}
	if n.max == -1 {
		if n.min > 0 { // L: sub; split L, out
			top := c.next()
			if err := c.emit(sub); err != nil {
				return err
			}
			pc := c.add(inst{op: opSplit})
			if n.greedy {
				c.prog[pc].out, c.prog[pc].arg = top, pc+1
			} else {
				c.prog[pc].out, c.prog[pc].arg = pc+1, top
			}
			return nil
		}
		// L: split body, out; body; jmp L
		pc := c.split(n.greedy)
		if err := c.emit(sub); err != nil {
			return err
		}
		j := c.add(inst{op: opJmp})
		c.prog[j].out = pc
		c.patch(pc, n.greedy, c.next())
		return nil
	}
	// x{0,k} as (x(x(...)?)?)?: every split skips to the end.
	var splits []uint32
	for i := n.min; i < n.max; i++ {
		splits = append(splits, c.split(n.greedy))
		if err := c.emit(sub); err != nil {
			return err
		}
	}
	for _, pc := range splits {
		c.patch(pc, n.greedy, c.next())
	}
	return nil
}
