// Command modbuild builds every analyzer module under modules/ into a
// directory of packed .wasm files (make modules).
package main

import (
	"flag"
	"fmt"
	"os"

	"athena/internal/modbuild"
)

func main() {
	src := flag.String("src", "modules", "directory of module sources")
	out := flag.String("o", "dist/modules", "output directory")
	flag.Parse()
	built, err := modbuild.BuildAll(*src, *out)
	for _, p := range built {
		fmt.Println(p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
