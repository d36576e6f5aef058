;; The n-body simulation of the Computer Language Benchmarks Game: the Sun and the four
;; gas giants, 100_000 steps of 0.01, returning the final energy's bits. f64 add, mul,
;; div and sqrt, loads and stores. Every call starts from the initial state again.
;;
;; Body i sits at byte 56 * i: x y z vx vy vz mass (f64).
(module
  (memory 1)

  (func $set_body (param $p i32)
      (param $x f64) (param $y f64) (param $z f64)
      (param $vx f64) (param $vy f64) (param $vz f64) (param $mass f64)
    (f64.store offset=0 (local.get $p) (local.get $x))
    (f64.store offset=8 (local.get $p) (local.get $y))
    (f64.store offset=16 (local.get $p) (local.get $z))
    (f64.store offset=24 (local.get $p) (f64.mul (local.get $vx) (f64.const 365.24)))
    (f64.store offset=32 (local.get $p) (f64.mul (local.get $vy) (f64.const 365.24)))
    (f64.store offset=40 (local.get $p) (f64.mul (local.get $vz) (f64.const 365.24)))
    ;; mass * 4 * pi * pi
    (f64.store offset=48 (local.get $p) (f64.mul (local.get $mass) (f64.const 39.47841760435743))))

  (func $init
    (local $p i32) (local $px f64) (local $py f64) (local $pz f64) (local $m f64)
    (call $set_body (i32.const 0)
      (f64.const 0) (f64.const 0) (f64.const 0) (f64.const 0) (f64.const 0) (f64.const 0) (f64.const 1))
    (call $set_body (i32.const 56)
      (f64.const 4.84143144246472090e+00) (f64.const -1.16032004402742839e+00) (f64.const -1.03622044471123109e-01)
      (f64.const 1.66007664274403694e-03) (f64.const 7.69901118419740425e-03) (f64.const -6.90460016972063023e-05)
      (f64.const 9.54791938424326609e-04))
    (call $set_body (i32.const 112)
      (f64.const 8.34336671824457987e+00) (f64.const 4.12479856412430479e+00) (f64.const -4.03523417114321381e-01)
      (f64.const -2.76742510726862411e-03) (f64.const 4.99852801234917238e-03) (f64.const 2.30417297573763929e-05)
      (f64.const 2.85885980666130812e-04))
    (call $set_body (i32.const 168)
      (f64.const 1.28943695621391310e+01) (f64.const -1.51111514016986312e+01) (f64.const -2.23307578892655734e-01)
      (f64.const 2.96460137564761618e-03) (f64.const 2.37847173959480950e-03) (f64.const -2.96589568540237556e-05)
      (f64.const 4.36624404335156298e-05))
    (call $set_body (i32.const 224)
      (f64.const 1.53796971148509165e+01) (f64.const -2.59193146099879641e+01) (f64.const 1.79258772950371181e-01)
      (f64.const 2.68067772490389322e-03) (f64.const 1.62824170038242295e-03) (f64.const -9.51592254519715870e-05)
      (f64.const 5.15138902046611451e-05))

    ;; Offset the Sun's momentum so the total is zero.
    (loop $bodies
      (local.set $m (f64.load offset=48 (local.get $p)))
      (local.set $px (f64.add (local.get $px) (f64.mul (f64.load offset=24 (local.get $p)) (local.get $m))))
      (local.set $py (f64.add (local.get $py) (f64.mul (f64.load offset=32 (local.get $p)) (local.get $m))))
      (local.set $pz (f64.add (local.get $pz) (f64.mul (f64.load offset=40 (local.get $p)) (local.get $m))))
      (local.set $p (i32.add (local.get $p) (i32.const 56)))
      (br_if $bodies (i32.lt_u (local.get $p) (i32.const 280))))
    (f64.store offset=24 (i32.const 0) (f64.div (f64.neg (local.get $px)) (f64.const 39.47841760435743)))
    (f64.store offset=32 (i32.const 0) (f64.div (f64.neg (local.get $py)) (f64.const 39.47841760435743)))
    (f64.store offset=40 (i32.const 0) (f64.div (f64.neg (local.get $pz)) (f64.const 39.47841760435743))))

  (func $advance (param $dt f64)
    (local $i i32) (local $j i32)
    (local $dx f64) (local $dy f64) (local $dz f64) (local $d2 f64) (local $mag f64)
    (local $mi f64) (local $mj f64)
    (loop $outer
      (local.set $j (i32.add (local.get $i) (i32.const 56)))
      (if (i32.lt_u (local.get $j) (i32.const 280))
        (then
          (loop $inner
            (local.set $dx (f64.sub (f64.load offset=0 (local.get $i)) (f64.load offset=0 (local.get $j))))
            (local.set $dy (f64.sub (f64.load offset=8 (local.get $i)) (f64.load offset=8 (local.get $j))))
            (local.set $dz (f64.sub (f64.load offset=16 (local.get $i)) (f64.load offset=16 (local.get $j))))
            (local.set $d2
              (f64.add
                (f64.add (f64.mul (local.get $dx) (local.get $dx)) (f64.mul (local.get $dy) (local.get $dy)))
                (f64.mul (local.get $dz) (local.get $dz))))
            (local.set $mag (f64.div (local.get $dt) (f64.mul (local.get $d2) (f64.sqrt (local.get $d2)))))
            (local.set $mi (f64.load offset=48 (local.get $i)))
            (local.set $mj (f64.load offset=48 (local.get $j)))
            (f64.store offset=24 (local.get $i)
              (f64.sub (f64.load offset=24 (local.get $i)) (f64.mul (f64.mul (local.get $dx) (local.get $mj)) (local.get $mag))))
            (f64.store offset=32 (local.get $i)
              (f64.sub (f64.load offset=32 (local.get $i)) (f64.mul (f64.mul (local.get $dy) (local.get $mj)) (local.get $mag))))
            (f64.store offset=40 (local.get $i)
              (f64.sub (f64.load offset=40 (local.get $i)) (f64.mul (f64.mul (local.get $dz) (local.get $mj)) (local.get $mag))))
            (f64.store offset=24 (local.get $j)
              (f64.add (f64.load offset=24 (local.get $j)) (f64.mul (f64.mul (local.get $dx) (local.get $mi)) (local.get $mag))))
            (f64.store offset=32 (local.get $j)
              (f64.add (f64.load offset=32 (local.get $j)) (f64.mul (f64.mul (local.get $dy) (local.get $mi)) (local.get $mag))))
            (f64.store offset=40 (local.get $j)
              (f64.add (f64.load offset=40 (local.get $j)) (f64.mul (f64.mul (local.get $dz) (local.get $mi)) (local.get $mag))))
            (local.set $j (i32.add (local.get $j) (i32.const 56)))
            (br_if $inner (i32.lt_u (local.get $j) (i32.const 280))))))
      (local.set $i (i32.add (local.get $i) (i32.const 56)))
      (br_if $outer (i32.lt_u (local.get $i) (i32.const 280))))

    (local.set $i (i32.const 0))
    (loop $move
      (f64.store offset=0 (local.get $i)
        (f64.add (f64.load offset=0 (local.get $i)) (f64.mul (local.get $dt) (f64.load offset=24 (local.get $i)))))
      (f64.store offset=8 (local.get $i)
        (f64.add (f64.load offset=8 (local.get $i)) (f64.mul (local.get $dt) (f64.load offset=32 (local.get $i)))))
      (f64.store offset=16 (local.get $i)
        (f64.add (f64.load offset=16 (local.get $i)) (f64.mul (local.get $dt) (f64.load offset=40 (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 56)))
      (br_if $move (i32.lt_u (local.get $i) (i32.const 280)))))

  (func $energy (result f64)
    (local $i i32) (local $j i32) (local $e f64) (local $mi f64)
    (local $dx f64) (local $dy f64) (local $dz f64)
    (loop $outer
      (local.set $mi (f64.load offset=48 (local.get $i)))
      (local.set $e
        (f64.add (local.get $e)
          (f64.mul (f64.mul (f64.const 0.5) (local.get $mi))
            (f64.add
              (f64.add
                (f64.mul (f64.load offset=24 (local.get $i)) (f64.load offset=24 (local.get $i)))
                (f64.mul (f64.load offset=32 (local.get $i)) (f64.load offset=32 (local.get $i))))
              (f64.mul (f64.load offset=40 (local.get $i)) (f64.load offset=40 (local.get $i)))))))
      (local.set $j (i32.add (local.get $i) (i32.const 56)))
      (if (i32.lt_u (local.get $j) (i32.const 280))
        (then
          (loop $inner
            (local.set $dx (f64.sub (f64.load offset=0 (local.get $i)) (f64.load offset=0 (local.get $j))))
            (local.set $dy (f64.sub (f64.load offset=8 (local.get $i)) (f64.load offset=8 (local.get $j))))
            (local.set $dz (f64.sub (f64.load offset=16 (local.get $i)) (f64.load offset=16 (local.get $j))))
            (local.set $e
              (f64.sub (local.get $e)
                (f64.div
                  (f64.mul (local.get $mi) (f64.load offset=48 (local.get $j)))
                  (f64.sqrt
                    (f64.add
                      (f64.add (f64.mul (local.get $dx) (local.get $dx)) (f64.mul (local.get $dy) (local.get $dy)))
                      (f64.mul (local.get $dz) (local.get $dz)))))))
            (local.set $j (i32.add (local.get $j) (i32.const 56)))
            (br_if $inner (i32.lt_u (local.get $j) (i32.const 280))))))
      (local.set $i (i32.add (local.get $i) (i32.const 56)))
      (br_if $outer (i32.lt_u (local.get $i) (i32.const 280))))
    (local.get $e))

  (func (export "run") (result i64)
    (local $step i32)
    (call $init)
    (loop $steps
      (call $advance (f64.const 0.01))
      (local.set $step (i32.add (local.get $step) (i32.const 1)))
      (br_if $steps (i32.lt_u (local.get $step) (i32.const 100000))))
    (i64.reinterpret_f64 (call $energy))))
