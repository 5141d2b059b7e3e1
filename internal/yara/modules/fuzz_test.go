package modules

import (
	"regexp"
	"testing"
	"time"

	"athena/internal/yara/object"
)

// FuzzPE feeds arbitrary bytes to the pe module, whole and as a prefix of
// a larger file, and calls every function: nothing may panic or run away.
func FuzzPE(f *testing.F) {
	for _, name := range []string{"dll32", "dll64", "full32", "imports64", "resources", "skewed", "versionInfo", "namedResources", "delayed32", "delayed64"} {
		f.Add(peSpecs()[name].build())
	}
	f.Add([]byte("MZ"))
	f.Add([]byte{})
	re := regexp.MustCompile("a")
	f.Fuzz(func(t *testing.T, data []byte) {
		// Bounded work: no input may take anywhere near this long.
		watchdog := time.AfterFunc(10*time.Second, func() { panic("pe: input took over 10s") })
		defer watchdog.Stop()
		for _, in := range []*object.Input{
			{Data: data, Size: int64(len(data))},
			{Data: data[:len(data)/2], Size: int64(len(data))},
		} {
			fields := peModule.Load(in)
			callAll(fields, []object.Value{int64(1), []byte("kernel32.dll"), re, int64(3), 1.5})
			mathModule.Load(in)
			hashModule.Load(in)
		}
	})
}

// callAll calls every function in v, at any depth, with arguments of the
// kinds its overloads take, drawn from pool.
func callAll(v object.Value, pool []object.Value) {
	switch v := v.(type) {
	case object.Fields:
		for _, fv := range v {
			callAll(fv, pool)
		}
	case []object.Value:
		for _, e := range v {
			callAll(e, pool)
		}
	case object.Funcs:
		for _, fn := range v {
			// Every overload takes at most 3 arguments; the kinds do not
			// matter for robustness, the functions check them.
			for _, a := range pool {
				fn([]object.Value{a, a, a})
			}
		}
	}
}
