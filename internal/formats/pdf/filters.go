package pdf

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

// Stream filters (ISO 32000-1, 7.4). Every decoder stops at limit decoded
// bytes and returns what it decoded with an error when the data is broken:
// malicious PDFs truncate streams on purpose and readers still run them.

var (
	errLimit       = errors.New("pdf: decoded size limit")
	errUnsupported = errors.New("pdf: unsupported filter")
)

// decode applies one filter by name.
func decode(name string, data []byte, parms pdfDict, limit int) ([]byte, error) {
	switch name {
	case "FlateDecode", "Fl":
		out, err := flateDecode(data, limit)
		return predict(out, parms, err)
	case "ASCIIHexDecode", "AHx":
		return asciiHexDecode(data, limit)
	case "ASCII85Decode", "A85":
		return ascii85Decode(data, limit)
	case "LZWDecode", "LZW":
		early := 1
		if v, ok := parms["EarlyChange"].(int64); ok {
			early = int(v)
		}
		out, err := lzwDecode(data, early != 0, limit)
		return predict(out, parms, err)
	case "RunLengthDecode", "RL":
		return runLengthDecode(data, limit)
	}
	return nil, fmt.Errorf("%w %s", errUnsupported, name)
}

// readLimited reads r up to limit bytes; errors keep the bytes read.
func readLimited(r io.Reader, limit int) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, int64(limit)+1))
	if n > int64(limit) {
		return buf.Bytes()[:limit], errLimit
	}
	return buf.Bytes(), err
}

