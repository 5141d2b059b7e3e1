package bytecount

import (
	"math/rand/v2"
	"testing"
)

func TestAddFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		p := make([]byte, rng.IntN(1000))
		for i := range p {
			p[i] = byte(rng.IntN(1 + round*5))
		}
		var want [256]uint32
		for _, b := range p {
			want[b]++
		}
		var tb Tables
		tb.Add(p[:len(p)/3])
		tb.Add(p[len(p)/3:])
		if got := tb.Fold(); *got != want {
			t.Fatalf("round %d: counts differ", round)
		}
		if tb[1] != [256]uint32{} || tb[2] != [256]uint32{} || tb[3] != [256]uint32{} {
			t.Fatalf("round %d: Fold left counts in tables 1 to 3", round)
		}
	}
}
