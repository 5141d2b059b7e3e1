package cache

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Key names one cached verdict: the file's content and the pipeline that
// judged it. A verdict is only ever served for the exact pipeline that
// produced it, so a module or rule-set update, which changes the
// fingerprint, can never be answered with a verdict from before it.
type Key struct {
	// SHA256 is the file's sha256, 64 lower-case hex digits.
	SHA256 string
	// Fingerprint identifies the analysis pipeline (Pipeline.Fingerprint):
	// 1 to 128 characters from [A-Za-z0-9._-].
	Fingerprint string
}

// maxFingerprintLen bounds Key.Fingerprint.
const maxFingerprintLen = 128

// maxTagLen bounds a tag.
const maxTagLen = 256

// Validate reports whether k is well formed; the error wraps ErrInvalidKey.
func (k Key) Validate() error {
	if !isSHA256(k.SHA256) {
		return fmt.Errorf("%w: sha256 %q is not 64 lower-case hex digits", ErrInvalidKey, clip(k.SHA256))
	}
	if !isFingerprint(k.Fingerprint) {
		return fmt.Errorf("%w: fingerprint %q is not 1-%d characters of [A-Za-z0-9._-]",
			ErrInvalidKey, clip(k.Fingerprint), maxFingerprintLen)
	}
	return nil
}

// String returns "fingerprint/sha256", for logs.
func (k Key) String() string { return k.Fingerprint + "/" + k.SHA256 }

// Byte classes of keys, by table: validation is on every lookup's path.
var (
	hexLower [256]bool // [0-9a-f]
	fpChar   [256]bool // [A-Za-z0-9._-]
)

func init() {
	for c := range 256 {
		b := byte(c)
		hexLower[c] = '0' <= b && b <= '9' || 'a' <= b && b <= 'f'
		fpChar[c] = '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '.' || b == '_' || b == '-'
	}
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if !hexLower[s[i]] {
			return false
		}
	}
	return true
}

func isFingerprint(s string) bool {
	if len(s) == 0 || len(s) > maxFingerprintLen {
		return false
	}
	for i := range len(s) {
		if !fpChar[s[i]] {
			return false
		}
	}
	return true
}

// validateTag checks a tag: 1 to 256 printable ASCII characters, no spaces.
func validateTag(tag string) error {
	if len(tag) == 0 || len(tag) > maxTagLen {
		return fmt.Errorf("%w: tag %q is not 1-%d characters long", ErrInvalidTag, clip(tag), maxTagLen)
	}
	for i := range len(tag) {
		if c := tag[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: tag %q has a character outside printable ASCII", ErrInvalidTag, clip(tag))
		}
	}
	return nil
}

// clip shortens untrusted strings quoted in errors.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Redis key layout (see the package documentation).
const (
	keyPrefix      = "athena:v1:verdict:"
	tagPrefix      = "athena:v1:tag:"
	invalidateChan = "athena:v1:invalidate"
)

// redisKey is the Redis key of k's value: athena:v1:verdict:<fingerprint>:<sha256>.
func redisKey(k Key) string { return keyPrefix + k.Fingerprint + ":" + k.SHA256 }

// tagKey is the Redis key of a tag's sorted set: athena:v1:tag:<tag>.
func tagKey(tag string) string { return tagPrefix + tag }

// ModuleTag is the tag of every verdict a module version took part in:
// "module:<name>@<version>".
func ModuleTag(name, version string) string { return "module:" + name + "@" + version }

// RulesTag is the tag of every verdict a rule-set version took part in:
// "rules:<version>".
func RulesTag(version string) string { return "rules:" + version }

// FingerprintTag is the tag Put adds to every verdict: "fp:<fingerprint>".
func FingerprintTag(fingerprint string) string { return "fp:" + fingerprint }

// Module is one analyzer module of a pipeline.
type Module struct {
	Name    string
	Version string
}

// Pipeline describes what decides a verdict besides the file itself. Two
// pipelines with the same modules, rule set and config, in any order, have
// the same fingerprint; any difference gives another one.
type Pipeline struct {
	// Modules are the analyzer modules that run, with their versions.
	Modules []Module
	// RuleSet is the version of the rules the modules use.
	RuleSet string
	// Config holds the settings that change results (budgets, thresholds,
	// enabled checks), not those that only change speed or logging.
	Config map[string]string
}

// Fingerprint returns 32 lower-case hex digits (128 bits of a sha256 over
// a canonical, unambiguous encoding of p), a valid Key.Fingerprint.
func (p Pipeline) Fingerprint() string {
	h := sha256.New()
	buf := []byte("athena-pipeline-v1\n")
	mods := slices.Clone(p.Modules)
	slices.SortFunc(mods, func(a, b Module) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	for _, m := range mods {
		buf = append(buf, "module "...)
		buf = strconv.AppendQuote(buf, m.Name)
		buf = append(buf, ' ')
		buf = strconv.AppendQuote(buf, m.Version)
		buf = append(buf, '\n')
	}
	buf = append(buf, "rules "...)
	buf = strconv.AppendQuote(buf, p.RuleSet)
	buf = append(buf, '\n')
	for _, k := range slices.Sorted(maps.Keys(p.Config)) {
		buf = append(buf, "config "...)
		buf = strconv.AppendQuote(buf, k)
		buf = append(buf, ' ')
		buf = strconv.AppendQuote(buf, p.Config[k])
		buf = append(buf, '\n')
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Tags returns the tags to Put a verdict of this pipeline with: one
// ModuleTag per module and the RulesTag (when RuleSet is set), so that an
// operator can invalidate by module or by rule set. Put adds the
// FingerprintTag itself.
func (p Pipeline) Tags() []string {
	tags := make([]string, 0, len(p.Modules)+1)
	for _, m := range p.Modules {
		tags = append(tags, ModuleTag(m.Name, m.Version))
	}
	if p.RuleSet != "" {
		tags = append(tags, RulesTag(p.RuleSet))
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}
