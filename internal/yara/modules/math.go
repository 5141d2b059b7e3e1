package modules

import (
	"math"
	"strconv"

	"athena/internal/yara/object"
)

// mathModule is YARA's "math": statistics over a range of the file or a
// string. Functions over an empty input return undefined where YARA does
// (mean, deviation, percentage, monte_carlo_pi), and a value where YARA
// does (entropy 0, serial_correlation -100000, mode 0, count 0).
var mathModule = &object.Module{
	Name: "math",
	Type: structType(map[string]*object.Type{
		"MEAN_BYTES":         floatType,
		"entropy":            funcType(sig(floatType, object.Int, object.Int), sig(floatType, object.String)),
		"mean":               funcType(sig(floatType, object.Int, object.Int), sig(floatType, object.String)),
		"deviation":          funcType(sig(floatType, object.Int, object.Int, object.Float), sig(floatType, object.String, object.Float)),
		"serial_correlation": funcType(sig(floatType, object.Int, object.Int), sig(floatType, object.String)),
		"monte_carlo_pi":     funcType(sig(floatType, object.Int, object.Int), sig(floatType, object.String)),
		"in_range":           funcType(sig(intType, object.Float, object.Float, object.Float)),
		"max":                funcType(sig(intType, object.Int, object.Int)),
		"min":                funcType(sig(intType, object.Int, object.Int)),
		"to_number":          funcType(sig(intType, object.Int)),
		"abs":                funcType(sig(intType, object.Int)),
		// to_string is YARA 4.3's; 4.2 has none.
		"to_string":  funcType(sig(stringType, object.Int), sig(stringType, object.Int, object.Int)),
		"count":      funcType(sig(intType, object.Int, object.Int, object.Int), sig(intType, object.Int)),
		"percentage": funcType(sig(floatType, object.Int, object.Int, object.Int), sig(floatType, object.Int)),
		"mode":       funcType(sig(intType, object.Int, object.Int), sig(intType)),
	}),
	Load: loadMath,
}

func loadMath(in *object.Input) object.Fields {
	// onRange adapts a statistic over bytes to the (offset, size) overload.
	onRange := func(f func([]byte) object.Value) func([]object.Value) object.Value {
		return func(args []object.Value) object.Value {
			off, ok1 := intArg(args[0])
			size, ok2 := intArg(args[1])
			if !ok1 || !ok2 {
				return nil
			}
			b, ok := fileRange(in, off, size)
			if !ok {
				return nil
			}
			return f(b)
		}
	}
	onString := func(f func([]byte) object.Value) func([]object.Value) object.Value {
		return func(args []object.Value) object.Value {
			b, ok := bytesArg(args[0])
			if !ok {
				return nil
			}
			return f(b)
		}
	}
	// YARA reads string arguments as signed chars for these statistics
	// (but not for entropy): bytes 0x80-0xff count as -128..-1.
	onSigned := func(f func([]byte, func(byte) float64) object.Value) func([]object.Value) object.Value {
		return onString(func(b []byte) object.Value { return f(b, signedByte) })
	}
	onUnsigned := func(f func([]byte, func(byte) float64) object.Value) func([]object.Value) object.Value {
		return onRange(func(b []byte) object.Value { return f(b, unsignedByte) })
	}
	whole := func() ([]byte, bool) { return fileRange(in, 0, in.Size) }
	deviation := func(b []byte, mean object.Value, value func(byte) float64) object.Value {
		m, ok := floatArg(mean)
		if !ok {
			return nil
		}
		return byteDeviation(b, m, value)
	}
	return object.Fields{
		"MEAN_BYTES":         127.5,
		"entropy":            object.Funcs{onRange(entropy), onString(entropy)},
		"mean":               object.Funcs{onUnsigned(byteMean), onSigned(byteMean)},
		"serial_correlation": object.Funcs{onUnsigned(serialCorrelation), onSigned(serialCorrelation)},
		"monte_carlo_pi": object.Funcs{onUnsigned(monteCarloPi), onString(func(b []byte) object.Value {
			return monteCarloPi(b, wrappedSignedByte)
		})},
		"deviation": object.Funcs{
			func(args []object.Value) object.Value {
				return onRange(func(b []byte) object.Value { return deviation(b, args[2], unsignedByte) })(args)
			},
			func(args []object.Value) object.Value {
				return onString(func(b []byte) object.Value { return deviation(b, args[1], signedByte) })(args)
			},
		},
		"in_range": object.Funcs{func(args []object.Value) object.Value {
			v, ok1 := floatArg(args[0])
			lo, ok2 := floatArg(args[1])
			hi, ok3 := floatArg(args[2])
			if !ok1 || !ok2 || !ok3 {
				return nil
			}
			return boolValue(v >= lo && v <= hi)
		}},
		// YARA compares max and min arguments as unsigned integers.
		"max": object.Funcs{intPair(func(a, b int64) int64 {
			if uint64(a) > uint64(b) {
				return a
			}
			return b
		})},
		"min": object.Funcs{intPair(func(a, b int64) int64 {
			if uint64(a) < uint64(b) {
				return a
			}
			return b
		})},
		"to_number": object.Funcs{func(args []object.Value) object.Value {
			v, ok := intArg(args[0])
			if !ok {
				return nil
			}
			return boolValue(v != 0)
		}},
		"to_string": object.Funcs{
			func(args []object.Value) object.Value {
				v, ok := intArg(args[0])
				if !ok {
					return nil
				}
				return []byte(strconv.FormatInt(v, 10))
			},
			func(args []object.Value) object.Value {
				v, ok1 := intArg(args[0])
				base, ok2 := intArg(args[1])
				if !ok1 || !ok2 || (base != 8 && base != 10 && base != 16) {
					return nil // YARA 4.3 allows bases 8, 10 and 16
				}
				return []byte(strconv.FormatInt(v, int(base)))
			},
		},
		"abs": object.Funcs{func(args []object.Value) object.Value {
			v, ok := intArg(args[0])
			if !ok {
				return nil
			}
			if v < 0 {
				return -v // math.MinInt64 stays itself, as in YARA
			}
			return v
		}},
		"count": object.Funcs{
			func(args []object.Value) object.Value {
				c, ok := intArg(args[0])
				if !ok {
					return nil
				}
				return onRange(func(b []byte) object.Value { return countByte(b, c) })(args[1:])
			},
			func(args []object.Value) object.Value {
				c, ok1 := intArg(args[0])
				b, ok2 := whole()
				if !ok1 || !ok2 {
					return nil
				}
				return countByte(b, c)
			},
		},
		"percentage": object.Funcs{
			func(args []object.Value) object.Value {
				c, ok := intArg(args[0])
				if !ok {
					return nil
				}
				return onRange(func(b []byte) object.Value { return percentage(b, c) })(args[1:])
			},
			func(args []object.Value) object.Value {
				c, ok1 := intArg(args[0])
				b, ok2 := whole()
				if !ok1 || !ok2 {
					return nil
				}
				return percentage(b, c)
			},
		},
		"mode": object.Funcs{
			onRange(mode),
			func([]object.Value) object.Value {
				b, ok := whole()
				if !ok {
					return nil
				}
				return mode(b)
			},
		},
	}
}

