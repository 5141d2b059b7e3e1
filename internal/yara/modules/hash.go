package modules

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"hash/crc32"

	"athena/internal/yara/object"
)

// hashModule is YARA's "hash": digests of a range of the file or of a
// string, as lowercase hex strings, and two integer checksums.
var hashModule = &object.Module{
	Name: "hash",
	Type: structType(map[string]*object.Type{
		"md5":        funcType(sig(stringType, object.Int, object.Int), sig(stringType, object.String)),
		"sha1":       funcType(sig(stringType, object.Int, object.Int), sig(stringType, object.String)),
		"sha256":     funcType(sig(stringType, object.Int, object.Int), sig(stringType, object.String)),
		"checksum32": funcType(sig(intType, object.Int, object.Int), sig(intType, object.String)),
		"crc32":      funcType(sig(intType, object.Int, object.Int), sig(intType, object.String)),
	}),
	Load: loadHash,
}

func loadHash(in *object.Input) object.Fields {
	both := func(f func([]byte) object.Value) object.Funcs {
		return object.Funcs{
			func(args []object.Value) object.Value {
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
			},
			func(args []object.Value) object.Value {
				b, ok := bytesArg(args[0])
				if !ok {
					return nil
				}
				return f(b)
			},
		}
	}
	digest := func(newHash func() hash.Hash) func([]byte) object.Value {
		return func(b []byte) object.Value {
			h := newHash()
			h.Write(b)
			return []byte(hex.EncodeToString(h.Sum(nil)))
		}
	}
	return object.Fields{
		"md5":    both(digest(md5.New)),
		"sha1":   both(digest(sha1.New)),
		"sha256": both(digest(sha256.New)),
		"checksum32": both(func(b []byte) object.Value {
			var sum uint32
			for _, c := range b {
				sum += uint32(c)
			}
			return int64(sum)
		}),
		"crc32": both(func(b []byte) object.Value {
			return int64(crc32.ChecksumIEEE(b))
		}),
	}
}
