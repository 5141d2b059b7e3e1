package office

import (
	"regexp"
	"sort"
	"strings"
)

// Macro triage: which procedures run by themselves and which keywords do
// something a document should not (olevba's lists, trimmed).

// autoExecNames are procedure names Word, Excel and PowerPoint run on
// their own (open, close, new document, content change...).
var autoExecNames = []string{
	"AutoExec", "AutoOpen", "AutoClose", "AutoExit", "AutoNew",
	"Auto_Open", "Auto_Close", "Auto_Exec", "Auto_Exit", "Auto_New",
	"Document_Open", "Document_Close", "Document_New", "Document_BeforeClose",
	"Document_ContentControlOnEnter", "Document_ContentControlOnExit",
	"DocumentOpen", "DocumentBeforeClose", "DocumentChange",
	"Workbook_Open", "Workbook_Close", "Workbook_Activate", "Workbook_BeforeClose",
	"Workbook_Deactivate", "Workbook_WindowActivate",
	"Worksheet_Activate", "Worksheet_Change", "Worksheet_Calculate", "Worksheet_SelectionChange",
	"App_WorkbookOpen", "App_DocumentOpen", "App_NewDocument",
	"UserForm_Initialize", "UserForm_Activate",
	"Presentation_Open", "AutoOpenPresentation",
	"InkPicture1_Painted", "InkEdit1_GotFocus", "Frame1_Layout", "Image1_MouseMove",
}

// suspiciousKeyword is a keyword and what it suggests.
type suspiciousKeyword struct {
	word   string
	what   string
	danger bool // executes or downloads: with an auto-exec macro the file is high
}

var suspiciousKeywords = []suspiciousKeyword{
	{"Shell", "runs an executable or a system command", true},
	{"WScript.Shell", "runs an executable or a system command", true},
	{"Shell.Application", "runs an executable or a system command", true},
	{"ShellExecute", "runs an executable or a system command", true},
	{"PowerShell", "runs PowerShell", true},
	{"cmd.exe", "runs the command interpreter", true},
	{"mshta", "runs HTML applications", true},
	{"certutil", "downloads or decodes with certutil", true},
	{"regsvr32", "loads code with regsvr32", true},
	{"rundll32", "loads code with rundll32", true},
	{"URLDownloadToFile", "downloads a file", true},
	{"URLDownloadToFileA", "downloads a file", true},
	{"XMLHTTP", "makes HTTP requests", true},
	{"WinHttpRequest", "makes HTTP requests", true},
	{"InternetOpenUrl", "makes HTTP requests", true},
	{"Net.WebClient", "downloads with .NET", true},
	{"ADODB.Stream", "writes binary files", false},
	{"SaveToFile", "writes binary files", false},
	{"CreateObject", "creates COM objects", false},
	{"GetObject", "gets COM objects", false},
	{"CallByName", "calls functions by name (obfuscation)", false},
	{"Win32_Process", "starts processes through WMI", true},
	{"VirtualAlloc", "allocates executable memory", true},
	{"VirtualAllocEx", "allocates executable memory", true},
	{"RtlMoveMemory", "copies memory (shellcode)", true},
	{"CreateThread", "starts threads (shellcode)", true},
	{"CreateRemoteThread", "injects into processes", true},
	{"WriteProcessMemory", "injects into processes", true},
	{"EnumSystemLanguageGroupsA", "runs callbacks (shellcode)", true},
	{"Lib", "declares DLL functions", false},
	{"Environ", "reads environment variables", false},
	{"Kill", "deletes files", false},
	{"StrReverse", "reverses strings (obfuscation)", false},
	{"ExecuteExcel4Macro", "runs Excel 4 macros", true},
	{"MacroOptions", "hides macros", false},
	{"Application.Run", "runs other macros", false},
	{"VBProject", "changes VBA code", false},
	{"VBComponents", "changes VBA code", false},
	{"AccessVBOM", "disables VBA protection", true},
	{"Chr", "builds strings from character codes (obfuscation)", false},
	{"ChrW", "builds strings from character codes (obfuscation)", false},
	{"ChrB", "builds strings from character codes (obfuscation)", false},
}

var (
	autoExecRe = wordRegexp(autoExecNames)
	suspectRe  = wordRegexp(func() []string {
		w := make([]string, len(suspiciousKeywords))
		for i, k := range suspiciousKeywords {
			w[i] = k.word
		}
		return w
	}())
	declareRe = regexp.MustCompile(`(?i)\bDeclare\b`)
	chrCallRe = regexp.MustCompile(`(?i)\bChr[WB]?\$?\s*\(`)
	// Comment lines are not code; VBA comments start with ' or Rem.
	commentRe = regexp.MustCompile(`(?im)^\s*('|rem\s).*$`)
)

func wordRegexp(words []string) *regexp.Regexp {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = regexp.QuoteMeta(w)
	}
	// Longest first so "WScript.Shell" wins over "Shell".
	sort.Slice(q, func(i, j int) bool { return len(q[i]) > len(q[j]) })
	return regexp.MustCompile(`(?i)\b(` + strings.Join(q, "|") + `)\b`)
}

// macroScan is what the keyword scan found in a project's source.
type macroScan struct {
	AutoExec   map[string][]string // canonical name -> modules
	Suspicious map[string][]string // canonical keyword -> modules
	ChrCalls   int
}

func newMacroScan() *macroScan {
	return &macroScan{AutoExec: map[string][]string{}, Suspicious: map[string][]string{}}
}

// add scans one module's source.
func (s *macroScan) add(module string, src []byte) {
	code := commentRe.ReplaceAll(src, nil)
	addTo := func(m map[string][]string, key string) {
		l := m[key]
		if len(l) > 0 && l[len(l)-1] == module || len(l) >= 20 {
			return
		}
		m[key] = append(l, module)
	}
	for _, w := range autoExecRe.FindAll(code, 200) {
		addTo(s.AutoExec, canonical(string(w), autoExecNames))
	}
	for _, w := range suspectRe.FindAll(code, 1000) {
		k := canonical(string(w), nil)
		if strings.EqualFold(k, "Lib") && !declareRe.Match(code) {
			continue
		}
		addTo(s.Suspicious, k)
	}
	s.ChrCalls += len(chrCallRe.FindAllIndex(code, 100000))
}

// canonical returns the spelling of w in names (or the keyword list).
func canonical(w string, names []string) string {
	if names == nil {
		for _, k := range suspiciousKeywords {
			if strings.EqualFold(k.word, w) {
				return k.word
			}
		}
		return w
	}
	for _, n := range names {
		if strings.EqualFold(n, w) {
			return n
		}
	}
	return w
}

// dangerous reports whether a keyword executes or downloads.
func dangerous(word string) bool {
	for _, k := range suspiciousKeywords {
		if k.word == word {
			return k.danger
		}
	}
	return false
}

func describe(word string) string {
	for _, k := range suspiciousKeywords {
		if k.word == word {
			return k.what
		}
	}
	return ""
}

func sortedKeys(m map[string][]string) []string {
	k := make([]string, 0, len(m))
	for w := range m {
		k = append(k, w)
	}
	sort.Strings(k)
	return k
}
