package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"athena/internal/manifest"
)

func runModules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "pack" {
		return runModulesPack(args[1:], stdout, stderr)
	}
	fs := newFlagSet("modules", "modules [flags]\n       athena modules pack --manifest FILE IN.wasm OUT.wasm", stderr)
	var ef engineFlags
	ef.register(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	eng, err := newEngine(ctx, ef, stderr, nil)
	if err != nil {
		return err
	}
	defer eng.Close(context.Background())
	mods := eng.Modules()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(mods)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSIZE\tCRITICAL\tPRE-WARMED\tWANTS\tTRUSTED")
	for _, m := range mods {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%v\t%v\n", m.Name, m.Version, humanBytes(int64(m.Size)),
			m.Critical, m.Idle, m.Wants, m.Trusted)
	}
	return tw.Flush()
}

func runModulesPack(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("modules pack", "modules pack --manifest FILE IN.wasm OUT.wasm", stderr)
	manPath := fs.String("manifest", "", "the module's manifest.json (modules/README.md)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 || *manPath == "" {
		fs.Usage()
		return exitError
	}
	man, err := os.ReadFile(*manPath)
	if err != nil {
		return err
	}
	wasm, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	packed, err := manifest.Pack(wasm, man)
	if err != nil {
		return err
	}
	if err := os.WriteFile(fs.Arg(1), packed, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s packed\n", fs.Arg(1), humanBytes(int64(len(packed))))
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
