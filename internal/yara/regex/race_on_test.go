//go:build race

package regex

// raceEnabled: the race detector makes sync.Pool drop items on purpose.
const raceEnabled = true
