//go:build wasip1

// Command splitter is a test guest with file access (ABI v1.2). At finish it
// reads the whole file through read_at and acts on its lines:
//
//	@eicar NAME   a child NAME holding the EICAR test file
//	@nest N       a child "level-N" holding "@nest N-1"; "@nest 0" holds "@eicar deep.txt"
//	@many K       K children "c-0".."c-K-1", each a line of harmless text
//	@big SIZE     a child "big.bin" of SIZE zero bytes
//	@head         a "head" finding with the file's first 16 bytes, read at random
//
// Each refused child is reported as a "refused" finding.
package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"athena/internal/core"
	"athena/modules/sdk"
)

type splitter struct {
	emit  sdk.Emit
	files sdk.Files
	size  int64
}

func (s *splitter) UseFiles(f sdk.Files)      { s.files = f }
func (s *splitter) Begin(core.FileMeta) error { s.size = 0; return nil }
func (s *splitter) Feed(b []byte) error       { s.size += int64(len(b)); return nil }
func (s *splitter) child(name string, data io.Reader) {
	if err := s.files.Child(name, data); err != nil {
		s.emit(core.Finding{Kind: "refused", Detail: map[string]any{"child": name, "error": err.Error()}})
	}
}

func eicar() []byte {
	return []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$` + "EICAR-STANDARD-" + "ANTIVIRUS-TEST-FILE!$H+H*")
}

func (s *splitter) Finish() error {
	data := make([]byte, s.size)
	if _, err := s.files.ReadAt(data, 0); err != nil && err != io.EOF {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		arg := ""
		if len(f) > 1 {
			arg = f[1]
		}
		n, _ := strconv.Atoi(arg)
		switch f[0] {
		case "@eicar":
			s.child(arg, bytes.NewReader(eicar()))
		case "@nest":
			next := fmt.Sprintf("@nest %d\n", n-1)
			if n == 0 {
				next = "@eicar deep.txt\n"
			}
			s.child(fmt.Sprintf("level-%d", n), strings.NewReader(next))
		case "@many":
			for i := range n {
				s.child(fmt.Sprintf("c-%d", i), strings.NewReader(fmt.Sprintf("harmless %d\n", i)))
			}
		case "@big":
			s.child("big.bin", io.LimitReader(zeros{}, int64(n)))
		case "@head":
			head := make([]byte, 16)
			k, _ := s.files.ReadAt(head, 0)
			s.emit(core.Finding{Kind: "head", Detail: map[string]any{"head": string(head[:k])}})
		}
	}
	return nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func init() { sdk.Register(func(emit sdk.Emit) sdk.Analyzer { return &splitter{emit: emit} }) }

func main() {}
