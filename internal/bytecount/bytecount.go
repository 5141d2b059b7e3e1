// Package bytecount counts the bytes of data by value: the one per-byte
// loop of an entropy. The engine runs it natively for a guest (module ABI
// v1.5 byte_counts); the filetype module runs it itself when no host
// counts for it.
package bytecount

// Tables are four tables of counts: consecutive bytes go to different
// tables, so that a run of one value does not wait on one counter.
// Fold gives the counts.
type Tables [4][256]uint32

// Add counts p.
func (t *Tables) Add(p []byte) {
	for ; len(p) >= 4; p = p[4:] {
		t[0][p[0]]++
		t[1][p[1]]++
		t[2][p[2]]++
		t[3][p[3]]++
	}
	for _, b := range p {
		t[0][b]++
	}
}

// Fold adds tables 1 to 3 into table 0, clears them and returns table 0:
// the counts.
func (t *Tables) Fold() *[256]uint32 {
	for i := range t[0] {
		t[0][i] += t[1][i] + t[2][i] + t[3][i]
	}
	t[1], t[2], t[3] = [256]uint32{}, [256]uint32{}, [256]uint32{}
	return &t[0]
}
