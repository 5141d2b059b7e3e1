package engine

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime/pprof"
	"sync"
	"time"

	"athena/internal/cache"
	"athena/internal/core"
)

// ABI v1 status codes (modules/README.md).
const (
	statusOK     = 0
	statusDone   = 1
	statusStream = 5 // feed: OK, and no more random access (ABI v1.3)
)

// parallelHashMin is the chunk size from which Feed hashes concurrently.
const parallelHashMin = 16 << 10

// serialHash turns concurrent hashing off, for benchmarks that compare.
var serialHash = false

// headLimit is how many leading bytes a job keeps while some module waits
// for the file type; the type module must decide within them.
const headLimit = 64 << 10

// Job analyses one file. Feed it the file's bytes in order, then call Finish
// (or Abort). Events reach the callback given to NewJob synchronously, from
// the goroutine calling Feed or Finish. A Job is not safe for concurrent use.
type Job struct {
	e      *Engine
	ctx    context.Context
	cancel context.CancelFunc
	meta   core.FileMeta
	metaJS []byte
	emit   func(core.Event)
	ss     settings // the settings of the whole job

	seq      int64
	size     int64
	spent    time.Duration // in guest calls, against JobTimeout
	hashes   []hash.Hash   // md5, sha1, sha256, sha512; none with Config.NoDigests
	findings []core.Finding
	mods     []*jobModule
	feeding  []*jobModule // scratch for Feed
	mime     string
	typed    bool   // the type is decided (possibly as unknown)
	head     []byte // leading bytes, kept while a module is pending
	ended    bool

	// Children (children.go): the path from the top file, the depth (0 for
	// the top file), the budgets the whole tree shares, the file's bytes
	// for modules with file access (spooled after each Feed while one may
	// read them at random; cur is the chunk being fed), and the children
	// extracted and not yet analysed.
	path            string
	depth           int
	tree            *tree
	spool           *spool
	spoolOff        bool // no module reads at random any more: never spool again
	cur             []byte
	children        []*childFile
	pendingFindings []core.Finding // engine findings made during a guest call
}

type modState int

const (
	pending modState = iota // waits for the file type
	running                 // receives bytes
	drained                 // said DONE: gets no more bytes, still gets finish
	ended                   // finished, failed or not wanted: gets nothing more
)

func (s modState) active() bool { return s == running || s == drained }

type jobModule struct {
	md    *module
	in    *instance
	state modState
	fed   int64 // bytes fed
	count int   // findings relayed
	extra int   // findings over the cap
	bad   bool  // the last call emitted something that is not a finding
	batch []core.Finding
	// A module with file access: streamed when it gave its random access
	// up (feed status STREAM); open is the child it is writing, which may
	// span feed calls.
	streamed bool
	open     *childFile
}

// NewJob starts analysing a file. Its guest calls may take the engine's
// JobTimeout in all; cancelling ctx makes the calls in progress fail. emit receives every event of the job
// in order.
func (e *Engine) NewJob(ctx context.Context, meta core.FileMeta, emit func(core.Event)) (*Job, error) {
	return e.newJob(ctx, meta, emit, e.current())
}

// newJob starts a job on the settings ss (a child job uses its parent's).
func (e *Engine) newJob(ctx context.Context, meta core.FileMeta, emit func(core.Event), ss settings) (*Job, error) {
	metaJS, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("engine: metadata: %w", err)
	}
	jctx, cancel := context.WithCancel(ctx)
	j := &Job{
		e: e, ctx: jctx, cancel: cancel, meta: meta, metaJS: metaJS, emit: emit, ss: ss,
		path: meta.Name, tree: &tree{},
	}
	if !e.cfg.NoDigests {
		j.hashes = []hash.Hash{md5.New(), sha1.New(), sha256.New(), sha512.New()}
	}
	for _, md := range e.modules {
		jm := &jobModule{md: md, state: pending}
		if md.unconfigured(j.ss) {
			jm.state = ended // needs a setting no one configured
		}
		j.mods = append(j.mods, jm)
		if jm.state == pending && md.man.Wanted("") {
			j.start(jm)
		}
	}
	j.typed = !j.hasTypeModule()
	j.decideType()
	return j, nil
}

func (j *Job) hasTypeModule() bool {
	for _, jm := range j.mods {
		if jm.md.man.Name == j.e.cfg.TypeModule && jm.state != ended {
			return true
		}
	}
	return false
}

// start takes an instance and calls begin.
func (j *Job) start(jm *jobModule) {
	var st *Setting
	if kind := jm.md.man.Config; kind != "" {
		st = j.ss[kind]
	}
	in, err := jm.md.get(j.ctx, st)
	if err != nil {
		j.fail(jm, "instantiate", err)
		return
	}
	jm.in, jm.state = in, running
	j.call(jm, "begin", j.metaJS)
}

