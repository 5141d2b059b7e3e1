package engine

import (
	"errors"

	"athena/internal/core"
)

// Error emits an error event with the job's next sequence number, so that
// a caller ending a job for a reason of its own (the client went away)
// reports it without a gap in the job's numbering. It may be called at any
// time, also after Abort or Finish.
func (j *Job) Error(code, message string) {
	j.event(core.Event{Type: core.EventError, Error: &core.Error{Code: code, Message: message}})
}

// Fail ends a job whose input cannot be completed (a protocol error, an
// upload that stalled): it emits an error event, then a partial verdict built
// from the findings so far, and releases the job's instances without calling
// finish (the modules never saw the end of the file). The verdict has the
// size of the bytes fed and no hashes: the file was not seen whole. Fail
// returns an error, and emits nothing, if the job has already ended.
func (j *Job) Fail(code, message string) (core.Verdict, error) {
	if j.ended {
		return core.Verdict{}, errors.New("engine: job already ended")
	}
	j.release()
	j.e.m.jobs.WithLabelValues("partial").Inc()
	j.Error(code, message)
	v := core.VerdictFrom(j.findings)
	v.Partial = true
	v.Size = j.size
	j.event(core.Event{Type: core.EventVerdict, Verdict: &v})
	return v, nil
}
