;; XXH64 (seed 0) over 16 MiB of linear memory that the module first fills with an
;; xorshift64 generator: integer multiply/rotate throughput and sequential loads/stores.
;; Every call refills the memory, so calls are repeatable.
(module
  (memory (export "memory") 257)

  (func $round (param $acc i64) (param $lane i64) (result i64)
    (i64.mul
      (i64.rotl
        (i64.add (local.get $acc) (i64.mul (local.get $lane) (i64.const 0xC2B2AE3D27D4EB4F)))
        (i64.const 31))
      (i64.const 0x9E3779B185EBCA87)))

  (func $merge (param $h i64) (param $v i64) (result i64)
    (i64.add
      (i64.mul
        (i64.xor (local.get $h) (call $round (i64.const 0) (local.get $v)))
        (i64.const 0x9E3779B185EBCA87))
      (i64.const 0x85EBCA77C2B2AE63)))

  (func (export "run") (result i64)
    (local $p i32) (local $end i32) (local $x i64)
    (local $v1 i64) (local $v2 i64) (local $v3 i64) (local $v4 i64) (local $h i64)
    (local.set $end (i32.const 0x1000000))

    ;; Fill: xorshift64, one i64 at a time.
    (local.set $x (i64.const 0x9E3779B97F4A7C15))
    (loop $fill
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
      (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
      (i64.store (local.get $p) (local.get $x))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br_if $fill (i32.lt_u (local.get $p) (local.get $end))))

    ;; XXH64 stripes: four lanes of 8 bytes per 32-byte stripe.
    (local.set $v1 (i64.add (i64.const 0x9E3779B185EBCA87) (i64.const 0xC2B2AE3D27D4EB4F)))
    (local.set $v2 (i64.const 0xC2B2AE3D27D4EB4F))
    (local.set $v3 (i64.const 0))
    (local.set $v4 (i64.sub (i64.const 0) (i64.const 0x9E3779B185EBCA87)))
    (local.set $p (i32.const 0))
    (loop $stripe
      (local.set $v1 (call $round (local.get $v1) (i64.load offset=0 (local.get $p))))
      (local.set $v2 (call $round (local.get $v2) (i64.load offset=8 (local.get $p))))
      (local.set $v3 (call $round (local.get $v3) (i64.load offset=16 (local.get $p))))
      (local.set $v4 (call $round (local.get $v4) (i64.load offset=24 (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 32)))
      (br_if $stripe (i32.lt_u (local.get $p) (local.get $end))))

    ;; Convergence, length, avalanche (the length is a multiple of 32: no tail).
    (local.set $h
      (i64.add
        (i64.add (i64.rotl (local.get $v1) (i64.const 1)) (i64.rotl (local.get $v2) (i64.const 7)))
        (i64.add (i64.rotl (local.get $v3) (i64.const 12)) (i64.rotl (local.get $v4) (i64.const 18)))))
    (local.set $h (call $merge (local.get $h) (local.get $v1)))
    (local.set $h (call $merge (local.get $h) (local.get $v2)))
    (local.set $h (call $merge (local.get $h) (local.get $v3)))
    (local.set $h (call $merge (local.get $h) (local.get $v4)))
    (local.set $h (i64.add (local.get $h) (i64.extend_i32_u (local.get $end))))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 33))))
    (local.set $h (i64.mul (local.get $h) (i64.const 0xC2B2AE3D27D4EB4F)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))))
    (local.set $h (i64.mul (local.get $h) (i64.const 0x165667B19E3779F9)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))
    (local.get $h)))
