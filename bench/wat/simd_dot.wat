;; f32 dot product with f32x4: 256 Ki floats times 256 Ki floats, 64 passes, four
;; vector accumulators (16 lanes) that fold into the checksum. The inputs are filled
;; once per instance (xorshift32, values in [-0.5, 0.5)), so calls repeat.
(module
  (memory 33)
  (global $filled (mut i32) (i32.const 0))

  (func $fold (param $h i64) (param $v v128) (result i64)
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (i32x4.extract_lane 0 (local.get $v)))) (i64.const 0x100000001b3)))
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (i32x4.extract_lane 1 (local.get $v)))) (i64.const 0x100000001b3)))
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (i32x4.extract_lane 2 (local.get $v)))) (i64.const 0x100000001b3)))
    (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (i32x4.extract_lane 3 (local.get $v)))) (i64.const 0x100000001b3)))

  (func $fill (local $p i32) (local $x i32)
    (local.set $x (i32.const 0x2545F491))
    (loop $fill
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 13))))
      (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 5))))
      (f32.store (local.get $p)
        (f32.sub
          (f32.mul (f32.convert_i32_u (i32.shr_u (local.get $x) (i32.const 8))) (f32.const 0x1p-24))
          (f32.const 0.5)))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br_if $fill (i32.lt_u (local.get $p) (i32.const 0x200000)))))

  (func (export "run") (result i64)
    (local $p i32) (local $pass i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (if (i32.eqz (global.get $filled)) (then (call $fill) (global.set $filled (i32.const 1))))
    (loop $pass
      (local.set $p (i32.const 0))
      (loop $dot
        (local.set $a0 (f32x4.add (local.get $a0)
          (f32x4.mul (v128.load offset=0 (local.get $p)) (v128.load offset=0x100000 (local.get $p)))))
        (local.set $a1 (f32x4.add (local.get $a1)
          (f32x4.mul (v128.load offset=16 (local.get $p)) (v128.load offset=0x100010 (local.get $p)))))
        (local.set $a2 (f32x4.add (local.get $a2)
          (f32x4.mul (v128.load offset=32 (local.get $p)) (v128.load offset=0x100020 (local.get $p)))))
        (local.set $a3 (f32x4.add (local.get $a3)
          (f32x4.mul (v128.load offset=48 (local.get $p)) (v128.load offset=0x100030 (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br_if $dot (i32.lt_u (local.get $p) (i32.const 0x100000))))
      (local.set $pass (i32.add (local.get $pass) (i32.const 1)))
      (br_if $pass (i32.lt_u (local.get $pass) (i32.const 64))))
    (call $fold (call $fold (call $fold (call $fold (i64.const 0xcbf29ce484222325)
      (local.get $a0)) (local.get $a1)) (local.get $a2)) (local.get $a3)))
)
