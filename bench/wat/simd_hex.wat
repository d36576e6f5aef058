;; Hex encoding with swizzle and shuffle: 1 MiB of input becomes 2 MiB of lowercase hex
;; (nibbles looked up in a 16-byte table, then interleaved), 8 passes; the checksum is
;; the i64x2 sum of every output vector. The input is filled once per instance.
(module
  (memory 49)
  (global $filled (mut i32) (i32.const 0))

  (func $fill (local $p i32) (local $x i64)
    (local.set $x (i64.const 0x9E3779B97F4A7C15))
    (loop $fill
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
      (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
      (i64.store (local.get $p) (local.get $x))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br_if $fill (i32.lt_u (local.get $p) (i32.const 0x100000)))))

  (func (export "run") (result i64)
    (local $p i32) (local $q i32) (local $pass i32)
    (local $v v128) (local $hi v128) (local $lo v128) (local $out0 v128) (local $out1 v128) (local $sum v128)
    (if (i32.eqz (global.get $filled)) (then (call $fill) (global.set $filled (i32.const 1))))
    (loop $pass
      (local.set $p (i32.const 0))
      (local.set $q (i32.const 0x100000))
      (loop $encode
        (local.set $v (v128.load (local.get $p)))
        (local.set $hi (i8x16.swizzle (v128.const i8x16 48 49 50 51 52 53 54 55 56 57 97 98 99 100 101 102)
          (i8x16.shr_u (local.get $v) (i32.const 4))))
        (local.set $lo (i8x16.swizzle (v128.const i8x16 48 49 50 51 52 53 54 55 56 57 97 98 99 100 101 102)
          (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))))
        (local.set $out0 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $hi) (local.get $lo)))
        (local.set $out1 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $hi) (local.get $lo)))
        (v128.store (local.get $q) (local.get $out0))
        (v128.store offset=16 (local.get $q) (local.get $out1))
        (local.set $sum (i64x2.add (local.get $sum) (i64x2.add (local.get $out0) (local.get $out1))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $q (i32.add (local.get $q) (i32.const 32)))
        (br_if $encode (i32.lt_u (local.get $p) (i32.const 0x100000))))
      (local.set $pass (i32.add (local.get $pass) (i32.const 1)))
      (br_if $pass (i32.lt_u (local.get $pass) (i32.const 8))))
    (i64.add (i64x2.extract_lane 0 (local.get $sum)) (i64x2.extract_lane 1 (local.get $sum))))
)
