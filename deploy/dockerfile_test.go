package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the repository, the Docker build context, seen from here.
const repoRoot = ".."

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line  int               // where it starts, from 1
	cmd   string            // upper case: FROM, COPY, RUN...
	flags map[string]string // leading --name=value options
	args  []string          // the exec-form array, or the words of the shell form
	text  string            // the arguments as written, without the flags
	exec  bool              // args came from a JSON array
}

func (in instruction) String() string { return fmt.Sprintf("Dockerfile:%d %s", in.line, in.cmd) }

// stage is a FROM and the instructions under it.
type stage struct {
	name   string // AS name, or ""
	image  string
	from   instruction
	instrs []instruction
}

// parseDockerfile reads a Dockerfile into stages. It understands what this
// repository's Dockerfile uses: comments and parser directives, line
// continuations, leading --flags, and the exec (JSON) and shell forms.
func parseDockerfile(file string) ([]*stage, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		stages []*stage
		buf    strings.Builder
		start  int
	)
	flush := func() error {
		text := strings.TrimSpace(buf.String())
		buf.Reset()
		if text == "" {
			return nil
		}
		word, rest, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(word), flags: map[string]string{}}
		rest = strings.TrimSpace(rest)
		for strings.HasPrefix(rest, "--") {
			var flag string
			flag, rest, _ = strings.Cut(rest, " ")
			name, value, _ := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
			if prev, ok := in.flags[name]; ok { // repeatable, as --mount
				value = prev + "\n" + value
			}
			in.flags[name] = value
			rest = strings.TrimSpace(rest)
		}
		in.text = rest
		if strings.HasPrefix(rest, "[") && json.Unmarshal([]byte(rest), &in.args) == nil {
			in.exec = true
		} else {
			in.args = strings.Fields(rest)
		}
		if in.cmd == "FROM" {
			if len(in.args) == 0 {
				return fmt.Errorf("%s: no image", in)
			}
			st := &stage{image: in.args[0], from: in}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "AS") {
				st.name = in.args[2]
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			return fmt.Errorf("%s before the first FROM", in)
		}
		st := stages[len(stages)-1]
		st.instrs = append(st.instrs, in)
		return nil
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") { // also inside a continuation, as Docker does
			continue
		}
		if buf.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = n
		}
		if strings.HasSuffix(trimmed, `\`) {
			buf.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		buf.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if buf.Len() > 0 {
		return nil, fmt.Errorf("%s: ends inside a line continuation", file)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM", file)
	}
	return stages, flush()
}

// workdirAt returns a stage's WORKDIR before instruction i.
func (st *stage) workdirAt(i int) string {
	dir := "/"
	for _, in := range st.instrs[:i] {
		if in.cmd == "WORKDIR" && len(in.args) > 0 {
			if path.IsAbs(in.args[0]) {
				dir = in.args[0]
			} else {
				dir = path.Join(dir, in.args[0])
			}
		}
	}
	return dir
}

// env returns a stage's ENV settings.
func (st *stage) env() map[string]string {
	out := map[string]string{}
	for _, in := range st.instrs {
		if in.cmd != "ENV" {
			continue
		}
		if len(in.args) == 2 && !strings.Contains(in.args[0], "=") { // ENV KEY value
			out[in.args[0]] = in.args[1]
			continue
		}
		for _, kv := range in.args {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

// last returns the last instruction of a kind in a stage.
func (st *stage) last(cmd string) (instruction, bool) {
	for i := len(st.instrs) - 1; i >= 0; i-- {
		if st.instrs[i].cmd == cmd {
			return st.instrs[i], true
		}
	}
	return instruction{}, false
}

// makefile is what the Dockerfile relies on in the Makefile.
type makefile struct {
	targets map[string]bool
	vars    map[string]string // NAME := value, as written
}

func parseMakefile(t *testing.T) makefile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	mk := makefile{targets: map[string]bool{}, vars: map[string]string{}}
	varRE := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*[:?+]?=\s*(.*)$`)
	ruleRE := regexp.MustCompile(`^([^\s:=#][^:=#]*?)\s*:([^=]|$)`)
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\n")
		if m := varRE.FindStringSubmatch(line); m != nil {
			mk.vars[m[1]] = strings.TrimSpace(m[2])
			continue
		}
		if m := ruleRE.FindStringSubmatch(line); m != nil {
			for _, target := range strings.Fields(m[1]) {
				if !strings.HasPrefix(target, ".") {
					mk.targets[target] = true
				}
			}
		}
	}
	return mk
}

