package engine

import (
	"bytes"
	"testing"
	"time"

	"athena/internal/core"
	"athena/internal/testkit"
)

func TestMisbehavingGuest(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{chaosDir}, Concurrency: 1})
	tests := []struct {
		name       string
		data       []byte
		wantReason []string // any of
	}{
		{name: "loops forever", data: []byte("xxSPINxx"), wantReason: []string{"deadline"}},
		{name: "eats memory", data: []byte("HOG"), wantReason: []string{"memory"}},
		{name: "panics", data: []byte("PANIC"), wantReason: []string{"status"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			events := run(t, e, tc.name, tc.data, 1<<20)
			took := time.Since(start)
			got := findings(events, "chaos")
			if len(got) != 1 || got[0].Kind != core.KindAnalysisFailed {
				t.Fatalf("chaos findings = %+v, want one analysis_failed", got)
			}
			reason, _ := got[0].Detail["reason"].(string)
			if !contains(tc.wantReason, reason) {
				t.Errorf("reason = %q, want one of %q (detail %v)", reason, tc.wantReason, got[0].Detail)
			}
			if limit := 300*time.Millisecond + time.Second; took > limit {
				t.Errorf("job took %v, want under the call deadline plus 1s (%v)", took, limit)
			}
			if v := verdictOf(t, events); !v.Partial {
				t.Errorf("verdict %+v is not partial", v)
			}
			// The failed instance is gone; the next file gets a fresh one.
			next := findings(run(t, e, "next", []byte("fine"), 1<<20), "chaos")
			if len(next) != 1 || next[0].Kind != "chaos" || next[0].Detail["bytes"] != float64(4) {
				t.Errorf("next file findings = %+v, want one chaos finding of 4 bytes", next)
			}
		})
	}
	if ok, info := e.Healthy(); !ok {
		t.Errorf("engine unhealthy after the failures: %s", info)
	}
}

func TestInstanceRecycledAfterFiles(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{chaosDir}, Concurrency: 1})
	md := e.modules[0]
	first, err := md.get(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	md.put(first)
	for i := range 5 { // files_per_instance is 5 in the chaos manifest
		run(t, e, "f", bytes.Repeat([]byte{'a'}, i+1), 2)
	}
	in, err := md.get(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer md.put(in)
	if in == first {
		t.Errorf("the instance that served 6 files is still pooled, want it recycled after 5")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestJobDeadlineCountsGuestTimeOnly(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{chaosDir}, Concurrency: 1, JobTimeout: 200 * time.Millisecond})
	var events []core.Event
	j, err := e.NewJob(t.Context(), core.FileMeta{Size: -1}, func(ev core.Event) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	// SPIN uses up the 200 ms budget within one call (chaos' call_ms is 300).
	j.Feed([]byte("SPIN"))
	if _, err := j.Finish(); err != nil {
		t.Fatal(err)
	}
	got := findings(events, "chaos")
	if len(got) != 1 || got[0].Detail["reason"] != "job_deadline" {
		t.Errorf("findings = %+v, want one analysis_failed with reason job_deadline", got)
	}
	// The budget is per job: the next one starts with all of it.
	ok := findings(run(t, e, "small", []byte("small file"), 1), "chaos")
	if len(ok) != 1 || ok[0].Kind != "chaos" {
		t.Errorf("findings = %+v, want the chaos finding", ok)
	}
}

// A runaway guest fails only itself: the other modules' findings of the same
// file are still delivered, and the verdict says what they found.
func TestRunawayGuestSparesOtherModules(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir, chaosDir}})
	data := append([]byte("SPIN "), testkit.EICAR()...)
	events := run(t, e, "mixed", data, 1<<20)
	var failed, eicarFound bool
	for _, f := range findings(events, "") {
		failed = failed || f.Module == "chaos" && f.Kind == core.KindAnalysisFailed
		eicarFound = eicarFound || f.Module == "patterns" && f.Rule == "eicar_test_file"
	}
	if !failed || !eicarFound {
		t.Errorf("chaos failed: %v, eicar found: %v; want both", failed, eicarFound)
	}
	if v := verdictOf(t, events); v.Label != core.LabelMalicious || !v.Partial {
		t.Errorf("verdict %s partial=%v, want malicious and partial", v.Label, v.Partial)
	}
}
