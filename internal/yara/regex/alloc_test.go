//go:build !race

// The race detector makes sync.Pool drop items on purpose, so allocation
// counts only mean something without it.

package regex

import "testing"

func TestMatchAtDoesNotAllocate(t *testing.T) {
	data := benchData()[:4096]
	re := MustCompile(`[A-Za-z0-9+\/]{4,}={0,2}`, Flags{})
	re.MatchAt(data, 0) // warm the pool
	allocs := testing.AllocsPerRun(10, func() {
		for i := range data {
			re.MatchAt(data, i)
		}
	})
	if allocs > 1 { // a GC may empty the sync.Pool
		t.Errorf("MatchAt allocates: %v per %d calls", allocs, len(data))
	}
}
