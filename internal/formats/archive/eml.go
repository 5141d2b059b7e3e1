package archive

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"

	"athena/internal/core"
)

// maxMIMEDepth bounds how deep multipart bodies nest.
const maxMIMEDepth = 8

// emlState is what one message's walk collects.
type emlState struct {
	parts []map[string]any
	cost  int // JSON bytes of parts, roughly
	n     int // leaf parts so far
}

// eml emits every leaf MIME part of an RFC 5322 message, decoded from its
// transfer encoding, named by its file name or part-N, and reports the
// headers and part list in a finding of Kind "email".
func (x *extractor) eml(r io.Reader) error {
	msg, err := mail.ReadMessage(bufio.NewReader(r))
	if err != nil {
		x.malformed("", err)
		return nil
	}
	dec := &mime.WordDecoder{}
	header := func(name string) string {
		v := msg.Header.Get(name)
		if d, err := dec.DecodeHeader(v); err == nil {
			v = d
		}
		return clip(v, maxText)
	}
	detail := map[string]any{}
	for _, h := range []string{"From", "To", "Cc", "Reply-To", "Return-Path", "Subject", "Date", "Message-Id", "X-Mailer"} {
		if v := header(h); v != "" {
			detail[strings.ToLower(h)] = v
		}
	}
	st := &emlState{}
	defer func() {
		detail["parts"] = st.parts
		detail["part_count"] = st.n
		if len(st.parts) < st.n {
			detail["parts_truncated"] = true
		}
		x.finding("email", core.Info, 0, detail)
	}()
	return x.mimePart(textproto.MIMEHeader(msg.Header), msg.Body, 0, st)
}

func (x *extractor) mimePart(h textproto.MIMEHeader, body io.Reader, depth int, st *emlState) error {
	ctype := h.Get("Content-Type")
	mediatype, params, err := mime.ParseMediaType(ctype)
	if err != nil || mediatype == "" {
		mediatype = "text/plain"
		if params == nil {
			params = map[string]string{}
		}
	}
	if strings.HasPrefix(mediatype, "multipart/") && params["boundary"] != "" && depth < maxMIMEDepth {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				x.malformed("", fmt.Errorf("mime: %w", err))
				return nil
			}
			if err := x.mimePart(p.Header, p, depth+1, st); err != nil {
				return err
			}
		}
	}

	st.n++
	dec := &mime.WordDecoder{}
	name := ""
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && dp["filename"] != "" {
		name = dp["filename"]
	} else if params["name"] != "" {
		name = params["name"]
	}
	if d, err := dec.DecodeHeader(name); err == nil {
		name = d
	}
	if name == "" {
		name = fmt.Sprintf("part-%d", st.n)
	}
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if part := map[string]any{"name": clip(name, 256), "type": clip(mediatype, 100), "encoding": clip(enc, 40)}; len(st.parts) < maxListed && st.cost+400 <= maxListBytes {
		st.parts = append(st.parts, part)
		st.cost += 400
	}
	var r io.Reader = body
	compressed := int64(-1)
	switch enc {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &base64Filter{r: body})
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	return x.child(name, 0, r, compressed)
}

// base64Filter drops what is not base64 (line breaks, spaces, stray
// characters), as mail readers do.
type base64Filter struct{ r io.Reader }

func (f *base64Filter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			switch {
			case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil || n == 0 {
			return j, err
		}
	}
}
