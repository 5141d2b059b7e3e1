package archive

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"

	"github.com/bodgit/sevenzip"
	"github.com/ulikunitz/xz/lzma"

	"athena/internal/formats"
)

// The library's LZMA and LZMA2 decoders allocate whatever dictionary a
// folder declares (up to 4 GiB); these replacements refuse more than
// maxWindow with a "window" budget error.
func init() {
	sevenzip.RegisterDecompressor([]byte{0x03, 0x01, 0x01}, lzmaBounded)
	sevenzip.RegisterDecompressor([]byte{0x21}, lzma2Bounded)
}

var errCoderProps = errors.New("archive: 7z coder: bad properties or streams")

type readCloser struct {
	io.Reader
	io.Closer
}

func lzmaBounded(p []byte, size uint64, rs []io.ReadCloser) (io.ReadCloser, error) {
	if len(rs) != 1 || len(p) != 5 {
		return nil, errCoderProps
	}
	if binary.LittleEndian.Uint32(p[1:]) > maxWindow {
		return nil, &formats.BudgetError{Budget: "window", Limit: maxWindow}
	}
	h := bytes.NewBuffer(bytes.Clone(p))
	_ = binary.Write(h, binary.LittleEndian, size)
	lr, err := lzma.NewReader(io.MultiReader(h, rs[0]))
	if err != nil {
		return nil, err
	}
	return readCloser{lr, rs[0]}, nil
}

func lzma2Bounded(p []byte, _ uint64, rs []io.ReadCloser) (io.ReadCloser, error) {
	if len(rs) != 1 || len(p) != 1 || p[0] > 40 {
		return nil, errCoderProps
	}
	dict := (2 | int64(p[0])&1) << (p[0]/2 + 11)
	if dict > maxWindow {
		return nil, &formats.BudgetError{Budget: "window", Limit: maxWindow}
	}
	lr, err := lzma.Reader2Config{DictCap: int(dict)}.NewReader2(rs[0])
	if err != nil {
		return nil, err
	}
	return readCloser{lr, rs[0]}, nil
}

// sevenZip extracts a 7-Zip archive; encrypted headers and members are
// tried with the budget's passwords.
//
// The library decodes a solid block from its start for every member in
// it and allocates the LZMA dictionary a block declares: that work is not
// metered here.
func (x *extractor) sevenZip(r io.ReaderAt, size int64) error {
	zr, err := sevenzip.NewReader(r, size)
	if err != nil && isPasswordErr(err) {
		ok := false
		for _, pw := range x.m.Budget().Passwords {
			if z, err := sevenzip.NewReaderWithPassword(r, size, pw); err == nil {
				zr, ok = z, true
				x.encryptedMember("(header)", "aes", true, pw)
				break
			}
		}
		if !ok {
			x.encryptedMember("(header)", "aes", false, "")
			x.summary(map[string]any{"header_encrypted": true})
			return nil
		}
	} else if err != nil {
		x.malformed("", err)
		return nil
	}

	var total uint64
	files := 0
	var names nameList
	for _, f := range zr.File {
		if !f.FileInfo().IsDir() {
			files++
			total += f.UncompressedSize
		}
		names.add(f.Name)
	}
	detail := map[string]any{
		"members": len(zr.File), "files": files, "uncompressed_bytes": total,
		"compressed_bytes": size,
	}
	names.put(detail)
	defer x.summary(detail)

	// The compressed size of one member is not known; the ratio is
	// checked against the whole archive.
	var withPassword *sevenzip.Reader
	windowReported, triedPasswords := false, false
	for i, f := range zr.File {
		if f.FileInfo().IsDir() {
			x.path(f.Name, 0)
			continue
		}
		rc, err := f.Open()
		if errors.Is(err, formats.ErrBudget) {
			if !windowReported {
				windowReported = true
				_ = x.budget(clip(f.Name, maxText), err)
			}
			continue
		}
		if err != nil {
			x.malformed(clip(f.Name, maxText), err)
			continue
		}
		br := bufio.NewReader(rc)
		if _, err := br.Peek(1); err != nil && isPasswordErr(err) {
			rc.Close()
			if withPassword == nil && !triedPasswords {
				triedPasswords = true // key derivation is costly: once per archive
				withPassword = x.sevenZipPassword(r, size, i)
			}
			if withPassword == nil || i >= len(withPassword.File) {
				x.encryptedMember(clip(f.Name, maxText), "aes", false, "")
				x.path(f.Name, 0)
				continue
			}
			x.encryptedMember(clip(f.Name, maxText), "aes", true, x.sevenZipPw)
			if rc, err = withPassword.File[i].Open(); err != nil {
				x.malformed(clip(f.Name, maxText), err)
				continue
			}
			br = bufio.NewReader(rc)
		}
		err = x.child(f.Name, 0, br, size)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// sevenZipPassword finds the budget password that decodes member i and
// returns the archive opened with it, or nil.
func (x *extractor) sevenZipPassword(r io.ReaderAt, size int64, i int) *sevenzip.Reader {
	for _, pw := range x.m.Budget().Passwords {
		z, err := sevenzip.NewReaderWithPassword(r, size, pw)
		if err != nil || i >= len(z.File) {
			continue
		}
		rc, err := z.File[i].Open()
		if err != nil {
			continue
		}
		_, err = io.CopyN(io.Discard, rc, zipTrialBytes)
		rc.Close()
		if err == nil || err == io.EOF {
			x.sevenZipPw = pw
			return z
		}
	}
	return nil
}

// isPasswordErr reports whether err comes from encrypted data: the
// library marks its read errors so (a wrong or missing password decrypts to
// garbage, which then fails to decode), and says "password" when none was
// given at all.
func isPasswordErr(err error) bool {
	if re := (*sevenzip.ReadError)(nil); errors.As(err, &re) && re.Encrypted {
		return true
	}
	return strings.Contains(strings.ToLower(err.Error()), "password")
}
