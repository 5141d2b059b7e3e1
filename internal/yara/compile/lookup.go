package compile

import (
	"athena/internal/yara/modules"
	"athena/internal/yara/object"
)

// lookupModule finds an importable module.
func lookupModule(name string) (*object.Module, bool) { return modules.Lookup(name) }