// flateDecode inflates zlib data, or raw deflate when the zlib header is
// missing or broken.
func flateDecode(data []byte, limit int) ([]byte, error) {
	if zr, err := zlib.NewReader(bytes.NewReader(data)); err == nil {
		out, err := readLimited(zr, limit)
		if err == nil || len(out) > 0 {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, zlib.ErrChecksum) {
				err = nil // truncated or bad checksum: keep what decoded, as readers do
			}
			return out, err
		}
	}
	if len(data) >= 2 {
		out, err := readLimited(flate.NewReader(bytes.NewReader(data[2:])), limit)
		if len(out) > 0 {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = nil
			}
			return out, err
		}
	}
	out, err := readLimited(flate.NewReader(bytes.NewReader(data)), limit)
	if errors.Is(err, io.ErrUnexpectedEOF) && len(out) > 0 {
		err = nil
	}
	return out, err
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// asciiHexDecode decodes hex digits up to '>', skipping white space; an
// odd final digit is followed by 0.
func asciiHexDecode(data []byte, limit int) ([]byte, error) {
	out := make([]byte, 0, min(len(data)/2+1, limit))
	var hi byte
	half := false
	for _, c := range data {
		if c == '>' {
			break
		}
		if isSpace(c) {
			continue
		}
		v, ok := unhex(c)
		if !ok {
			return out, fmt.Errorf("pdf: ASCIIHexDecode: bad byte %q", c)
		}
		if half {
			if len(out) >= limit {
				return out, errLimit
			}
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half && len(out) < limit {
		out = append(out, hi<<4)
	}
	return out, nil
}

// ascii85Decode decodes base-85 up to "~>", with 'z' for four zeros.
func ascii85Decode(data []byte, limit int) ([]byte, error) {
	if bytes.HasPrefix(data, []byte("<~")) {
		data = data[2:]
	}
	out := make([]byte, 0, min(len(data), limit))
	var group [5]byte
	n := 0
	flush := func(k int) {
		var v uint32
		for i := 0; i < 5; i++ {
			v = v*85 + uint32(group[i])
		}
		b := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		out = append(out, b[:k]...)
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		if len(out) >= limit {
			return out[:limit], errLimit
		}
		switch {
		case isSpace(c):
			continue
		case c == '~':
			i = len(data)
			continue
		case c == 'z' && n == 0:
			out = append(out, 0, 0, 0, 0)
			continue
		case c < '!' || c > 'u':
			return out, fmt.Errorf("pdf: ASCII85Decode: bad byte %q", c)
		}
		group[n] = c - '!'
		n++
		if n == 5 {
			flush(4)
			n = 0
		}
	}
	if n > 1 {
		for i := n; i < 5; i++ {
			group[i] = 84
		}
		flush(n - 1)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// lzwDecode decodes PDF LZW: MSB-first codes of 9 to 12 bits, 256 clear,
// 257 end; early switches the code width one code early (EarlyChange 1,
// the default).
func lzwDecode(data []byte, early bool, limit int) ([]byte, error) {
	type entry struct {
		prev int
		c    byte
		n    int
	}
	table := make([]entry, 4096)
	for i := 0; i < 256; i++ {
		table[i] = entry{-1, byte(i), 1}
	}
	next, width, prev := 258, 9, -1
	out := make([]byte, 0, min(len(data)*3, limit))
	var acc uint32
	bits := 0
	var tmp [4096]byte
	emit := func(code int) byte {
		// Write the string of code; return its first byte.
		n := table[code].n
		if n > len(tmp) {
			n = len(tmp)
		}
		i := n - 1
		for c := code; c >= 0 && i >= 0; c = table[c].prev {
			tmp[i] = table[c].c
			i--
		}
		out = append(out, tmp[:n]...)
		return tmp[0]
	}
	for _, b := range data {
		acc = acc<<8 | uint32(b)
		bits += 8
		for bits >= width {
			code := int(acc>>(bits-width)) & (1<<width - 1)
			bits -= width
			switch {
			case code == 256:
				next, width, prev = 258, 9, -1
				continue
			case code == 257:
				return out[:min(len(out), limit)], nil
			}
			if len(out) >= limit {
				return out[:limit], errLimit
			}
			switch {
			case prev < 0:
				if code > 255 {
					return out, fmt.Errorf("pdf: LZWDecode: bad first code %d", code)
				}
				emit(code)
			case code < next:
				first := emit(code)
				if next < 4096 {
					table[next] = entry{prev, first, table[prev].n + 1}
					next++
				}
			case code == next && next < 4096:
				// The KwKwK case: prev's string plus its own first byte.
				first := emit(prev)
				out = append(out, first)
				table[next] = entry{prev, first, table[prev].n + 1}
				next++
			default:
				return out, fmt.Errorf("pdf: LZWDecode: bad code %d", code)
			}
			prev = code
			e := 0
			if early {
				e = 1
			}
			if next+e >= 1<<width && width < 12 {
				width++
			}
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// runLengthDecode decodes the PackBits-like RunLengthDecode filter.
func runLengthDecode(data []byte, limit int) ([]byte, error) {
	out := make([]byte, 0, min(len(data)*2, limit))
	for i := 0; i < len(data); {
		if len(out) >= limit {
			return out[:limit], errLimit
		}
		n := int(data[i])
		i++
		switch {
		case n == 128:
			return out[:min(len(out), limit)], nil
		case n < 128:
			end := min(i+n+1, len(data))
			out = append(out, data[i:end]...)
			i = end
		default:
			if i >= len(data) {
				return out, errors.New("pdf: RunLengthDecode: truncated run")
			}
			for k := 0; k < 257-n; k++ {
				out = append(out, data[i])
			}
			i++
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// predict undoes PNG predictors (Predictor >= 10) when DecodeParms ask for
// them; TIFF predictor 2 and broken parameters leave the data as it is.
func predict(data []byte, parms pdfDict, err error) ([]byte, error) {
	p, _ := parms["Predictor"].(int64)
	if p < 10 || len(data) == 0 {
		return data, err
	}
	colors, bpc, cols := int64(1), int64(8), int64(1)
	if v, ok := parms["Colors"].(int64); ok && v > 0 && v <= 32 {
		colors = v
	}
	if v, ok := parms["BitsPerComponent"].(int64); ok && v > 0 && v <= 16 {
		bpc = v
	}
	if v, ok := parms["Columns"].(int64); ok && v > 0 && v <= 1<<20 {
		cols = v
	}
	bpp := int(max((colors*bpc+7)/8, 1))
	rowLen := int((colors*bpc*cols + 7) / 8)
	out := make([]byte, 0, len(data))
	prior := make([]byte, rowLen)
	for i := 0; i+1 <= len(data); i += rowLen + 1 {
		ft := data[i]
		row := data[i+1 : min(i+1+rowLen, len(data))]
		cur := make([]byte, len(row))
		for j := range row {
			var a, b, c byte
			if j >= bpp {
				a = cur[j-bpp]
				c = prior[j-bpp]
			}
			b = prior[j]
			switch ft {
			case 1:
				cur[j] = row[j] + a
			case 2:
				cur[j] = row[j] + b
			case 3:
				cur[j] = row[j] + byte((int(a)+int(b))/2)
			case 4:
				cur[j] = row[j] + paeth(a, b, c)
			default:
				cur[j] = row[j]
			}
		}
		out = append(out, cur...)
		copy(prior, cur)
	}
	return out, err
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