// makeTargets returns the targets a shell command passes to make.
func makeTargets(shell string) [][]string {
	var out [][]string
	for _, cmd := range regexp.MustCompile(`&&|\|\||;|\|`).Split(shell, -1) {
		words := strings.Fields(cmd)
		if len(words) == 0 || path.Base(words[0]) != "make" {
			continue
		}
		var targets []string
		for _, w := range words[1:] {
			if !strings.HasPrefix(w, "-") && !strings.Contains(w, "=") {
				targets = append(targets, w)
			}
		}
		out = append(out, targets)
	}
	return out
}

func loadDockerfile(t *testing.T) []*stage {
	t.Helper()
	stages, err := parseDockerfile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return stages
}

// finalStage returns the stage that is the image.
func finalStage(stages []*stage) *stage { return stages[len(stages)-1] }

// dockerUID returns the numeric user the image runs as.
func dockerUID(st *stage) (int64, error) {
	in, ok := st.last("USER")
	if !ok || len(in.args) == 0 {
		return 0, fmt.Errorf("the image stage (FROM %s) sets no USER: it would run as root", st.image)
	}
	user, _, _ := strings.Cut(in.args[0], ":")
	uid, err := strconv.ParseInt(user, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %s: use a numeric user, or Kubernetes' runAsNonRoot cannot verify it", in, in.args[0])
	}
	if uid == 0 {
		return 0, fmt.Errorf("%s: the image runs as root", in)
	}
	return uid, nil
}

