package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"athena/internal/corpus"
)

func TestWriteInstream(t *testing.T) {
	tests := []struct {
		name, in string
		chunk    int
		want     string
	}{
		{"empty", "", 4, "zINSTREAM\x00\x00\x00\x00\x00"},
		{"one chunk", "abc", 4, "zINSTREAM\x00\x00\x00\x00\x03abc\x00\x00\x00\x00"},
		{"exact chunks", "abcdefgh", 4, "zINSTREAM\x00\x00\x00\x00\x04abcd\x00\x00\x00\x04efgh\x00\x00\x00\x00"},
		{"short last chunk", "abcdef", 4, "zINSTREAM\x00\x00\x00\x00\x04abcd\x00\x00\x00\x02ef\x00\x00\x00\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeInstream(&b, strings.NewReader(tt.in), tt.chunk); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		name, reply, want string
		wantErr           bool
		clamdErr          bool
	}{
		{"ok", "stream: OK\x00", "", false, false},
		{"found", "stream: bench_marker_alpha_1_a.UNOFFICIAL FOUND\x00", "bench_marker_alpha_1_a.UNOFFICIAL", false, false},
		{"found without z", "stream: Eicar-Signature FOUND\n", "Eicar-Signature", false, false},
		{"size limit", "INSTREAM size limit exceeded. ERROR\x00", "", true, true},
		{"garbage", "hello\x00", "", true, false},
		{"empty", "", "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReply([]byte(tt.reply))
			if got != tt.want || (err != nil) != tt.wantErr || errors.Is(err, errClamd) != tt.clamdErr {
				t.Errorf("parseReply(%q) = %q, %v; want %q, error %v (clamd error %v)", tt.reply, got, err, tt.want, tt.wantErr, tt.clamdErr)
			}
		})
	}
}

// fakeClamd decodes INSTREAM commands as clamd does and answers FOUND when
// the stream holds "EVIL", OK otherwise.
func fakeClamd(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				cmd := make([]byte, len("zINSTREAM\x00"))
				if _, err := io.ReadFull(conn, cmd); err != nil || string(cmd) != "zINSTREAM\x00" {
					io.WriteString(conn, "UNKNOWN COMMAND\x00")
					return
				}
				var data []byte
				for {
					var n uint32
					if err := binary.Read(conn, binary.BigEndian, &n); err != nil {
						return
					}
					if n == 0 {
						break
					}
					chunk := make([]byte, n)
					if _, err := io.ReadFull(conn, chunk); err != nil {
						return
					}
					data = append(data, chunk...)
				}
				if bytes.Contains(data, []byte("EVIL")) {
					io.WriteString(conn, "stream: Fake.Evil FOUND\x00")
				} else {
					io.WriteString(conn, "stream: OK\x00")
				}
			}()
		}
	}()
	return l.Addr().String()
}

