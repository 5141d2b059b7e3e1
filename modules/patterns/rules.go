package patterns

import (
	"fmt"
	"strings"

	"athena/internal/core"
)

// eicar is the EICAR anti-virus test file. It is put together at init so
// that no file of Athena's source holds it whole and trips a scanner.
var eicar = strings.Join([]string{
	`X5O!P%@AP[4\PZX54(P^)7CC)7}$`,
	"EICAR-STANDARD-",
	"ANTIVIRUS-TEST-",
	"FILE!$H+H*",
}, "")

// DefaultRules returns the built-in rules, which New uses. The slice is
// new on every call.
func DefaultRules() []Rule {
	return []Rule{
		{
			Name:        "eicar_test_file",
			Pattern:     eicar,
			Severity:    core.High,
			Description: "EICAR anti-virus test file",
		},
		{
			Name:        "powershell_encoded_command",
			Pattern:     "-EncodedCommand",
			Severity:    core.Medium,
			Description: "PowerShell run with a base64-encoded command line, a common way to hide a script",
		},
		{
			Name:        "powershell_iex_frombase64",
			Pattern:     "49 45 58 [0-96] " + hexText("FromBase64String"), // IEX ... FromBase64String
			Hex:         true,
			Severity:    core.High,
			Description: "PowerShell Invoke-Expression of a base64-decoded payload",
		},
		{
			Name:        "wscript_shell",
			Pattern:     "WScript.Shell",
			Severity:    core.Low,
			Description: "Windows Script Host shell object, used by scripts to run programs",
		},
		{
			Name:        "mimikatz_logonpasswords",
			Pattern:     "sekurlsa::logonpasswords",
			Severity:    core.High,
			Description: "Mimikatz command that dumps credentials from LSASS memory",
		},
		{
			Name:        "bash_reverse_shell",
			Pattern:     "bash -i >& /dev/tcp/",
			Severity:    core.High,
			Description: "interactive bash shell redirected to a TCP connection (reverse shell)",
		},
		{
			Name:        "pe_dos_stub",
			Pattern:     "4D 5A ?? 00 [64-192] " + hexText("This program cannot be run in DOS mode"),
			Hex:         true,
			Severity:    core.Info,
			Description: "Windows PE executable: MZ header followed by the DOS stub message",
		},
		{
			Name:        "elf_header",
			Pattern:     "7F 45 4C 46 0? 0? 01", // magic, class, data, version 1
			Hex:         true,
			Severity:    core.Info,
			Description: "ELF executable or object header",
		},
	}
}

// hexText spells s as a hex pattern, for rules that mix text with
// wildcards or jumps.
func hexText(s string) string {
	var b strings.Builder
	for i := range len(s) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%02X", s[i])
	}
	return b.String()
}