func TestDockerfile(t *testing.T) {
	stages := loadDockerfile(t)
	final := finalStage(stages)
	mk := parseMakefile(t)
	ignore := loadDockerignore(t)

	stageIndex := func(name string) int {
		return slices.IndexFunc(stages, func(st *stage) bool { return st.name != "" && st.name == name })
	}

	t.Run("base images are pinned", func(t *testing.T) {
		for i, st := range stages {
			if j := stageIndex(st.image); j >= 0 && j < i {
				continue
			}
			if err := pinned(st.image); err != nil {
				t.Errorf("%s: %v", st.from, err)
			}
			if path.Base(imageRepo(st.image)) == "golang" {
				want := minorVersion(strings.TrimPrefix(goDirective(t), "go"))
				if got := minorVersion(imageTag(st.image)); got != want {
					t.Errorf("%s: Go %s, but go.mod says go %s", st.from, got, want)
				}
			}
		}
	})

	t.Run("COPY sources exist and are in the build context", func(t *testing.T) {
		for _, st := range stages {
			for _, in := range st.instrs {
				if (in.cmd != "COPY" && in.cmd != "ADD") || in.flags["from"] != "" {
					continue
				}
				if len(in.args) < 2 {
					t.Errorf("%s: want SRC... DEST", in)
					continue
				}
				for _, src := range in.args[:len(in.args)-1] {
					if strings.Contains(src, "://") {
						t.Errorf("%s %s: fetch nothing from the network at build time", in, src)
						continue
					}
					rel := path.Clean(strings.TrimPrefix(src, "/"))
					matches, err := filepath.Glob(filepath.Join(repoRoot, filepath.FromSlash(rel)))
					if err != nil || len(matches) == 0 {
						t.Errorf("%s %s: no such file in the repository", in, src)
						continue
					}
					if rel != "." && ignore.ignored(rel) {
						t.Errorf("%s %s: excluded by .dockerignore", in, src)
					}
				}
			}
		}
	})

	t.Run("COPY --from copies build outputs", func(t *testing.T) {
		outputs := map[string]bool{}
		for _, v := range mk.vars {
			outputs[path.Clean(v)] = true
		}
		for i, st := range stages {
			for _, in := range st.instrs {
				from := in.flags["from"]
				if in.cmd != "COPY" || from == "" {
					continue
				}
				j := stageIndex(from)
				if j < 0 || j >= i {
					t.Errorf("%s --from=%s: no earlier stage of that name", in, from)
					continue
				}
				src := stages[j]
				for _, p := range in.args[:len(in.args)-1] {
					rel := strings.TrimPrefix(path.Clean(p), path.Clean(src.workdirAt(len(src.instrs)))+"/")
					if !outputs[rel] {
						t.Errorf("%s %s: %s is not an output the Makefile names (BIN, MODDIR)", in, p, rel)
					}
				}
			}
		}
	})

	t.Run("make targets exist", func(t *testing.T) {
		invoked := false
		for _, st := range stages {
			for _, in := range st.instrs {
				if in.cmd != "RUN" {
					continue
				}
				text := in.text
				if in.exec {
					text = strings.Join(in.args, " ")
				}
				for _, targets := range makeTargets(text) {
					invoked = true
					if len(targets) == 0 {
						t.Errorf("%s: name the make target", in)
					}
					for _, target := range targets {
						if !mk.targets[target] {
							t.Errorf("%s: make %s: no such target in the Makefile", in, target)
						}
					}
				}
			}
		}
		if !invoked {
			t.Error("no RUN make: the Makefile is the one build recipe; the image must use it")
		}
	})

	t.Run("runs as a non-root user", func(t *testing.T) {
		if _, err := dockerUID(final); err != nil {
			t.Error(err)
		}
	})

	t.Run("entrypoint is the athena binary", func(t *testing.T) {
		ep, ok := final.last("ENTRYPOINT")
		if !ok || !ep.exec || len(ep.args) == 0 {
			t.Fatalf("the image needs an exec-form ENTRYPOINT [\"athena\"] (got %q)", ep.text)
		}
		want := []string{ep.args[0]}
		if !path.IsAbs(ep.args[0]) {
			want = nil
			for _, dir := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
				want = append(want, path.Join(dir, ep.args[0]))
			}
		}
		if !slices.ContainsFunc(copyDests(final), func(d string) bool { return slices.Contains(want, d) }) {
			t.Errorf("%s %q: no COPY puts it on the PATH", ep, ep.args[0])
		}
		if cmd, ok := final.last("CMD"); !ok || !cmd.exec || len(cmd.args) == 0 {
			t.Errorf("the image needs an exec-form CMD with the default subcommand")
		}
	})

	t.Run("modules and cache directories", func(t *testing.T) {
		env := final.env()
		modules := env["ATHENA_MODULES"]
		if modules == "" {
			t.Error("no ENV ATHENA_MODULES: athena would look for modules in ./dist/modules")
		} else if !slices.Contains(copyDests(final), path.Clean(modules)) {
			t.Errorf("ATHENA_MODULES=%s is not where a COPY puts the modules", modules)
		}
		var volumes []string
		for _, in := range final.instrs {
			if in.cmd == "VOLUME" {
				for _, v := range in.args {
					volumes = append(volumes, path.Clean(v))
				}
			}
		}
		if dir := env["ATHENA_CACHE_DIR"]; dir == "" || !slices.Contains(volumes, path.Clean(dir)) {
			t.Errorf("ATHENA_CACHE_DIR=%q is not a VOLUME: the compilation cache must be writable", dir)
		}
	})

	t.Run(".dockerignore", func(t *testing.T) {
		// Host builds and the VCS never reach the image.
		for _, p := range []string{"bin/athena", "dist/modules/patterns.wasm", ".git/HEAD"} {
			if !ignore.ignored(p) {
				t.Errorf(".dockerignore lets %s into the build context", p)
			}
		}
		// Every file the build reads does.
		for _, p := range buildInputs(t) {
			if ignore.ignored(p) {
				t.Errorf(".dockerignore excludes %s, which the build needs", p)
			}
		}
	})
}

// copyDests returns where a stage's COPY instructions put files.
func copyDests(st *stage) []string {
	var out []string
	for _, in := range st.instrs {
		if (in.cmd != "COPY" && in.cmd != "ADD") || len(in.args) < 2 {
			continue
		}
		dest := in.args[len(in.args)-1]
		out = append(out, path.Clean(dest))
		if strings.HasSuffix(dest, "/") { // COPY a/b /dir/ puts b in /dir
			for _, src := range in.args[:len(in.args)-1] {
				if !strings.HasSuffix(src, "/") {
					out = append(out, path.Join(dest, path.Base(src)))
				}
			}
		}
	}
	return out
}

// goDirective returns go.mod's go line, as "go1.26.8".
func goDirective(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "go" {
			return "go" + f[1]
		}
	}
	t.Fatal("go.mod has no go line")
	return ""
}