func intPair(f func(a, b int64) int64) func([]object.Value) object.Value {
	return func(args []object.Value) object.Value {
		a, ok1 := intArg(args[0])
		b, ok2 := intArg(args[1])
		if !ok1 || !ok2 {
			return nil
		}
		return f(a, b)
	}
}

func unsignedByte(c byte) float64 { return float64(c) }
func signedByte(c byte) float64   { return float64(int8(c)) }

// wrappedSignedByte is a signed char converted to a 32-bit unsigned
// integer, as YARA's monte_carlo_pi(string) reads it: a byte of 0x80 or
// more is at least 2^32-128, which puts its point outside the circle.
func wrappedSignedByte(c byte) float64 { return float64(uint32(int32(int8(c)))) }

func histogram(b []byte) *[256]int64 {
	var h [256]int64
	for _, c := range b {
		h[c]++
	}
	return &h
}

// entropy is the Shannon entropy of b in bits per byte, 0 when b is empty.
func entropy(b []byte) object.Value {
	h := histogram(b)
	n := float64(len(b))
	e := 0.0
	for _, c := range h {
		if c > 0 {
			p := float64(c) / n
			e -= p * math.Log2(p)
		}
	}
	return e
}

func byteMean(b []byte, value func(byte) float64) object.Value {
	if len(b) == 0 {
		return nil
	}
	var sum float64
	for _, c := range b {
		sum += value(c)
	}
	return sum / float64(len(b))
}

// byteDeviation is the mean absolute deviation of the bytes from mean.
func byteDeviation(b []byte, mean float64, value func(byte) float64) object.Value {
	if len(b) == 0 {
		return nil
	}
	h := histogram(b)
	sum := 0.0
	for v, c := range h {
		if c > 0 {
			sum += math.Abs(value(byte(v))-mean) * float64(c)
		}
	}
	return sum / float64(len(b))
}

// serialCorrelation is the correlation of each byte with the next one,
// as YARA computes it: the "ent" program's formula, except that the
// closing term is the last byte squared rather than last times first.
// It is -100000 when undefined (constant or empty input), as in YARA.
func serialCorrelation(b []byte, value func(byte) float64) object.Value {
	if len(b) == 0 {
		return -100000.0
	}
	var t1, t2, t3 float64
	for i, c := range b {
		x := value(c)
		next := x
		if i+1 < len(b) {
			next = value(b[i+1])
		}
		t1 += x * next
		t2 += x
		t3 += x * x
	}
	n := float64(len(b))
	den := n*t3 - t2*t2
	if den == 0 {
		return -100000.0
	}
	return (n*t1 - t2*t2) / den
}

// monteCarloPi estimates pi from successive 6-byte groups read as points
// (two 24-bit big-endian coordinates) and returns the relative error of
// the estimate; undefined under 6 bytes.
func monteCarloPi(b []byte, value func(byte) float64) object.Value {
	const coord = 3
	const radius = float64(1<<(8*coord) - 1)
	var inside, total int64
	for i := 0; i+2*coord <= len(b); i += 2 * coord {
		var x, y float64
		for j := range coord {
			x = x*256 + value(b[i+j])
			y = y*256 + value(b[i+coord+j])
		}
		if x*x+y*y <= radius*radius {
			inside++
		}
		total++
	}
	if total == 0 {
		return nil
	}
	pi := 4 * float64(inside) / float64(total)
	return math.Abs((pi - math.Pi) / math.Pi)
}

// countByte counts c in b; like YARA it uses only c's low 8 bits.
func countByte(b []byte, c int64) object.Value {
	return histogram(b)[byte(c)]
}

func percentage(b []byte, c int64) object.Value {
	if len(b) == 0 {
		return nil
	}
	// YARA computes the ratio in single precision.
	return float64(float32(histogram(b)[byte(c)]) / float32(len(b)))
}

// mode is the most common byte of b, the lowest on ties, 0 when b is empty.
func mode(b []byte) object.Value {
	h := histogram(b)
	best := 0
	for v := range h {
		if h[v] > h[best] {
			best = v
		}
	}
	return int64(best)
}
