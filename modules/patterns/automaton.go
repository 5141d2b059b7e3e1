package patterns

// automaton is an Aho-Corasick automaton over a set of words, compiled to a
// full transition table: each input byte costs one table lookup, whatever
// the number of words, and the state carries over from one chunk to the
// next, so words that span chunks are found.
type automaton struct {
	// next[s<<8|b] is the state after reading byte b in state s. State 0
	// is the root: nothing of any word has been read.
	next []int32
	// out[s] lists the indices of the words that end when state s is
	// reached: the word it spells and those that are suffixes of it.
	out [][]int32
	// final[s] is len(out[s]) > 0, for the scanning loop.
	final []bool
	// leaves[b] is 1 when byte b leads out of the root (it starts a word)
	// and 0 otherwise: a byte, so that the scanning loop can OR several.
	leaves [256]uint8
}

// newAutomaton builds the automaton for words, which must not be empty.
// The word with index i is reported as i; equal words are all reported.
func newAutomaton(words [][]byte) automaton {
	var a automaton
	a.addState()
	// The trie; missing edges are -1 for now.
	for i, w := range words {
		s := int32(0)
		for _, b := range w {
			t := a.next[int(s)<<8|int(b)]
			if t < 0 {
				t = a.addState()
				a.next[int(s)<<8|int(b)] = t
			}
			s = t
		}
		a.out[s] = append(a.out[s], int32(i))
	}

	// Breadth first, complete each state's row: a missing edge goes where
	// the edge of the state's failure link (its longest proper suffix in
	// the trie) goes, and that state's row is already complete because it
	// is shallower.
	fail := make([]int32, len(a.out))
	var queue []int32
	for b := range 256 {
		if t := a.next[b]; t < 0 {
			a.next[b] = 0
		} else {
			queue = append(queue, t) // fail[t] is the root
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for b := range 256 {
			i := int(s)<<8 | b
			f := a.next[int(fail[s])<<8|b]
			t := a.next[i]
			if t < 0 {
				a.next[i] = f
				continue
			}
			fail[t] = f
			a.out[t] = append(a.out[t], a.out[f]...)
			queue = append(queue, t)
		}
	}

	for b := range a.leaves {
		if a.next[b] != 0 {
			a.leaves[b] = 1
		}
	}
	a.final = make([]bool, len(a.out))
	for s, o := range a.out {
		a.final[s] = len(o) > 0
	}
	return a
}

// addState appends a state with no edges and returns it.
func (a *automaton) addState() int32 {
	s := int32(len(a.out))
	for range 256 {
		a.next = append(a.next, -1)
	}
	a.out = append(a.out, nil)
	return s
}
