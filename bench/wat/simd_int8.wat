;; int8 dot products, the core of quantized GEMM: two 1 MiB i8 vectors, 16 passes,
;; widened to i16 and multiplied-accumulated with i32x4.dot_i16x8_s (low and high
;; halves in their own accumulators), and the same with relaxed SIMD's
;; i32x4.relaxed_dot_i8x16_i7x16_add_s on 7-bit second operands (whose results are the
;; same in both relaxed modes: no pair sum saturates). Filled once per instance.
(module
  (memory 33)
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
      (br_if $fill (i32.lt_u (local.get $p) (i32.const 0x200000)))))

  (func (export "run") (result i64)
    (local $p i32) (local $pass i32) (local $a v128) (local $b v128)
    (local $low v128) (local $high v128) (local $relaxed v128)
    (if (i32.eqz (global.get $filled)) (then (call $fill) (global.set $filled (i32.const 1))))
    (loop $pass
      (local.set $p (i32.const 0))
      (loop $dot
        (local.set $a (v128.load (local.get $p)))
        (local.set $b (v128.load offset=0x100000 (local.get $p)))
        (local.set $low (i32x4.add (local.get $low) (i32x4.dot_i16x8_s
          (i16x8.extend_low_i8x16_s (local.get $a)) (i16x8.extend_low_i8x16_s (local.get $b)))))
        (local.set $high (i32x4.add (local.get $high) (i32x4.dot_i16x8_s
          (i16x8.extend_high_i8x16_s (local.get $a)) (i16x8.extend_high_i8x16_s (local.get $b)))))
        (local.set $relaxed (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $a)
          (v128.and (local.get $b) (v128.const i8x16 127 127 127 127 127 127 127 127 127 127 127 127 127 127 127 127))
          (local.get $relaxed)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br_if $dot (i32.lt_u (local.get $p) (i32.const 0x100000))))
      (local.set $pass (i32.add (local.get $pass) (i32.const 1)))
      (br_if $pass (i32.lt_u (local.get $pass) (i32.const 16))))
    (call $fold (call $fold (call $fold (i64.const 0xcbf29ce484222325)
      (local.get $low)) (local.get $high)) (local.get $relaxed)))
)
