;; The bundled demo: a WASI command that greets, counts primes below 100 000 with a
;; sieve in linear memory, prints the count, and exits 0.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 3)
  (data (i32.const 64) "Hello from WebAssembly on bare metal!\nprimes below 100000: ")
  ;; iovec at 0: (ptr, len); bytes written at 8; number text at 32..48
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  ;; Writes the decimal digits of $n ending at offset 47, then a newline at 47; returns the start.
  (func $digits (param $n i32) (result i32) (local $at i32)
    (local.set $at (i32.const 47))
    (i32.store8 (local.get $at) (i32.const 10))
    (loop $next
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $next (local.get $n)))
    (local.get $at))
  (func (export "_start") (local $i i32) (local $j i32) (local $count i32) (local $start i32)
    ;; sieve bytes live at 65536..165536: 0 = prime candidate
    (local.set $i (i32.const 2))
    (loop $outer
      (if (i32.eqz (i32.load8_u (i32.add (i32.const 65536) (local.get $i))))
        (then
          (local.set $count (i32.add (local.get $count) (i32.const 1)))
          (local.set $j (i32.mul (local.get $i) (local.get $i)))
          (block $done
            (loop $mark
              (br_if $done (i32.ge_u (local.get $j) (i32.const 100000)))
              (i32.store8 (i32.add (i32.const 65536) (local.get $j)) (i32.const 1))
              (local.set $j (i32.add (local.get $j) (local.get $i)))
              (br $mark)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (i32.const 100000))))
    (call $print (i32.const 64) (i32.const 59))
    (local.set $start (call $digits (local.get $count)))
    (call $print (local.get $start) (i32.sub (i32.const 48) (local.get $start))))
)
