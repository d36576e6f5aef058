;; Fill 1 Mi i32 with an LCG, quicksort them (Hoare partition, middle pivot), and return
;; a checksum of the sorted array (-1 if it is not sorted). Every call refills the array,
;; so calls are repeatable.
(module
  (memory (export "memory") 65)

  ;; Sorts the i32 elements at byte addresses lo..=hi (both multiples of 4).
  (func $qsort (param $lo i32) (param $hi i32)
    (local $i i32) (local $j i32) (local $pivot i32) (local $t i32)
    (block $done
      (loop $again
        (br_if $done (i32.ge_s (local.get $lo) (local.get $hi)))
        (local.set $pivot
          (i32.load
            (i32.add (local.get $lo)
              (i32.shl (i32.shr_u (i32.sub (local.get $hi) (local.get $lo)) (i32.const 3)) (i32.const 2)))))
        (local.set $i (i32.sub (local.get $lo) (i32.const 4)))
        (local.set $j (i32.add (local.get $hi) (i32.const 4)))
        (block $partitioned
          (loop $scan
            (loop $up
              (local.set $i (i32.add (local.get $i) (i32.const 4)))
              (br_if $up (i32.lt_s (i32.load (local.get $i)) (local.get $pivot))))
            (loop $down
              (local.set $j (i32.sub (local.get $j) (i32.const 4)))
              (br_if $down (i32.gt_s (i32.load (local.get $j)) (local.get $pivot))))
            (br_if $partitioned (i32.ge_s (local.get $i) (local.get $j)))
            (local.set $t (i32.load (local.get $i)))
            (i32.store (local.get $i) (i32.load (local.get $j)))
            (i32.store (local.get $j) (local.get $t))
            (br $scan)))
        ;; Halves lo..=j and j+4..=hi: recurse into the smaller, loop on the larger.
        (if (i32.lt_u (i32.sub (local.get $j) (local.get $lo)) (i32.sub (local.get $hi) (local.get $j)))
          (then
            (call $qsort (local.get $lo) (local.get $j))
            (local.set $lo (i32.add (local.get $j) (i32.const 4))))
          (else
            (call $qsort (i32.add (local.get $j) (i32.const 4)) (local.get $hi))
            (local.set $hi (local.get $j))))
        (br $again))))

  (func (export "run") (result i64)
    (local $p i32) (local $end i32) (local $x i32) (local $prev i32) (local $v i32) (local $h i64)
    (local.set $end (i32.const 0x400000)) ;; 1 Mi elements * 4 bytes

    (local.set $x (i32.const 12345))
    (loop $fill
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
      (i32.store (local.get $p) (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 16))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br_if $fill (i32.lt_u (local.get $p) (local.get $end))))

    (call $qsort (i32.const 0) (i32.sub (local.get $end) (i32.const 4)))

    ;; h = h * 31 + a[k] over the array; -1 if some a[k-1] > a[k].
    (local.set $prev (i32.const 0x80000000))
    (local.set $p (i32.const 0))
    (loop $check
      (local.set $v (i32.load (local.get $p)))
      (if (i32.gt_s (local.get $prev) (local.get $v)) (then (return (i64.const -1))))
      (local.set $h (i64.add (i64.mul (local.get $h) (i64.const 31)) (i64.extend_i32_s (local.get $v))))
      (local.set $prev (local.get $v))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br_if $check (i32.lt_u (local.get $p) (local.get $end))))
    (local.get $h)))
