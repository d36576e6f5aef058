;; Exercised by `test=fuel` in the kernel and by the host test that compares: the same
;; module and fuel must stop at the same operator everywhere.
(module
  (global $count (export "count") (mut i64) (i64.const 0))
  (func $work (param i64) (result i64)
    (i64.add (i64.mul (local.get 0) (i64.const 3)) (i64.const 1)))
  (func (export "run") (local $x i64)
    (loop $l
      (local.set $x (call $work (local.get $x)))
      (global.set $count (i64.add (global.get $count) (i64.const 1)))
      (br_if $l (i64.ne (local.get $x) (i64.const 0)))
      (br $l))))
