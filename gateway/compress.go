package gateway

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"
)

// minCompress is the smallest JSON body worth compressing.
const minCompress = 1 << 10

// compressJSON buffers the JSON answer of h and sends it compressed with
// brotli or gzip when the client accepts one (brotli preferred) and the
// body is at least minCompress bytes. It is for small, whole JSON answers
// only: streams (NDJSON, WebSocket) are never wrapped.
func compressJSON(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		enc := negotiate(r.Header.Get("Accept-Encoding"))
		if enc == "" || r.Method == http.MethodHead {
			return h(w, r)
		}
		w.Header().Add("Vary", "Accept-Encoding")
		bw := &bufferedWriter{header: w.Header()}
		err := h(bw, r)
		if err != nil && bw.status == 0 {
			return err // route answers the error, uncompressed
		}
		status := bw.status
		if status == 0 {
			status = http.StatusOK
		}
		body := bw.buf.Bytes()
		if len(body) < minCompress {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(status)
			w.Write(body)
			return err
		}
		var out bytes.Buffer
		var zw io.WriteCloser
		if enc == "br" {
			zw = brotli.NewWriterLevel(&out, brotli.DefaultCompression)
		} else {
			zw, _ = gzip.NewWriterLevel(&out, gzip.DefaultCompression)
		}
		zw.Write(body)
		zw.Close()
		w.Header().Set("Content-Encoding", enc)
		w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
		w.WriteHeader(status)
		w.Write(out.Bytes())
		return err
	}
}

// negotiate picks "br", "gzip" or "" from an Accept-Encoding header,
// honouring q=0 refusals.
func negotiate(accept string) string {
	var br, gz bool
	for _, part := range strings.Split(accept, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				continue
			}
		}
		switch name {
		case "br":
			br = true
		case "gzip", "x-gzip":
			gz = true
		case "*":
			br = true
		}
	}
	switch {
	case br:
		return "br"
	case gz:
		return "gzip"
	}
	return ""
}

// bufferedWriter holds a whole answer so that it can be compressed.
type bufferedWriter struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.buf.Write(p)
}
