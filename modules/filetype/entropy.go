package filetype

import (
	"math"

	"athena/internal/bytecount"
	"athena/internal/core"
	"athena/modules/sdk"
)

// Entropy parameters.
const (
	// BlockSize is the size of the blocks whose entropy is measured.
	BlockSize = 4096
	// HighEntropy is the entropy, in bits per byte, from which a block
	// counts as high: compressed or encrypted data sits near 8, code and
	// text well below.
	HighEntropy = 7.2
	// MaxRegions caps the high-entropy region findings per file; further
	// regions are only counted in the file_entropy finding.
	MaxRegions = 64
)

// entropyMeter measures block and file entropy over a stream in constant
// memory. Entropies are computed from integer byte counts when a block
// closes, so they do not depend on how the stream was chunked.
type entropyMeter struct {
	emit sdk.Emit
	// count, when set, counts bytes on the host (sdk.ByteCounts): in wasm
	// the counting loop is most of the module's time.
	count func(data []byte, counts *[256]uint32) bool

	// Byte counts of the current block, spread over four tables that are
	// summed when the block closes: consecutive bytes go to different
	// tables, so a run of equal bytes does not serialise on one counter.
	block  bytecount.Tables
	spread bool        // tables 1 to 3 hold counts too (not only the host's table 0)
	blockN int         // bytes in the current block
	total  [256]uint64 // byte counts of the closed blocks
	size   int64       // bytes in the closed blocks

	blocks, highBlocks int64
	regions            int64 // high-entropy regions found, reported or not

	inRegion bool   // a high-entropy region is open
	region   region // the open region, if inRegion
}

// region is a run of adjacent high-entropy blocks.
type region struct {
	start, length int64
	blocks        int64
	sum           float64 // sum of block entropy × block length
	max           float64 // highest block entropy
}

// reset starts a new file.
func (m *entropyMeter) reset() {
	*m = entropyMeter{emit: m.emit, count: m.count}
}

// room is how many bytes the current block still takes; add must not be
// given more.
func (m *entropyMeter) room() int { return BlockSize - m.blockN }

// add counts p, at most room() bytes, and closes the block when it is full.
func (m *entropyMeter) add(p []byte) {
	m.blockN += len(p)
	if m.count == nil || !m.count(p, &m.block[0]) {
		m.block.Add(p)
		m.spread = true
	}
	if m.blockN == BlockSize {
		m.closeBlock()
	}
}

// closeBlock measures the current block, folds it into the file totals and
// opens, extends or closes the high-entropy region.
func (m *entropyMeter) closeBlock() {
	n := int64(m.blockN)
	t := &m.block[0]
	if m.spread {
		t = m.block.Fold()
		m.spread = false
	}
	h := m.fold(t, n)
	start := m.size
	m.blockN = 0
	m.size += n
	m.blocks++

	if h < HighEntropy {
		m.closeRegion()
		return
	}
	m.highBlocks++
	if !m.inRegion {
		m.inRegion = true
		m.region = region{start: start}
	}
	r := &m.region
	r.length += n
	r.blocks++
	r.sum += h * float64(n)
	r.max = max(r.max, h)
}

// fold adds the block's counts t, n bytes, to the file's totals, clears
// them and returns the block's entropy: shannon's, summed in the same order
// so that it is the same float, in the one pass. In wasm this loop is the
// module's largest cost once the host counts the bytes.
func (m *entropyMeter) fold(t *[256]uint32, n int64) float64 {
	sum := 0.0
	for i, c := range t {
		m.total[i] += uint64(c)
		sum += cLog2cTable[c] // a block holds at most BlockSize of a byte
		t[i] = 0
	}
	return max(math.Log2(float64(n))-sum/float64(n), 0)
}

// closeRegion reports the open high-entropy region, if any and if the cap
// allows. Its entropy is the mean of its blocks weighted by their length.
func (m *entropyMeter) closeRegion() {
	if !m.inRegion {
		return
	}
	m.inRegion = false
	m.regions++
	if m.regions > MaxRegions {
		return
	}
	m.emit(core.Finding{
		Kind:     KindEntropy,
		Rule:     RuleHighEntropyRegion,
		Severity: core.Info,
		Offset:   m.region.start,
		Length:   m.region.length,
		Detail: map[string]any{
			"entropy":     round3(m.region.sum / float64(m.region.length)),
			"max_entropy": round3(m.region.max),
			"blocks":      m.region.blocks,
		},
	})
}

// finish closes the last block and region and reports the file's entropy.
func (m *entropyMeter) finish() {
	if m.blockN > 0 {
		m.closeBlock()
	}
	m.closeRegion()
	m.emit(core.Finding{
		Kind:     KindEntropy,
		Rule:     RuleFileEntropy,
		Severity: core.Info,
		Detail: map[string]any{
			"entropy":     round3(shannon(&m.total, uint64(m.size))),
			"size":        m.size,
			"blocks":      m.blocks,
			"high_blocks": m.highBlocks,
			"regions":     m.regions,
		},
	})
}

// shannon returns the Shannon entropy, in bits per byte, of n bytes with the
// given byte counts: 0 for n = 0, 8 at most. It uses the identity
// H = log2(n) - Σ c·log2(c) / n, so a block needs table lookups only.
func shannon(counts *[256]uint64, n uint64) float64 {
	if n == 0 {
		return 0
	}
	sum := 0.0
	for _, c := range counts {
		sum += cLog2c(c)
	}
	return max(math.Log2(float64(n))-sum/float64(n), 0)
}

// cLog2cTable holds c·log2(c) for every count a block can hold.
var cLog2cTable = func() (t [BlockSize + 1]float64) {
	for c := 2; c <= BlockSize; c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return t
}()

// cLog2c returns c·log2(c), 0 for c = 0. The result depends on c only, so
// the entropy of given counts is always the same float.
func cLog2c(c uint64) float64 {
	if c <= BlockSize {
		return cLog2cTable[c]
	}
	return float64(c) * math.Log2(float64(c))
}

// round3 rounds x to 3 decimals.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
