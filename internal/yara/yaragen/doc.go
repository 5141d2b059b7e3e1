// Package yaragen generates a deterministic conformance corpus and YARA rule
// set, and parses and compares scanner output, for differential testing of
// Athena's YARA engine against the reference yara 4.2.3 (/usr/bin/yara).
//
// A differential test writes the corpus (Corpus) and the rules (Rules, or
// Generate for the rules with their features), scans with the reference
// (Reference) and with our engine, parses our output with ParseOutput and
// reports Diff; Coverage and FormatCoverage say which language features got
// hits and misses. Files and rules depend only on Options: the same seed
// gives the same bytes on every run (the package uses its own fixed
// generator; only zip members compressed with Deflate depend on the Go
// release's compress/flate), and adding files leaves earlier files alone.
//
// The corpus holds prose, code, PowerShell, VBScript, JavaScript and batch
// scripts with typical obfuscation, random binaries, well-formed PE32 and
// PE32+ images with imports, zip archives, base64 blobs, UTF-16LE text,
// markers at the start and end and across the 4 KiB and 64 KiB boundaries,
// repeated and overlapping runs ("aaaa", "abab"), tiny and empty files, and
// two sentinel files on which the global rules fail (they match nothing).
// Markers (vocabulary in vocab.go) are planted as is, in other cases, inside
// words, wide, xor-encoded, base64 and base64wide; ghost markers are never
// planted. Rules aim at what was planted (offsets, gaps, values, hashes) or,
// now and then, slightly off it, so each feature gets hits and misses.
//
// What yara 4.2.3 prints, which ParseOutput reads and Format writes:
//
//	RULE PATH                          one line per matching (rule, file)
//	RULE [t1,t2] [a="x",n =5,b=true] PATH   with -g and -m (integers print as "n =5")
//	0xOFFSET:$ID: DATA                 with -s, after the rule line
//
// Offsets are lower-case hex; anonymous strings print as "$". Text and regex
// data prints printable ASCII (0x20-0x7E, including '"' and '\') verbatim
// and other bytes as \xHH (upper case); hex string data prints as upper-case
// pairs separated by spaces; wide, xor and base64 matches print the bytes
// found in the file. Data is cut to 512 bytes without a marker. Private
// strings and private rules never print; global rules print like others.
// The path is the directory argument joined as given ("dir/" gives
// "dir//file"). With -p > 1 the (rule line + its strings) blocks of
// different files interleave in any order.
//
// yara 4.2.3 quirks the generator avoids or the engine must match: a
// regexp match is at most 4096 bytes long (!a is capped, and a match
// starts at every offset where the regexp matches, so /B{600,}/ over 5000
// 'B's gives 4401 matches); `#a in (lo..hi)` fails the whole scan with
// "error: 31" when a match lies before lo (the rules only use lo = 0); a
// hex jump [0] is a syntax error; unreferenced strings are errors; a
// regexp may not mix greedy and lazy quantifiers; in regexps ^ and $ anchor
// at the start and end of the file only (/xyz$/ misses "xyz\n");
// pe.imports compares DLL and function names without regard to case.
package yaragen