// Feed analyses the next bytes of the file. It returns an error only when
// the job has ended; module failures become analysis_failed findings.
func (j *Job) Feed(chunk []byte) error {
	if j.ended {
		return errors.New("engine: feed after the job ended")
	}
	if len(chunk) == 0 {
		return nil
	}
	// Hashing costs about as much as the modules: for chunks worth it, hash
	// on another core while the modules run, and wait before returning
	// because the caller may reuse chunk.
	switch {
	case len(j.hashes) == 0:
	case len(chunk) >= parallelHashMin && !serialHash:
		var wg sync.WaitGroup
		wg.Go(func() { j.hash(chunk) })
		defer wg.Wait()
	default:
		j.hash(chunk)
	}
	j.size += int64(len(chunk))
	j.e.m.bytes.Add(float64(len(chunk)))
	j.cur = chunk // read_at sees it while the modules get it
	if !j.typed {
		j.head = append(j.head, chunk...)
	}
	// Modules started during this loop (when the type becomes known) are
	// fed from the head, which already holds this chunk.
	j.feeding = j.feeding[:0]
	for _, jm := range j.mods {
		if jm.state == running {
			j.feeding = append(j.feeding, jm)
		}
	}
	for _, jm := range j.feeding {
		j.feedModule(jm, chunk)
		if !j.typed && jm.md.man.Name == j.e.cfg.TypeModule {
			j.decideType()
		}
	}
	if !j.typed && len(j.head) > headLimit {
		j.e.log.Warn("type module gave no type within the head limit", "limit", headLimit)
		j.typed = true
		j.decideType()
	}
	// Spooled only now, so a module that gives its random access up on
	// this chunk (DONE, or STREAM once it knows the format) costs no spool.
	j.cur = nil
	if !j.fileAccessWanted() {
		j.releaseSpool()
	} else if !j.spoolOff {
		if j.spool == nil {
			j.spool = newSpool(j.e.cfg.SpoolMemory, j.e.cfg.SpoolDir, j.e.m.fileSpools)
		}
		if _, err := j.spool.Write(chunk); err != nil {
			j.e.log.Warn("spool", "err", err) // read_at then fails: the module reports it
		}
	}
	// Children a module ended during this chunk (a streamed container's
	// members) are analysed now, between the parent's calls, while the
	// upload goes on.
	j.analyseChildren()
	return nil
}

func (j *Job) hash(chunk []byte) {
	for _, h := range j.hashes {
		h.Write(chunk)
	}
}

func (j *Job) feedModule(jm *jobModule, b []byte) {
	step := jm.md.man.Limits.MaxFeed
	for len(b) > 0 && jm.state == running {
		n := min(step, len(b))
		j.call(jm, "feed", b[:n])
		jm.fed += int64(n)
		b = b[n:]
	}
}

// decideType starts the modules that wanted the type once it is known (or
// once it is clear it never will be), replaying the head they missed.
func (j *Job) decideType() {
	if !j.typed {
		for _, jm := range j.mods {
			if jm.md.man.Name == j.e.cfg.TypeModule && !jm.state.active() {
				j.typed = true // the type module finished or failed without a type
			}
		}
		if j.mime != "" {
			j.typed = true
		}
		if !j.typed {
			return
		}
	}
	for _, jm := range j.mods {
		if jm.state != pending {
			continue
		}
		if !jm.md.man.Wanted(j.mime) {
			jm.state = ended // not wanted: skipped silently
			continue
		}
		j.start(jm)
		j.feedModule(jm, j.head)
	}
	j.head = nil
	if !j.fileAccessWanted() {
		j.releaseSpool()
	}
}

// fileAccessWanted reports whether a module with file access may still
// read the file at random: one that said DONE or STREAM gave that up.
func (j *Job) fileAccessWanted() bool {
	for _, jm := range j.mods {
		if jm.md.man.FileAccess && !jm.streamed && (jm.state == pending || jm.state == running) {
			return true
		}
	}
	return false
}

