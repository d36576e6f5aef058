;; Recursive Fibonacci: calls, compares and branches, no memory.
;; run() = fib(30) = 832040.
(module
  (func $fib (param $n i64) (result i64)
    (if (result i64) (i64.lt_u (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else
        (i64.add
          (call $fib (i64.sub (local.get $n) (i64.const 1)))
          (call $fib (i64.sub (local.get $n) (i64.const 2)))))))

  (func (export "run") (result i64)
    (call $fib (i64.const 30))))
