package yaragen

// rng is a splitmix64 generator: tiny, fast and, unlike the math/rand
// helpers, fixed forever, so a seed names the same corpus on every Go
// release.
type rng struct{ s uint64 }

// newRNG returns a generator for one stream (a file, the rule set) of a seed;
// streams are independent, so adding files does not change earlier ones.
func newRNG(seed int64, stream uint64) *rng {
	r := &rng{s: uint64(seed)*0x9E3779B97F4A7C15 ^ (stream+1)*0xD1B54A32D192ED03}
	r.u64()
	return r
}

func (r *rng) u64() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// intn returns a number in [0, n); n must be positive.
func (r *rng) intn(n int) int { return int(r.u64() % uint64(n)) }

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// chance is true with probability percent/100.
func (r *rng) chance(percent int) bool { return r.intn(100) < percent }

func (r *rng) byte() byte { return byte(r.u64()) }

func (r *rng) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = r.byte()
	}
	return b
}

func pick[T any](r *rng, s []T) T { return s[r.intn(len(s))] }
