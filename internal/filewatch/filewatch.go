// Package filewatch notices that files changed without reading them: by
// their names, sizes and modification times, checked at an interval. The
// rule files (--rules) and the archive password list (--archive-passwords)
// are watched this way.
package filewatch

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Stamp describes paths by name, size and modification time; a directory
// by the entries keep accepts (all regular files when keep is nil).
func Stamp(paths []string, keep func(name string) bool) string {
	var b strings.Builder
	note := func(name string, fi fs.FileInfo) {
		fmt.Fprintf(&b, "%q %d %d\n", name, fi.Size(), fi.ModTime().UnixNano())
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(&b, "%q missing\n", p)
			continue
		}
		if !fi.IsDir() {
			note(p, fi)
			continue
		}
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			if info, err := e.Info(); err == nil && !e.IsDir() && (keep == nil || keep(e.Name())) {
				note(filepath.Join(p, e.Name()), info)
			}
		}
	}
	return b.String()
}

// Poll calls changed every interval at which the Stamp of paths differs
// from the last one seen; the first check (one interval after the call)
// always calls it. It returns when ctx ends.
func Poll(ctx context.Context, paths []string, keep func(string) bool, interval time.Duration, changed func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	seen := ""
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if st := Stamp(paths, keep); first || st != seen {
			first, seen = false, st
			changed()
		}
	}
}
