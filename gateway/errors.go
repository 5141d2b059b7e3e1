package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"athena/internal/core"
)

// Error codes on the wire (docs/api.md). HTTP error bodies, WebSocket
// rejections and the error events the gateway makes itself use them.
const (
	CodeBadRequest       = "bad_request"        // 400: a malformed request
	CodeBadName          = "bad_name"           // 400: the name parameter is invalid
	CodeBadSHA256        = "bad_sha256"         // 400: X-Athena-SHA256 is not 64 hex digits
	CodeBadJobID         = "bad_job_id"         // 400: not a job id
	CodeBadAfter         = "bad_after"          // 400: after is not a non-negative integer
	CodeBadTag           = "bad_tag"            // 400: DELETE /v1/verdicts without a valid tag
	CodeBadLimit         = "bad_limit"          // 400: limit is not an integer in 1..200
	CodeBatchTooLarge    = "batch_too_large"    // 413: more than 1,000 hashes in a batch
	CodeNotFound         = "not_found"          // 404: no such route or job
	CodeMethodNotAllowed = "method_not_allowed" // 405
	CodeFileTooLarge     = "file_too_large"     // 413, or mid-stream: over MaxFileSize
	CodeUpgradeRequired  = "upgrade_required"   // 426: /v1/stream without a WebSocket upgrade
	CodeNotReady         = "not_ready"          // 503: NATS down, no engine, or shutting down
	CodeInternal         = "internal"           // 500

	CodeBadStart      = "bad_start"      // WebSocket: a start message with an invalid field
	CodeCancelled     = "cancelled"      // WebSocket: the client cancelled the file
	CodePublishFailed = "publish_failed" // JetStream did not take a chunk
	CodeTimeout       = "timeout"        // no verdict within JobTimeout of the last byte
	CodeShuttingDown  = "shutting_down"  // the gateway stopped before the job ended
)

// Abort reasons carried by abort chunks (streams.Chunk.Abort) and by the
// uploads_aborted_total metric.
const (
	abortClientGone    = "client_gone"
	abortCancelled     = "cancelled"
	abortFileTooLarge  = "file_too_large"
	abortPublishFailed = "publish_failed"
	abortProtocolError = "protocol_error"
	abortShutdown      = "server_shutdown"
)

// apiError is the body of an HTTP error and the error of a rejection.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// httpError is an error a handler returns to have it answered with Status
// and a JSON body {"error":{"code","message"}}.
type httpError struct {
	Status  int
	Code    string
	Message string
	// Allow is the Allow header of a 405.
	Allow string
}

func (e *httpError) Error() string { return strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *httpError {
	return &httpError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// errNotReady is the condition behind 503s and not_ready rejections.
type notReadyError struct{ reason string }

func (e *notReadyError) Error() string { return e.reason }

// writeError is the one place that maps a handler's error to a status
// code. It must only be called before the response has started.
func writeError(w http.ResponseWriter, err error) {
	var he *httpError
	var nr *notReadyError
	switch {
	case errors.As(err, &he):
	case errors.As(err, &nr):
		he = &httpError{Status: http.StatusServiceUnavailable, Code: CodeNotReady, Message: nr.reason}
	default:
		he = &httpError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}
	}
	if he.Allow != "" {
		w.Header().Set("Allow", he.Allow)
	}
	if he.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(he.Status)
	body, _ := json.Marshal(struct {
		Error apiError `json:"error"`
	}{apiError{Code: he.Code, Message: he.Message}})
	w.Write(append(body, '\n'))
}

// gatewayEvent is an error event the gateway makes itself. Its seq is 0:
// it is not one of the job's stored events.
func gatewayEvent(job, code, message string) []byte {
	b, _ := json.Marshal(core.Event{V: core.SchemaVersion, Job: job, Type: core.EventError,
		Error: &core.Error{Code: code, Message: message}})
	return b
}
