;; lines: an Athena analyzer module (ABI v1, modules/README.md) written by
;; hand in WebAssembly text, to show that the ABI needs nothing from Go.
;;
;; It counts the lines of a text file (newline bytes, plus a final line that
;; has no newline) and the length of the longest line (in bytes, without the
;; newline), and reports them at finish:
;;
;;   {"kind":"lines","severity":"info","offset":0,"detail":{"count":N,"longest":M}}
;;
;; As a streaming demonstration it also reports, during feed and at once, the
;; first line of the file that grows past 4096 bytes:
;;
;;   {"kind":"long_line","severity":"low","offset":O,"detail":{"length":4097}}
;;
;; where O is the file offset of the first byte of that line.
;;
;; Build: wat2wasm -o lines.wasm lines.wat
;;        athena modules pack --manifest manifest.json lines.wasm lines.wasm
;;
;; Memory layout (two 64 KiB pages, never grown):
;;
;;   0      .. 255     unused, so that pointer 0 is never a valid buffer
;;   256    .. 511     constant JSON fragments (data segments below)
;;   512    .. 543     scratch for integer-to-decimal conversion
;;   1024   .. 2047    the finding being built for athena.emit
;;   65536  .. 131071  the transfer buffer returned by alloc (max_feed bytes)
;;
;; All per-file state lives in wasm globals, not in memory, so nothing the
;; host writes can disturb it. Offsets and counts are i64: files may be larger
;; than 4 GiB.
(module
  (import "athena" "emit" (func $emit (param i32 i32)))

  (memory (export "memory") 2)

  ;; ---- layout constants ----------------------------------------------------
  (global $BUF i32 (i32.const 65536))     ;; transfer buffer
  (global $BUF_CAP i32 (i32.const 65536)) ;; its size: the manifest's max_feed
  (global $OUT i32 (i32.const 1024))      ;; finding under construction
  (global $DIGITS i32 (i32.const 512))    ;; 20 bytes hold any u64 in decimal

  ;; Status codes (ABI v1).
  (global $OK i32 (i32.const 0))
  (global $BAD_INPUT i32 (i32.const 2))
  (global $BAD_STATE i32 (i32.const 3))

  ;; A line longer than this many bytes is reported as long_line.
  (global $LONG i64 (i64.const 4096))

  ;; ---- constant JSON fragments ------------------------------------------------
  ;; One data segment per fragment, each at its own offset; the lengths are
  ;; the byte counts of the strings as they land in memory (escapes resolved).
  (data (i32.const 256) ;; 63 bytes
    "{\"kind\":\"lines\",\"severity\":\"info\",\"offset\":0,\"detail\":{\"count\":")
  (data (i32.const 320) ",\"longest\":") ;; 11 bytes
  (data (i32.const 336) "}}") ;; 2 bytes
  (data (i32.const 352) ;; 46 bytes
    "{\"kind\":\"long_line\",\"severity\":\"low\",\"offset\":")
  (data (i32.const 400) ",\"detail\":{\"length\":") ;; 20 bytes

  ;; ---- per-file state --------------------------------------------------------
  (global $in_file (mut i32) (i32.const 0))    ;; begin seen, finish not yet
  (global $pos (mut i64) (i64.const 0))        ;; file offset of the next byte
  (global $count (mut i64) (i64.const 0))      ;; newline bytes seen
  (global $cur (mut i64) (i64.const 0))        ;; length of the current line so far
  (global $line_start (mut i64) (i64.const 0)) ;; file offset of the current line
  (global $longest (mut i64) (i64.const 0))    ;; longest finished line
  (global $long_done (mut i32) (i32.const 0))  ;; long_line already emitted

  ;; Write cursor into the finding under construction.
  (global $at (mut i32) (i32.const 0))

  ;; ---- JSON building -------------------------------------------------------

  ;; $put appends len bytes from src to the finding.
  (func $put (param $src i32) (param $len i32)
    (block $done
      (loop $copy
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store8 (global.get $at) (i32.load8_u (local.get $src)))
        (global.set $at (i32.add (global.get $at) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $copy))))

  ;; $put_u64 appends v, unsigned, in decimal. Digits are produced from the
  ;; least significant end into the scratch area, right to left, then copied.
  (func $put_u64 (param $v i64)
    (local $p i32)
    (local.set $p (i32.add (global.get $DIGITS) (i32.const 20)))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) ;; '0'
          (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (call $put (local.get $p)
      (i32.sub (i32.add (global.get $DIGITS) (i32.const 20)) (local.get $p))))

  ;; $send hands the finding built so far to the host.
  (func $send
    (call $emit (global.get $OUT) (i32.sub (global.get $at) (global.get $OUT))))

  (func $emit_lines (param $count i64) (param $longest i64)
    (global.set $at (global.get $OUT))
    (call $put (i32.const 256) (i32.const 63))
    (call $put_u64 (local.get $count))
    (call $put (i32.const 320) (i32.const 11))
    (call $put_u64 (local.get $longest))
    (call $put (i32.const 336) (i32.const 2))
    (call $send))

  (func $emit_long_line (param $offset i64) (param $length i64)
    (global.set $at (global.get $OUT))
    (call $put (i32.const 352) (i32.const 46))
    (call $put_u64 (local.get $offset))
    (call $put (i32.const 400) (i32.const 20))
    (call $put_u64 (local.get $length))
    (call $put (i32.const 336) (i32.const 2))
    (call $send))

  ;; $in_buf reports whether [ptr, ptr+len) lies inside the transfer buffer.
  (func $in_buf (param $ptr i32) (param $len i32) (result i32)
    (i32.and
      (i32.ge_u (local.get $ptr) (global.get $BUF))
      (i32.and
        (i32.le_u (local.get $len) (global.get $BUF_CAP))
        (i32.le_u
          (i32.sub (local.get $ptr) (global.get $BUF))
          (i32.sub (global.get $BUF_CAP) (local.get $len))))))

  ;; ---- exports ---------------------------------------------------------------

  ;; Nothing to initialise: the data segments and globals are set up by
  ;; instantiation. The export exists because the host calls it.
  (func (export "_initialize"))

  ;; alloc returns the fixed transfer buffer, or 0 when len does not fit in it
  ;; (the host then fails the file with BAD_INPUT from begin, see below).
  (func (export "alloc") (param $len i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $len) (global.get $BUF_CAP))
      (then (i32.const 0))
      (else (global.get $BUF))))

  ;; begin starts a file. The metadata is not needed and not read, but its
  ;; range is checked: metadata the host could not place in the buffer (alloc
  ;; returned 0) is BAD_INPUT.
  (func (export "begin") (param $ptr i32) (param $len i32) (result i32)
    (if (i32.and
          (i32.ne (local.get $len) (i32.const 0))
          (i32.eqz (call $in_buf (local.get $ptr) (local.get $len))))
      (then (return (global.get $BAD_INPUT))))
    (global.set $in_file (i32.const 1))
    (global.set $pos (i64.const 0))
    (global.set $count (i64.const 0))
    (global.set $cur (i64.const 0))
    (global.set $line_start (i64.const 0))
    (global.set $longest (i64.const 0))
    (global.set $long_done (i32.const 0))
    (global.get $OK))

  ;; $check_long reports the current line, cur bytes long so far, if it is
  ;; the first of the file to grow past $LONG bytes. The finding is the same
  ;; whenever it is made during the feed call that reaches byte $LONG + 1:
  ;; the host relays a call's findings when the call returns.
  (func $check_long (param $cur i64)
    (if (i32.and
          (i64.gt_u (local.get $cur) (global.get $LONG))
          (i32.eqz (global.get $long_done)))
      (then
        (global.set $long_done (i32.const 1))
        (call $emit_long_line (global.get $line_start)
          (i64.add (global.get $LONG) (i64.const 1))))))

  ;; feed scans one chunk. A line may span any number of chunks: only the
  ;; globals carry it from one call to the next. The loop over the bytes only
  ;; looks for newlines, eight bytes at a time where it can; a line's length is taken from positions when it ends
  ;; or when the chunk does ($seg is where the current line's bytes in this
  ;; chunk start).
  (func (export "feed") (param $ptr i32) (param $len i32) (result i32)
    (local $p i32)
    (local $end i32)
    (local $seg i32)
    (local $cur i64)
    (local $x i64)
    (if (i32.eqz (global.get $in_file))
      (then (return (global.get $BAD_STATE))))
    (if (i32.eqz (call $in_buf (local.get $ptr) (local.get $len)))
      (then (return (global.get $BAD_INPUT))))
    (local.set $p (local.get $ptr))
    (local.set $seg (local.get $ptr))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (loop $byte
        ;; Eight bytes at a time while they hold no newline: x is zero in
        ;; the bytes that are '\n', and (x - 0x01..01) & ~x & 0x80..80 is
        ;; not zero exactly when some byte of x is. Most lines are longer than
        ;; eight bytes, and a byte at a time is where wasm is slowest.
        (if (i32.le_u (i32.add (local.get $p) (i32.const 8)) (local.get $end))
          (then
            (local.set $x
              (i64.xor (i64.load (local.get $p)) (i64.const 0x0A0A0A0A0A0A0A0A)))
            (if (i64.eqz
                  (i64.and
                    (i64.and
                      (i64.sub (local.get $x) (i64.const 0x0101010101010101))
                      (i64.xor (local.get $x) (i64.const -1)))
                    (i64.const 0x8080808080808080)))
              (then
                (local.set $p (i32.add (local.get $p) (i32.const 8)))
                (br $byte)))))
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 10)) ;; '\n'
          (then
            ;; End of a line: report it if long, count it, keep the longest,
            ;; start the next one at the byte after this newline.
            (local.set $cur
              (i64.add (global.get $cur)
                (i64.extend_i32_u (i32.sub (local.get $p) (local.get $seg)))))
            (call $check_long (local.get $cur))
            (global.set $count (i64.add (global.get $count) (i64.const 1)))
            (if (i64.gt_u (local.get $cur) (global.get $longest))
              (then (global.set $longest (local.get $cur))))
            (global.set $cur (i64.const 0))
            (local.set $seg (i32.add (local.get $p) (i32.const 1)))
            (global.set $line_start
              (i64.add (global.get $pos)
                (i64.extend_i32_u (i32.sub (local.get $seg) (local.get $ptr)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $byte)))
    ;; The chunk ends inside a line: carry its length.
    (global.set $cur
      (i64.add (global.get $cur)
        (i64.extend_i32_u (i32.sub (local.get $end) (local.get $seg)))))
    (call $check_long (global.get $cur))
    (global.set $pos
      (i64.add (global.get $pos) (i64.extend_i32_u (local.get $len))))
    (global.get $OK))

  ;; finish reports the totals. A final line without a newline counts as a
  ;; line; an empty file has none.
  (func (export "finish") (result i32)
    (local $count i64)
    (local $longest i64)
    (if (i32.eqz (global.get $in_file))
      (then (return (global.get $BAD_STATE))))
    (global.set $in_file (i32.const 0))
    (local.set $count (global.get $count))
    (local.set $longest (global.get $longest))
    (if (i64.ne (global.get $cur) (i64.const 0))
      (then
        (local.set $count (i64.add (local.get $count) (i64.const 1)))
        (if (i64.gt_u (global.get $cur) (local.get $longest))
          (then (local.set $longest (global.get $cur))))))
    (call $emit_lines (local.get $count) (local.get $longest))
    (global.get $OK))
)
