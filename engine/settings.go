package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"
)

// Setting is configuration a module takes through its configure export
// (module ABI v1.1): the module's manifest names the Kind it takes
// ("rules"), and the engine hands the Data of the current Setting of that
// kind to each new instance before its first file. Version names the Data;
// it goes into the pipeline fingerprint, so verdicts made under another
// version are not served from the cache.
//
// A job runs to its end on the settings current when it started; a new
// Setting applies to the jobs that start after Configure returns.
type Setting struct {
	Kind    string
	Version string
	Data    []byte
}

// settings is one immutable snapshot: kind -> setting.
type settings map[string]*Setting

// current returns the settings new jobs use.
func (e *Engine) current() settings { return *e.settings.Load() }

// Configure makes s current for new jobs. It first configures a fresh
// instance of every module that takes s.Kind; if one refuses (bad status,
// trap, deadline), s is rejected and the current setting stays. Instances
// configured with an older setting finish their jobs and are then closed.
func (e *Engine) Configure(ctx context.Context, s Setting) error {
	if s.Kind == "" || s.Version == "" {
		return errors.New("engine: a setting needs a kind and a version")
	}
	e.configMu.Lock()
	defer e.configMu.Unlock()
	st := &s
	var fresh []*instance
	var takers []*module
	for _, md := range e.modules {
		if md.man.Config != s.Kind {
			continue
		}
		in, err := md.newInstance(ctx, st)
		if err != nil {
			for i, in := range fresh {
				takers[i].closeInstance(in)
			}
			return fmt.Errorf("engine: %s %s rejected: %w", s.Kind, s.Version, err)
		}
		fresh = append(fresh, in)
		takers = append(takers, md)
	}
	next := maps.Clone(e.current())
	next[s.Kind] = st
	e.settings.Store(&next)
	for i, md := range takers {
		md.closeStale()
		md.mu.Lock()
		md.idle = append(md.idle, fresh[i])
		md.mu.Unlock()
		md.gauges()
	}
	e.log.Info("setting applied", "kind", s.Kind, "version", s.Version, "bytes", len(s.Data), "modules", len(takers))
	return nil
}

// Settings returns the version of each current setting, by kind.
func (e *Engine) Settings() map[string]string {
	out := map[string]string{}
	for k, s := range e.current() {
		out[k] = s.Version
	}
	return out
}

// configureTimeout bounds one configure call: a module may build large
// tables from its setting (a rule set's automaton), far more work than one
// feed.
const configureTimeout = 60 * time.Second

// configure hands st to a new instance: alloc, copy, configure. The
// instance's transfer buffer is forgotten afterwards, since the SDK frees
// the setting-sized one.
func (md *module) configure(ctx context.Context, in *instance, st *Setting) error {
	ctx, cancel := context.WithTimeout(ctx, configureTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	w := md.e.watch(deadline)
	defer md.e.unwatch(w)
	ctx = withSink(ctx, func([]byte) {})
	n := uint32(len(st.Data))
	ptr, err := in.w.call(ctx, "alloc", n)
	if err != nil {
		return fmt.Errorf("alloc: %w", err)
	}
	if ptr == 0 && n > 0 {
		return fmt.Errorf("alloc(%d) returned a null pointer", n)
	}
	if err := in.w.write(ptr, st.Data); err != nil {
		return err
	}
	status, err := in.w.call(ctx, "configure", ptr, n)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	if status != statusOK {
		return fmt.Errorf("configure returned status %d (see the module's log)", status)
	}
	in.buf, in.bufLen = 0, 0
	return nil
}