func TestInstreamAll(t *testing.T) {
	addr := fakeClamd(t)
	dir := t.TempDir()
	var paths []string
	for i, content := range []string{"clean", strings.Repeat("x", 3*instreamChunk-2) + "EVIL", "", "more clean", "EVIL"} {
		p := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := instreamAll(ctx, addr, paths, 3)
	if res.Errors != 0 || res.Detected != 2 {
		t.Errorf("instreamAll: %d detected, %d errors (%v); want 2, 0", res.Detected, res.Errors, res.FirstErr)
	}
}

func TestYaraHexToNDB(t *testing.T) {
	tests := []struct{ in, want string }{
		{"4D 5A ?? 4? ?F [0-2] ( 01 02 | 03 ) FF", "4d5a??4??f{0-2}(0102|03)ff"},
		{"41 42 [3] 43 44", "4142{3-3}4344"},
	}
	for _, tt := range tests {
		if got, err := yaraHexToNDB(tt.in); got != tt.want || err != nil {
			t.Errorf("yaraHexToNDB(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"41 ( 42", "41 ) 42", "41 | 42", "41 XY", "41 [2-1] 42", "41 ( 42 [1-2] | 43 )"} {
		if got, err := yaraHexToNDB(bad); err == nil {
			t.Errorf("yaraHexToNDB(%q) = %q, no error", bad, got)
		}
	}
}

func TestRegexpToNDB(t *testing.T) {
	tests := []struct{ in, want string }{
		{`bench_ab12cd_(alpha|beta|[0-9]{2,4})\.xyz`, "62656e63685f61623132636d5f{2-5}2e78797a"},
		{`DELTA\-X[0-9]{1,3}Y`, "44454c54412d58{1-3}59"},
		{`Token\.[0-9]{2,4}`, "546f6b656e2e"}, // a gap at the end is dropped
	}
	tests[0].want = strings.Replace(tests[0].want, "636d", "6364", 1)
	for _, tt := range tests {
		if got, err := regexpToNDB(tt.in); got != tt.want || err != nil {
			t.Errorf("regexpToNDB(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`a.b`, `ab*`, `(ab`, `[a-z]{2}`, `[0-9]{3,1}`} {
		if got, err := regexpToNDB(bad); err == nil {
			t.Errorf("regexpToNDB(%q) = %q, no error", bad, got)
		}
	}
}

// TestNormalizeSig: the first cases are signatures ClamAV 1.4.6 refused
// ("Problem adding signature"), checked by hand with clamscan -d.
func TestNormalizeSig(t *testing.T) {
	tests := []struct{ in, want string }{
		{"425e9cf81b71a?7d5c??d7??5b72{0-8}c?(3157|6b)1536", "425e9cf81b71a?7d5c??d7??5b72{2-11}1536"},
		{"55727ae?d?2?{2-3}55{2-3}b8{2-8}ada031", "55727a{11-19}ada031"},
		{"560d0097(4467|04)e1{0-6}{1-5}7e1d6779c8aefa38", "560d0097{3-14}7e1d6779c8aefa38"},
		{"5507{0-3}??f7{0-5}331763278e10(aa1b|88)????ab0af331", "5507{2-10}331763278e10{3-4}ab0af331"},
		{"4142(4344|4546)4748", "4142(4344|4546)4748"},
		{"41424344", "41424344"},
		{"4142{1-2}4344", "4142{1-2}4344"},
	}
	for _, tt := range tests {
		if got, err := normalizeSig(tt.in); got != tt.want || err != nil {
			t.Errorf("normalizeSig(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if got, err := normalizeSig("41{1-2}42"); err == nil {
		t.Errorf("normalizeSig(41{1-2}42) = %q, no error (nothing fixed is left)", got)
	}
}

func TestSimplifySig(t *testing.T) {
	got, ok := simplifySig("x:0:*:4142{1-2}434445(46|47)??48")
	if want := "x:0:*:434445"; got != want || !ok {
		t.Errorf("simplifySig = %q, %v; want %q, true", got, ok, want)
	}
	if _, ok := simplifySig("x:0:*:41424344"); ok {
		t.Error("simplifySig of a fixed signature: changed")
	}
}

var (
	ndbLineRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+:0:\*:([0-9a-f?]|\{[0-9]+-[0-9]+\}|\(([0-9a-f]{2})+(\|([0-9a-f]{2})+)+\))+$`)
	ldbLineRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+;Engine:81-255,Target:0;0;([0-9a-f]{2})+::i(wa?)?$`)
)

// TestBuildSigs checks the syntax of every signature of a generated rule
// set: hex only, ClamAV's jumps and alternations, one name per line.
func TestBuildSigs(t *testing.T) {
	strs, err := corpus.RuleStrings(1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	db := buildSigs(strs)
	if db.Stats.Skipped != 0 {
		t.Errorf("%d strings skipped", db.Stats.Skipped)
	}
	if db.Stats.Signatures < len(strs) || db.Stats.Signatures > 2*len(strs) {
		t.Errorf("%d signatures for %d strings", db.Stats.Signatures, len(strs))
	}
	names := map[string]bool{}
	for _, line := range db.NDB {
		if !ndbLineRE.MatchString(line) {
			t.Errorf("bad .ndb line %q", line)
		}
		name, _, _ := strings.Cut(line, ":")
		if names[name] {
			t.Errorf("duplicate name %q", name)
		}
		names[name] = true
		sig := line[strings.LastIndexByte(line, ':')+1:]
		if strings.HasPrefix(sig, "{") || strings.HasSuffix(sig, "}") {
			t.Errorf(".ndb line %q starts or ends with a jump", line)
		}
	}
	for _, line := range db.LDB {
		if !ldbLineRE.MatchString(line) {
			t.Errorf("bad .ldb line %q", line)
		}
	}
	dir := t.TempDir()
	if err := db.write(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bench.ndb"))
	if err != nil || strings.Count(string(b), "\n") != len(db.NDB) {
		t.Errorf("bench.ndb: %d lines, %v; want %d", strings.Count(string(b), "\n"), err, len(db.NDB))
	}
}

func TestParseStat(t *testing.T) {
	st, err := parseStat("1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 3 4 20 0 1 0 100 1000 10")
	if err != nil {
		t.Fatal(err)
	}
	if want := (procStat{ppid: 1, utime: 250, stime: 75, cutime: 3, cstime: 4}); st != want {
		t.Errorf("parseStat = %+v, want %+v", st, want)
	}
	if _, err := parseStat("1234 (x) S 1"); err == nil {
		t.Error("parseStat of a short line: no error")
	}
	if _, err := treeTicks(os.Getpid()); err != nil {
		t.Errorf("treeTicks(self): %v", err)
	}
}

func TestCountMatches(t *testing.T) {
	m, f := countMatches([]byte("r1 /c/b\n0x10:$a: x\nr2 /c/b\nr1 /c/a\n"), "/c")
	if m != 3 || !slices.Equal(f, []string{"a", "b"}) {
		t.Errorf("countMatches = %d, %q; want 3, [a b]", m, f)
	}
}

func TestMeasureRedis(t *testing.T) {
	srv, err := startRedis(t.Context(), "redis-server", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	ops, err := measureRedis(t.Context(), srv.url, 200)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"get": 200, "get_many": 20, "put": 1000}
	if len(ops) != len(want) {
		t.Fatalf("got %d ops %+v, want %d", len(ops), ops, len(want))
	}
	for _, o := range ops {
		if o.Count != want[o.Op] || o.P50MS <= 0 || o.P99MS < o.P50MS || o.Command == "" {
			t.Errorf("%s: %+v, want %d calls and 0 < p50 <= p99", o.Op, o, want[o.Op])
		}
	}
	var md bytes.Buffer
	printTable(&md, Report{Redis: &RedisInfo{Version: "v", TargetMS: redisTargetMS, Ops: ops}})
	if !strings.Contains(md.String(), "| get_many | MGET") {
		t.Errorf("summary has no Redis table:\n%s", md.String())
	}
}
