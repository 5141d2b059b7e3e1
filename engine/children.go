package engine

import (
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"athena/internal/core"
)

// Children: a module with file access (ABI v1.2) reads the whole file at
// random, or parses it as it arrives (ABI v1.3), and streams members,
// embedded objects and decoded layers out as children. The engine spools
// each child and analyses it as a file of its own through every module, at
// depth+1, with the path "parent > member": after the parent's Feed in
// which the module ended it (a streamed container), else after the
// parent's modules have finished. The child's findings reach the parent's
// event stream with their path, its verdict becomes a child event, and its
// findings count in the parent's verdict.

// tree holds the budgets one top file and all its descendants share.
type tree struct {
	children int   // extracted so far
	bytes    int64 // extracted so far
}

// childFile is one extracted child waiting for analysis.
type childFile struct {
	name string
	data *spool
	cut  bool // the per-child byte budget cut it short
}

// maxChildName bounds a child's name as the module gives it.
const maxChildName = 256

// cleanChildName makes a module's child name printable and short.
func cleanChildName(b []byte) string {
	if len(b) > maxChildName {
		b = b[:maxChildName]
	}
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
	s = strings.ReplaceAll(s, " > ", " / ") // the path separator stays unambiguous
	if strings.TrimSpace(s) == "" {
		return "unnamed"
	}
	return s
}

// moduleFiles is what the file-access imports of one module's call reach.
type moduleFiles struct {
	j  *Job
	jm *jobModule
}

var _ files = moduleFiles{}

func (f moduleFiles) readAt(p []byte, off int64) int32 { return f.j.readAt(p, off) }
func (f moduleFiles) childBegin(name []byte) int32     { return f.j.childBegin(f.jm, name) }
func (f moduleFiles) childWrite(b []byte) int32        { return f.j.childWrite(f.jm, b) }
func (f moduleFiles) childEnd() int32                  { return f.j.childEnd(f.jm) }

// readAt serves read_at: bytes of the file received so far, the spool
// then the chunk being fed.
func (j *Job) readAt(p []byte, off int64) int32 {
	var spooled int64
	if j.spool != nil {
		spooled = j.spool.Size()
	}
	// Without a spool the file is readable only while nothing came before
	// the chunk being fed (the spool starts with the first chunk).
	if j.spoolOff || (j.spool == nil && (j.cur == nil || j.size > int64(len(j.cur)))) ||
		off < 0 || off > spooled+int64(len(j.cur)) {
		return -1
	}
	n := 0
	if off < spooled {
		var err error
		n, err = j.spool.ReadAt(p, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return -1
		}
	}
	if n < len(p) && off+int64(n) >= spooled {
		n += copy(p[n:], j.cur[off+int64(n)-spooled:])
	}
	return int32(n)
}

func (j *Job) childBegin(jm *jobModule, name []byte) int32 {
	if jm.open != nil {
		return childBadState
	}
	cfg := &j.e.cfg
	switch {
	case j.depth+1 > cfg.MaxDepth:
		j.budget("depth", cfg.MaxDepth, cleanChildName(name))
		return childRefused
	case j.tree.children >= cfg.MaxChildren:
		j.budget("children", cfg.MaxChildren, cleanChildName(name))
		return childRefused
	}
	j.tree.children++
	jm.open = &childFile{name: cleanChildName(name), data: newSpool(cfg.SpoolMemory, cfg.SpoolDir, j.e.m.childSpools)}
	return childOK
}

func (j *Job) childWrite(jm *jobModule, b []byte) int32 {
	c := jm.open
	if c == nil {
		return childBadState
	}
	cfg := &j.e.cfg
	if c.cut {
		return childRefused
	}
	if c.data.Size()+int64(len(b)) > cfg.MaxChildBytes {
		c.cut = true
		j.budget("child_bytes", cfg.MaxChildBytes, c.name)
		return childRefused
	}
	if j.tree.bytes+int64(len(b)) > cfg.MaxExtractedBytes {
		c.cut = true
		j.budget("extracted_bytes", cfg.MaxExtractedBytes, c.name)
		return childRefused
	}
	if _, err := c.data.Write(b); err != nil {
		j.e.log.Warn("child spool", "err", err)
		c.cut = true
		return childRefused
	}
	j.tree.bytes += int64(len(b))
	return childOK
}

func (j *Job) childEnd(jm *jobModule) int32 {
	c := jm.open
	if c == nil {
		return childBadState
	}
	jm.open = nil
	j.children = append(j.children, c)
	return childOK
}

// dropOpen discards the child jm was writing: a module that failed or
// finished with a child open never ends it.
func (j *Job) dropOpen(jm *jobModule) {
	if jm.open != nil {
		jm.open.data.close()
		jm.open = nil
	}
}

// budget reports a budget the engine enforced: the analysis goes on
// without what it cut, and the verdict says partial.
func (j *Job) budget(name string, limit any, member string) {
	j.pendingFindings = append(j.pendingFindings, core.Finding{
		Module: "engine", Kind: core.KindBudgetExceeded, Severity: core.Info,
		Detail: map[string]any{"budget": name, "limit": limit, "member": member},
	})
}

// analyseChildren runs each extracted child through the pipeline, in the
// order they came, then frees them. A cancelled job frees them unanalysed.
func (j *Job) analyseChildren() {
	for i, c := range j.children {
		j.children[i] = nil
		if j.ctx.Err() != nil {
			c.data.close()
			continue
		}
		path := j.path + " > " + c.name
		if c.cut {
			path += " (truncated)"
		}
		j.analyseChild(path, c)
		c.data.close()
	}
	j.children = nil
}

func (j *Job) analyseChild(path string, c *childFile) {
	cj, err := j.e.newJob(j.ctx, core.FileMeta{Name: c.name, Size: c.data.Size()}, j.forward(path), j.ss)
	if err != nil {
		j.e.log.Warn("child job", "path", path, "err", err)
		return
	}
	cj.path, cj.depth, cj.tree = path, j.depth+1, j.tree
	cj.spent = j.spent // one job budget for the whole tree
	buf := make([]byte, 64<<10)
	r := c.data.Reader()
	for {
		n, err := r.Read(buf)
		if n > 0 {
			cj.Feed(buf[:n])
		}
		if err != nil {
			break
		}
	}
	cj.Finish()
	j.spent = cj.spent
}

// forward relays a child job's events into this job: findings with the
// child's path, grandchildren's child events as they are, and the child's
// verdict as a child event.
func (j *Job) forward(path string) func(core.Event) {
	return func(ev core.Event) {
		switch ev.Type {
		case core.EventFinding:
			f := *ev.Finding
			if f.Path == "" {
				f.Path = path
			}
			j.finding(f)
		case core.EventChild:
			j.event(core.Event{Type: core.EventChild, Child: ev.Child})
		case core.EventVerdict:
			v := ev.Verdict
			j.event(core.Event{Type: core.EventChild, Child: &core.Child{
				Path: path, Size: v.Size, SHA256: v.SHA256, Label: v.Label}})
		}
	}
}