// call runs one export with the job's deadlines and handles its outcome.
// arg is written to the transfer buffer for begin and feed.
func (j *Job) call(jm *jobModule, export string, arg []byte) {
	md := jm.md
	left := j.e.cfg.JobTimeout - j.spent
	if left <= 0 {
		j.fail(jm, "job_deadline", fmt.Errorf("the job's analysis time (%v) is used up", j.e.cfg.JobTimeout))
		return
	}
	timeout := min(time.Duration(md.man.Limits.CallMillis)*time.Millisecond, left)
	ctx, cancel := context.WithTimeout(j.ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	w := j.e.watch(deadline)
	ctx = withSink(ctx, func(raw []byte) { j.collect(jm, raw) })
	if md.man.FileAccess {
		ctx = withFiles(ctx, moduleFiles{j, jm})
	}
	start := time.Now()
	var status uint32
	var err error
	if j.e.cfg.ProfileLabels {
		status, err = j.invokeLabelled(ctx, jm, export, arg)
	} else {
		status, err = j.invoke(ctx, jm, export, arg)
	}
	j.e.unwatch(w)
	took := time.Since(start)
	j.spent += took
	j.e.m.callSeconds.WithLabelValues(md.man.Name, export).Observe(took.Seconds())
	j.flush(jm)
	if export == "finish" { // a child left open at the end is dropped
		j.dropOpen(jm)
	}
	for _, f := range j.pendingFindings {
		j.finding(f)
	}
	j.pendingFindings = j.pendingFindings[:0]
	switch {
	case err != nil:
		j.fail(jm, j.reason(ctx, jm, err), err)
	case jm.bad:
		j.fail(jm, "finding", errors.New("module emitted something that is not a finding"))
	case status == statusOK:
	case status == statusDone && export == "feed":
		jm.state = drained
	case status == statusStream && export == "feed":
		jm.streamed = true
	default:
		j.fail(jm, "status", fmt.Errorf("%s returned status %d", export, status))
	}
}

// invoke writes arg to the transfer buffer (but for finish) and calls export.
func (j *Job) invoke(ctx context.Context, jm *jobModule, export string, arg []byte) (uint32, error) {
	if export == "finish" {
		return jm.in.w.call(ctx, export)
	}
	ptr, err := jm.md.writeBuf(ctx, jm.in, arg)
	if err != nil {
		return 0, err
	}
	return jm.in.w.call(ctx, export, ptr, uint32(len(arg)))
}

// invokeLabelled is invoke under the pprof labels module, file ("top" or
// "child") and op (the export): Config.ProfileLabels.
func (j *Job) invokeLabelled(ctx context.Context, jm *jobModule, export string, arg []byte) (status uint32, err error) {
	file := "top"
	if j.depth > 0 {
		file = "child"
	}
	pprof.Do(ctx, pprof.Labels("module", jm.md.man.Name, "file", file, "op", export), func(ctx context.Context) {
		status, err = j.invoke(ctx, jm, export, arg)
	})
	return status, err
}

// reason classifies a failed call for the finding and the metrics.
func (j *Job) reason(ctx context.Context, jm *jobModule, err error) string {
	switch {
	case j.ctx.Err() != nil:
		return "cancelled"
	case ctx.Err() != nil && j.spent >= j.e.cfg.JobTimeout:
		return "job_deadline"
	case ctx.Err() != nil:
		return "deadline"
	case jm.in.stderr.outOfMemory(), jm.in.w.memoryBytes()+1<<20 >= uint64(jm.md.man.Limits.MemoryMiB)<<20:
		return "memory"
	}
	var exit *exitError
	if errors.As(err, &exit) {
		return "exit"
	}
	return "trap"
}

// collect is the sink of a guest call: it decodes a finding and queues it
// until the call returns.
func (j *Job) collect(jm *jobModule, raw []byte) {
	var f core.Finding
	if raw == nil || json.Unmarshal(raw, &f) != nil || f.Kind == "" {
		jm.bad = true
		return
	}
	if jm.count >= j.e.cfg.MaxFindings {
		jm.extra++
		return
	}
	jm.count++
	f.Module = jm.md.man.Name
	if f.Kind == "filetype" && jm.md.man.Name == j.e.cfg.TypeModule && j.mime == "" {
		if mime, ok := f.Detail["mime"].(string); ok {
			j.mime = mime
		}
	}
	jm.batch = append(jm.batch, f)
}

// flush relays the findings of the last call.
func (j *Job) flush(jm *jobModule) {
	for i := range jm.batch {
		j.finding(jm.batch[i])
	}
	jm.batch = jm.batch[:0]
}

func (j *Job) finding(f core.Finding) {
	j.findings = append(j.findings, f)
	j.event(core.Event{Type: core.EventFinding, Finding: &f})
}

func (j *Job) event(ev core.Event) {
	j.seq++
	ev.V, ev.Seq = core.SchemaVersion, j.seq
	if j.emit != nil {
		j.emit(ev)
	}
}

// fail ends a module's part in the job: it reports analysis_failed and
// discards the instance, which is never reused after a failure.
func (j *Job) fail(jm *jobModule, reason string, err error) {
	j.dropOpen(jm)
	if jm.in != nil {
		jm.md.discard(jm.in, reason)
		jm.in = nil
	}
	jm.state = ended
	jm.md.log.Warn("module failed", "reason", reason, "err", err, "offset", jm.fed)
	j.finding(core.Finding{
		Module:   jm.md.man.Name,
		Kind:     core.KindAnalysisFailed,
		Severity: core.Info,
		Offset:   jm.fed,
		Detail:   map[string]any{"reason": reason, "error": err.Error()},
	})
}

// Progress emits a progress event with the bytes fed so far. Callers decide
// how often; the engine emits none on its own.
func (j *Job) Progress() {
	j.event(core.Event{Type: core.EventProgress, Progress: &core.Progress{Bytes: j.size}})
}

// Pipeline describes what decides this job's verdict (Engine.Pipeline, with
// the settings the job started with).
func (j *Job) Pipeline() cache.Pipeline { return j.e.pipeline(j.ss) }

// Findings returns the findings relayed so far. The slice must not be modified.
func (j *Job) Findings() []core.Finding { return j.findings }

// end calls finish; the module gets nothing more.
func (j *Job) end(jm *jobModule) {
	j.call(jm, "finish", nil)
	if jm.state != ended {
		jm.state = ended
	}
}

// Finish ends the file: it calls finish on every module, releases the
// instances and returns the verdict, which is also emitted as the last event.
func (j *Job) Finish() (core.Verdict, error) {
	if j.ended {
		return core.Verdict{}, errors.New("engine: job already ended")
	}
	// The type module finishes first: its finish may decide the type and
	// start modules that waited for it.
	for _, jm := range j.mods {
		if jm.md.man.Name == j.e.cfg.TypeModule && jm.state.active() {
			j.end(jm)
		}
	}
	j.typed = true
	j.decideType()
	for _, jm := range j.mods {
		if jm.state.active() {
			j.end(jm)
		}
	}
	for _, jm := range j.mods {
		if jm.extra > 0 {
			jm.md.log.Warn("findings over the cap dropped", "dropped", jm.extra)
		}
	}
	j.releaseSpool()
	// Every module has finished: its instance goes back to the pool before
	// the children run, so that they reuse it instead of instantiating
	// (and configuring: a rule set) one more per module and level.
	j.releaseInstances()
	j.analyseChildren()
	v := core.VerdictFrom(j.findings)
	v.Size = j.size
	if len(j.hashes) > 0 {
		v.Hashes = core.Hashes{
			MD5:    hex.EncodeToString(j.hashes[0].Sum(nil)),
			SHA1:   hex.EncodeToString(j.hashes[1].Sum(nil)),
			SHA256: hex.EncodeToString(j.hashes[2].Sum(nil)),
			SHA512: hex.EncodeToString(j.hashes[3].Sum(nil)),
		}
		v.SHA256 = v.Hashes.SHA256
	}
	j.release()
	outcome := "complete"
	if v.Partial {
		outcome = "partial"
	}
	if j.depth == 0 { // children count in their top file's job
		j.e.m.jobs.WithLabelValues(outcome).Inc()
	}
	j.event(core.Event{Type: core.EventVerdict, Verdict: &v})
	return v, nil
}

// Abort ends the job without a verdict (the client went away). It is safe to
// call after Finish.
func (j *Job) Abort() {
	if j.ended {
		return
	}
	j.release()
	j.e.m.jobs.WithLabelValues("aborted").Inc()
}

// releaseSpool frees the file's bytes once no module can read them.
func (j *Job) releaseSpool() {
	j.spoolOff = true
	if j.spool != nil {
		j.spool.close()
		j.spool = nil
	}
}

func (j *Job) release() {
	j.ended = true
	j.releaseSpool()
	for _, c := range j.children {
		c.data.close()
	}
	j.children = nil
	j.releaseInstances()
	j.cancel()
}

// releaseInstances returns the job's healthy instances to their pools.
func (j *Job) releaseInstances() {
	for _, jm := range j.mods {
		j.dropOpen(jm)
		if jm.in != nil {
			jm.md.put(jm.in)
			jm.in = nil
		}
	}
}

// Analyze runs a whole job from r, reading chunks of up to chunkSize bytes.
func (e *Engine) Analyze(ctx context.Context, meta core.FileMeta, r io.Reader, chunkSize int, emit func(core.Event)) (core.Verdict, error) {
	j, err := e.NewJob(ctx, meta, emit)
	if err != nil {
		return core.Verdict{}, err
	}
	buf := make([]byte, max(chunkSize, 1))
	for {
		n, err := r.Read(buf)
		if n > 0 {
			j.Feed(buf[:n])
		}
		if err == io.EOF {
			return j.Finish()
		}
		if err != nil {
			j.Abort()
			return core.Verdict{}, fmt.Errorf("engine: read: %w", err)
		}
	}
}
