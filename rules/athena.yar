// Athena's built-in rules: the rule set engines use when no other is
// configured (--rules, or the ATHENA_RULES object-store bucket).
//
// Each rule may set meta severity ("info", "low", "medium", "high",
// "critical"; default "medium") and description: the pattern module copies
// them into its findings.

rule eicar_test_file
{
    meta:
        severity = "high"
        description = "EICAR anti-virus test file"
    strings:
        // Spelt in hex so that no file of Athena's source holds it whole.
        $eicar = { 58 35 4F 21 50 25 40 41 50 5B 34 5C 50 5A 58 35
            34 28 50 5E 29 37 43 43 29 37 7D 24 45 49 43 41
            52 2D 53 54 41 4E 44 41 52 44 2D 41 4E 54 49 56
            49 52 55 53 2D 54 45 53 54 2D 46 49 4C 45 21 24
            48 2B 48 2A }
    condition:
        $eicar
}

rule powershell_encoded_command
{
    meta:
        severity = "medium"
        description = "PowerShell run with a base64-encoded command line, a common way to hide a script"
    strings:
        $a = "-EncodedCommand" nocase
    condition:
        $a
}

rule powershell_iex_frombase64
{
    meta:
        severity = "high"
        description = "PowerShell Invoke-Expression of a base64-decoded payload"
    strings:
        $a = /(IEX|Invoke-Expression)[^\n]{0,96}FromBase64String/ nocase
    condition:
        $a
}

rule wscript_shell
{
    meta:
        severity = "low"
        description = "Windows Script Host shell object, used by scripts to run programs"
    strings:
        $a = "WScript.Shell" nocase
    condition:
        $a
}

rule mimikatz_logonpasswords
{
    meta:
        severity = "high"
        description = "Mimikatz command that dumps credentials from LSASS memory"
    strings:
        $a = "sekurlsa::logonpasswords" nocase ascii wide
    condition:
        $a
}

rule bash_reverse_shell
{
    meta:
        severity = "high"
        description = "interactive bash shell redirected to a TCP connection (reverse shell)"
    strings:
        $a = /bash -i >& ?\/dev\/tcp\//
    condition:
        $a
}

rule pe_dos_stub
{
    meta:
        severity = "info"
        description = "Windows PE executable: MZ header followed by the DOS stub message"
    strings:
        $stub = "This program cannot be run in DOS mode"
    condition:
        uint16(0) == 0x5A4D and $stub in (64..256)
}

rule elf_header
{
    meta:
        severity = "info"
        description = "ELF executable or object header"
    condition:
        uint32(0) == 0x464C457F and uint8(6) == 1
}
