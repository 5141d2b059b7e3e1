package yaragen

// markers are the strings the corpus plants and the rules look for. Each is
// planted into some files only, in one of several encodings, so rules that
// look for them get a mix of hits and misses.
var markers = []string{
	"VirtualAlloc", "VirtualAllocEx", "CreateRemoteThread", "WriteProcessMemory",
	"GetProcAddress", "LoadLibraryA", "ShellExecuteW", "NtUnmapViewOfSection",
	"Invoke-Expression", "FromBase64String", "DownloadString", "Net.WebClient",
	"WScript.Shell", "CreateObject", "certutil", "regsvr32", "mshta.exe",
	"rundll32.exe", "bitsadmin", "schtasks", "AutoOpen", "Document_Open",
	"SeDebugPrivilege", "athena_probe", "kittenlover", "EICAR-STANDARD",
	"ANTIVIRUS-TEST", "fromCharCode", "unescape", "powershell",
	"UserInitMprLogonScript", "CurrentVersion\\Run",
}

// ghosts look like markers but are never planted: rules that need them miss.
var ghosts = []string{
	"NeverPlantedToken", "Zanzibar_Quokka", "QuantumFluxCapacitor",
	"PurpleElephantRun", "no-such-marker-77", "MagentaWalrus",
}

// words make prose.
var words = []string{
	"the", "gateway", "stream", "analysis", "file", "report", "system",
	"network", "value", "engine", "module", "quickly", "green", "river",
	"window", "packet", "server", "client", "buffer", "random", "simple",
	"yellow", "market", "garden", "signal", "record", "paper", "silver",
	"orange", "planet", "forest", "mirror", "ticket", "number", "letter",
	"winter", "summer", "travel", "and", "of", "a", "to", "is", "was",
}

var hosts = []string{
	"update.example.com", "cdn.example.org", "files.example.net",
	"login.example.com", "mirror.example.org",
}

var emailUsers = []string{"alice", "bob", "carol.d", "ops-team", "noreply"}

// sigs are binary signatures: a head and a tail planted with a gap of 0 to
// maxGap random bytes between them, for hex strings with jumps.
var sigs = [][2][]byte{
	{{0xE8, 0x4C, 0x9A, 0x17}, {0x5D, 0xC3, 0x90, 0x90}},
	{{0x31, 0xC0, 0x50, 0x68}, {0x2F, 0x2F, 0x73, 0x68}},
	{{0xDE, 0xAD, 0xBE, 0xEF}, {0xCA, 0xFE, 0xBA, 0xBE}},
	{{0x4D, 0x53, 0x43, 0x46}, {0x00, 0x01, 0x02, 0x03}},
	{{0xFC, 0x48, 0x83, 0xE4}, {0xF0, 0xE8, 0xC0, 0x00}},
	{{0x8B, 0x45, 0x08, 0x89}, {0x45, 0xFC, 0x8B, 0x4D}},
	{{0x7A, 0x69, 0x70, 0x21}, {0x21, 0x70, 0x69, 0x7A}},
	{{0xAB, 0xCD, 0xEF, 0x01}, {0x23, 0x45, 0x67, 0x89}},
}

const maxGap = 24

// peDLLs are the import tables fake PE files pick from.
var peDLLs = []struct {
	name  string
	funcs []string
}{
	{"kernel32.dll", []string{"VirtualAlloc", "VirtualProtect", "GetProcAddress", "LoadLibraryA",
		"CreateRemoteThread", "WriteProcessMemory", "ExitProcess", "Sleep", "CreateFileW"}},
	{"user32.dll", []string{"MessageBoxA", "GetForegroundWindow", "SetWindowsHookExA"}},
	{"advapi32.dll", []string{"RegOpenKeyExA", "RegSetValueExA", "AdjustTokenPrivileges"}},
	{"ws2_32.dll", []string{"connect", "socket", "WSAStartup", "send", "recv"}},
	{"wininet.dll", []string{"InternetOpenA", "InternetReadFile"}},
}

var peSectionNames = []string{".rdata", ".data", ".rsrc", ".reloc", "UPX1", ".pdata", ".tls", "CODE", ".x64"}
