package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	"athena/internal/core"
)

// words runs one job over data and returns the words the words guest
// reported, and the job's pipeline fingerprint.
func words(t *testing.T, e *Engine, data string) ([]string, string) {
	t.Helper()
	var got []string
	j, err := e.NewJob(t.Context(), core.FileMeta{Name: "f"}, func(ev core.Event) {
		if ev.Type == core.EventFinding && ev.Finding.Kind == "word" {
			got = append(got, ev.Finding.Detail["word"].(string))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	fp := j.Pipeline().Fingerprint()
	if err := j.Feed([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Finish(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got, fp
}

func TestModuleWithoutSettingDoesNotRun(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{wordsDir}})
	if got, _ := words(t, e, "alpha beta"); len(got) != 0 {
		t.Fatalf("a module without its setting ran: %v", got)
	}
	if err := e.Configure(t.Context(), Setting{Kind: "words", Version: "v1", Data: []byte("alpha")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := words(t, e, "alpha beta"); !slices.Equal(got, []string{"alpha"}) {
		t.Fatalf("after Configure: %v, want [alpha]", got)
	}
}

func TestSettingAppliesToNewJobsOnly(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{wordsDir},
		Settings: []Setting{{Kind: "words", Version: "v1", Data: []byte("alpha")}}})
	got, fp1 := words(t, e, "alpha beta")
	if !slices.Equal(got, []string{"alpha"}) {
		t.Fatalf("v1: %v", got)
	}
	if e.Pipeline().RuleSet != "" || e.Pipeline().Config["setting.words"] != "v1" {
		t.Fatalf("pipeline does not name the setting: %+v", e.Pipeline())
	}

	// A job started on v1 finishes on v1 after v2 is applied.
	var inFlight []string
	j, err := e.NewJob(t.Context(), core.FileMeta{Name: "old"}, func(ev core.Event) {
		if ev.Type == core.EventFinding && ev.Finding.Kind == "word" {
			inFlight = append(inFlight, ev.Finding.Detail["word"].(string))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Configure(t.Context(), Setting{Kind: "words", Version: "v2", Data: []byte("beta")}); err != nil {
		t.Fatal(err)
	}
	j.Feed([]byte("alpha beta"))
	if _, err := j.Finish(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inFlight, []string{"alpha"}) {
		t.Errorf("job in flight saw %v, want its own setting's [alpha]", inFlight)
	}
	got, fp2 := words(t, e, "alpha beta")
	if !slices.Equal(got, []string{"beta"}) {
		t.Errorf("new job after v2: %v, want [beta]", got)
	}
	if fp1 == fp2 {
		t.Error("the fingerprint did not change with the setting")
	}
	// Instances of v1 are closed once returned: only v2 ones stay idle.
	md := moduleNamed(t, e, "words")
	md.mu.Lock()
	defer md.mu.Unlock()
	for _, in := range md.idle {
		if in.st.Version != "v2" {
			t.Errorf("idle instance configured with %s", in.st.Version)
		}
	}
}

func TestRejectedSettingKeepsTheOldOne(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{wordsDir},
		Settings: []Setting{{Kind: "words", Version: "v1", Data: []byte("alpha")}}})
	err := e.Configure(context.Background(), Setting{Kind: "words", Version: "bad", Data: []byte("REJECT me")})
	if err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("Configure of a refused setting: %v", err)
	}
	if v := e.Settings()["words"]; v != "v1" {
		t.Fatalf("current setting %q after a rejected one, want v1", v)
	}
	if got, _ := words(t, e, "alpha"); !slices.Equal(got, []string{"alpha"}) {
		t.Fatalf("after the rejection: %v", got)
	}
}
