package archive

import (
	"errors"
	"io"

	"github.com/nwaples/rardecode/v2"
)

// rar extracts a RAR (1.5 to 5) archive. Encrypted members (and headers)
// are tried with the budget's passwords, on a fresh pass over the archive
// since the decoder streams.
func (x *extractor) rar(r io.ReaderAt, size int64) error {
	open := func(opts ...rardecode.Option) (*rardecode.Reader, error) {
		opts = append(opts, rardecode.MaxDictionarySize(maxWindow))
		return rardecode.NewReader(io.NewSectionReader(r, 0, size), opts...)
	}
	// A first pass over the headers finds whether anything is encrypted.
	// It stops at the first solid member: skipping one means decoding it,
	// unmetered, so an encrypted member after it goes undecrypted.
	encrypted := false
	if rr, err := open(); err != nil {
		encrypted = errors.Is(err, rardecode.ErrArchiveEncrypted)
		if !encrypted {
			x.malformed("", err)
			return nil
		}
	} else {
		for range 1 << 20 {
			h, err := rr.Next()
			if err != nil {
				encrypted = encrypted || errors.Is(err, rardecode.ErrArchiveEncrypted)
				break
			}
			encrypted = encrypted || h.Encrypted || h.HeaderEncrypted
			if encrypted || h.Solid {
				break
			}
		}
	}
	password := ""
	found := false
	if encrypted {
		for _, pw := range x.m.Budget().Passwords {
			if rarTry(open, pw) {
				password, found = pw, true
				break
			}
		}
	}
	var opts []rardecode.Option
	if found {
		opts = append(opts, rardecode.Password(password))
	}
	rr, err := open(opts...)
	if err != nil {
		if errors.Is(err, rardecode.ErrArchiveEncrypted) {
			x.encryptedMember("(header)", "rar", false, "")
		} else {
			x.malformed("", err)
		}
		return nil
	}
	var total int64
	members, files := 0, 0
	var names nameList
	detail := map[string]any{"compressed_bytes": size}
	defer func() {
		detail["members"], detail["files"], detail["uncompressed_bytes"] = members, files, total
		names.put(detail)
		x.summary(detail)
	}()
	headerReported := false
	for {
		h, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			x.malformed("", err)
			return nil
		}
		members++
		names.add(h.Name)
		if h.HeaderEncrypted && !headerReported {
			headerReported = true
			x.encryptedMember("(header)", "rar", true, password)
		}
		if h.LinkTarget != "" {
			x.link(h.Name, h.LinkTarget, 0)
			continue
		}
		if h.IsDir {
			x.path(h.Name, 0)
			continue
		}
		files++
		total += max(h.UnPackedSize, 0)
		if h.Encrypted {
			x.encryptedMember(clip(h.Name, maxText), "rar", found, password)
			if !found {
				x.path(h.Name, 0)
				continue
			}
		}
		if err := x.child(h.Name, 0, rr, max(h.PackedSize, 0)); err != nil {
			return err
		}
	}
}

// rarTry reports whether pw decodes the first encrypted member.
func rarTry(open func(...rardecode.Option) (*rardecode.Reader, error), pw string) bool {
	rr, err := open(rardecode.Password(pw))
	if err != nil {
		return false
	}
	for range 1 << 20 {
		h, err := rr.Next()
		if err != nil {
			return false
		}
		if h.Encrypted && !h.IsDir {
			_, err = io.CopyN(io.Discard, rr, zipTrialBytes)
			return err == nil || err == io.EOF
		}
		if h.HeaderEncrypted {
			return true
		}
	}
	return false
}
