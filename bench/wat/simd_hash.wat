;; A 16-lane xxh32-style hash with i32x4: four vector accumulators over 4 MiB in
;; 64-byte stripes (acc = rotl(acc + lane * P2, 13) * P1), 8 passes. The input is filled
;; once per instance with xorshift64, so calls repeat.
(module
  (memory 65)
  (global $filled (mut i32) (i32.const 0))

  (func $fold (param $h i64) (param $v v128) (result i64)
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (i32x4.extract_lane 0 (local.get $v)))) (i64.const 0x100000001b3)))
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (i32x4.extract_lane 1 (local.get $v)))) (i64.const 0x100000001b3)))
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (i32x4.extract_lane 2 (local.get $v)))) (i64.const 0x100000001b3)))
    (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (i32x4.extract_lane 3 (local.get $v)))) (i64.const 0x100000001b3)))

  (func $fill (local $p i32) (local $x i64)
    (local.set $x (i64.const 0x9E3779B97F4A7C15))
    (loop $fill
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
      (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
      (i64.store (local.get $p) (local.get $x))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br_if $fill (i32.lt_u (local.get $p) (i32.const 0x400000)))))

  (func $round (param $acc v128) (param $lane v128) (result v128) (local $x v128)
    (local.set $x (i32x4.add (local.get $acc) (i32x4.mul (local.get $lane) (v128.const i32x4 0x85EBCA77 0x85EBCA77 0x85EBCA77 0x85EBCA77))))
    (i32x4.mul
      (v128.or (i32x4.shl (local.get $x) (i32.const 13)) (i32x4.shr_u (local.get $x) (i32.const 19)))
      (v128.const i32x4 0x9E3779B1 0x9E3779B1 0x9E3779B1 0x9E3779B1)))

  (func (export "run") (result i64)
    (local $p i32) (local $pass i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (if (i32.eqz (global.get $filled)) (then (call $fill) (global.set $filled (i32.const 1))))
    (local.set $a0 (v128.const i32x4 1 2 3 4))
    (local.set $a1 (v128.const i32x4 5 6 7 8))
    (local.set $a2 (v128.const i32x4 9 10 11 12))
    (local.set $a3 (v128.const i32x4 13 14 15 16))
    (loop $pass
      (local.set $p (i32.const 0))
      (loop $stripe
        (local.set $a0 (call $round (local.get $a0) (v128.load offset=0 (local.get $p))))
        (local.set $a1 (call $round (local.get $a1) (v128.load offset=16 (local.get $p))))
        (local.set $a2 (call $round (local.get $a2) (v128.load offset=32 (local.get $p))))
        (local.set $a3 (call $round (local.get $a3) (v128.load offset=48 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br_if $stripe (i32.lt_u (local.get $p) (i32.const 0x400000))))
      (local.set $pass (i32.add (local.get $pass) (i32.const 1)))
      (br_if $pass (i32.lt_u (local.get $pass) (i32.const 8))))
    (call $fold (call $fold (call $fold (call $fold (i64.const 0xcbf29ce484222325)
      (local.get $a0)) (local.get $a1)) (local.get $a2)) (local.get $a3)))
)
