package archive

import (
	"archive/tar"
	"errors"
	"io"

	"athena/internal/formats"
)

func (x *extractor) tar(r io.Reader) error {
	tr := tar.NewReader(r)
	var total int64
	members, files := 0, 0
	var names nameList
	detail := map[string]any{}
	defer func() {
		detail["members"], detail["files"], detail["uncompressed_bytes"] = members, files, total
		names.put(detail)
		x.summary(detail)
	}()
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, formats.ErrBudget) { // the layer the tar is in (ExtractStream)
			return x.budget("", err)
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			x.malformed("", err)
			return nil
		}
		members++
		names.add(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeCont:
		case tar.TypeSymlink, tar.TypeLink:
			x.link(hdr.Name, hdr.Linkname, 0)
			continue
		default:
			x.path(hdr.Name, 0)
			continue
		}
		files++
		total += max(hdr.Size, 0)
		if err := x.child(hdr.Name, 0, tr, -1); err != nil {
			return err
		}
	}
}