// buildInputs lists, relative to the repository, the files `make build`
// reads: the Makefile and go.mod, every file of every package the binary
// and the module builder compile (host and wasip1), and every source file
// under modules/.
func buildInputs(t *testing.T) []string {
	t.Helper()
	files := []string{"Makefile", "go.mod", "go.sum"}
	list := func(env []string, pkgs ...string) {
		args := append([]string{"list", "-e", "-deps", "-f",
			`{{if not .Standard}}{{.Dir}}{{range .GoFiles}}|{{.}}{{end}}{{range .EmbedFiles}}|{{.}}{{end}}{{range .SFiles}}|{{.}}{{end}}{{end}}`}, pkgs...)
		cmd := exec.Command("go", args...)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", strings.Join(pkgs, " "), err)
		}
		root, err := filepath.Abs(repoRoot)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(out)) {
			parts := strings.Split(strings.TrimSpace(line), "|")
			rel, err := filepath.Rel(root, parts[0])
			if err != nil || strings.HasPrefix(rel, "..") {
				continue // a dependency in the module cache
			}
			for _, f := range parts[1:] {
				files = append(files, filepath.ToSlash(filepath.Join(rel, f)))
			}
		}
	}
	list(nil, "./cmd/athena", "./internal/cmd/modbuild")
	list([]string{"GOOS=wasip1", "GOARCH=wasm"}, "./modules/...")
	// Every source file under modules/ (manifests, .wat), as a clean clone
	// has them: git's view, without its ignored build outputs.
	// Outside a git checkout, every file but built modules.
	cmd := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "modules")
	cmd.Dir = repoRoot
	if out, err := cmd.Output(); err == nil {
		for line := range strings.Lines(string(out)) {
			files = append(files, strings.TrimSpace(line))
		}
	} else {
		err := filepath.WalkDir(filepath.Join(repoRoot, "modules"), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Ext(p) == ".wasm" {
				return err
			}
			rel, err := filepath.Rel(repoRoot, p)
			files = append(files, filepath.ToSlash(rel))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(files)
	return slices.Compact(files)
}

// dockerignore holds .dockerignore's patterns, in order.
type dockerignore struct {
	patterns []ignorePattern
}

type ignorePattern struct {
	segs   []string
	negate bool
}

func loadDockerignore(t *testing.T) dockerignore {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var di dockerignore
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{}
		if strings.HasPrefix(line, "!") {
			p.negate, line = true, strings.TrimSpace(line[1:])
		}
		line = path.Clean(strings.TrimPrefix(line, "/"))
		p.segs = strings.Split(line, "/")
		for _, seg := range p.segs {
			if _, err := path.Match(seg, ""); err != nil {
				t.Fatalf(".dockerignore: %q: %v", line, err)
			}
		}
		di.patterns = append(di.patterns, p)
	}
	return di
}

// ignored reports whether Docker leaves a path (slash-separated, relative to
// the context) out of the build context: the last pattern that matches the
// path or one of its parent directories decides.
func (di dockerignore) ignored(p string) bool {
	segs := strings.Split(path.Clean(p), "/")
	out := false
	for _, pat := range di.patterns {
		for n := 1; n <= len(segs); n++ {
			if matchSegs(pat.segs, segs[:n]) {
				out = !pat.negate
				break
			}
		}
	}
	return out
}

// matchSegs matches path segments against pattern segments, where ** stands
// for any number of segments and the others follow path.Match.
func matchSegs(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if matchSegs(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	ok, _ := path.Match(pat[0], segs[0])
	return ok && matchSegs(pat[1:], segs[1:])
}

func TestDockerignoreMatching(t *testing.T) {
	di := dockerignore{}
	for _, line := range []string{"bin/", "/athena", "**/*.wasm", ".git", "docs", "!docs/keep.md"} {
		p := ignorePattern{}
		if strings.HasPrefix(line, "!") {
			p.negate, line = true, line[1:]
		}
		p.segs = strings.Split(path.Clean(strings.TrimPrefix(line, "/")), "/")
		di.patterns = append(di.patterns, p)
	}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"bin/athena", true},
		{"bin", true},
		{"cmd/athena/main.go", false},
		{"athena", true},
		{"x.wasm", true},
		{"modules/a/b.wasm", true},
		{"modules/a/b.wat", false},
		{".git/HEAD", true},
		{".gitignore", false},
		{"docs/a.md", true},
		{"docs/keep.md", false},
	} {
		if got := di.ignored(tc.path); got != tc.want {
			t.Errorf("ignored(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
