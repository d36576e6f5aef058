//! wasmetal-runtime against Wasmtime, in the same process on the same machine.
//!
//! For every case (a WAT module in `bench/wat/`) it measures
//! - compile: `Module::new` on the same binary bytes (validation, translation,
//!   Cranelift, code publication), single-threaded in both engines;
//! - run: one call of the export `run: [] -> [i64]` on an instance created beforehand.
//!
//! Before timing, every case runs once on both engines and the checksum must equal the
//! one a native Rust reference computes; a case that fails to compile or disagrees is
//! reported and skipped, and the bench exits with status 1 at the end.
//!
//! Criterion drives the measurement loop; each sample's time per iteration is also
//! recorded here, and the summary line uses the median of those samples:
//!
//! `<case> <compile|run>: wasmetal <t> ms, wasmtime <t> ms, ratio <wasmetal/wasmtime>`
//!
//! With `WASMETAL_BENCH_MODULE=/path/to/module.wasm` it also times compiling that module
//! (`WASMETAL_BENCH_MODULE_SAMPLES` runs per engine, default 3, median), reported as
//! `<file-stem> compile: ...`.
//!
//! Run with `cargo bench -p wasmetal-bench` (from the workspace root).

mod harness;

use harness::{Case, settings};

const CASES: &[Case] = &[
    Case {
        name: "fib",
        wat: include_str!("../wat/fib.wat"),
        reference: fib_reference,
        compile: settings(20, 500, 2000),
        run: settings(20, 1000, 3000),
    },
    Case {
        name: "hash",
        wat: include_str!("../wat/hash.wat"),
        reference: hash_reference,
        compile: settings(20, 500, 2000),
        run: settings(20, 1000, 3000),
    },
    Case {
        name: "nbody",
        wat: include_str!("../wat/nbody.wat"),
        reference: nbody_reference,
        compile: settings(20, 500, 2000),
        run: settings(15, 1000, 3000),
    },
    Case {
        name: "sort",
        wat: include_str!("../wat/sort.wat"),
        reference: sort_reference,
        compile: settings(20, 500, 2000),
        run: settings(10, 1000, 4000),
    },
];

fn main() {
    harness::run(CASES);
}

// Native references: the same computations as the WAT modules, in the same order (so
// the f64 results are bit-identical).

fn fib_reference() -> i64 {
    fn fib(n: i64) -> i64 {
        if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
    }
    fib(30)
}

fn hash_reference() -> i64 {
    const P1: u64 = 0x9E37_79B1_85EB_CA87;
    const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    const P3: u64 = 0x1656_67B1_9E37_79F9;
    const P4: u64 = 0x85EB_CA77_C2B2_AE63;
    fn round(acc: u64, lane: u64) -> u64 {
        acc.wrapping_add(lane.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
    }
    fn merge(h: u64, v: u64) -> u64 {
        (h ^ round(0, v)).wrapping_mul(P1).wrapping_add(P4)
    }

    let mut memory = vec![0u8; 16 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for word in memory.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        word.copy_from_slice(&x.to_le_bytes());
    }

    // XXH64, seed 0, for a length that is a multiple of 32.
    let mut v = [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)];
    for stripe in memory.chunks_exact(32) {
        for (lane, acc) in stripe.chunks_exact(8).zip(&mut v) {
            *acc = round(*acc, u64::from_le_bytes(lane.try_into().unwrap()));
        }
    }
    let mut h = v[0]
        .rotate_left(1)
        .wrapping_add(v[1].rotate_left(7))
        .wrapping_add(v[2].rotate_left(12).wrapping_add(v[3].rotate_left(18)));
    for lane in v {
        h = merge(h, lane);
    }
    h = h.wrapping_add(memory.len() as u64);
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^= h >> 32;
    h as i64
}

// The literals are the ones in nbody.wat, digit for digit; indexing mirrors its loops.
#[allow(clippy::excessive_precision, clippy::needless_range_loop)]
fn nbody_reference() -> i64 {
    const SOLAR_MASS: f64 = 39.47841760435743; // 4 * pi * pi
    const DAYS_PER_YEAR: f64 = 365.24;
    #[derive(Clone, Copy)]
    struct Body {
        x: [f64; 3],
        v: [f64; 3],
        mass: f64,
    }
    let body = |x: [f64; 3], v: [f64; 3], mass: f64| Body {
        x,
        v: [v[0] * DAYS_PER_YEAR, v[1] * DAYS_PER_YEAR, v[2] * DAYS_PER_YEAR],
        mass: mass * SOLAR_MASS,
    };
    let mut bodies = [
        body([0.0; 3], [0.0; 3], 1.0),
        body(
            [4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01],
            [1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05],
            9.54791938424326609e-04,
        ),
        body(
            [8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01],
            [-2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05],
            2.85885980666130812e-04,
        ),
        body(
            [1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01],
            [2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05],
            4.36624404335156298e-05,
        ),
        body(
            [1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01],
            [2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05],
            5.15138902046611451e-05,
        ),
    ];

    let mut p = [0.0f64; 3];
    for b in &bodies {
        for k in 0..3 {
            p[k] += b.v[k] * b.mass;
        }
    }
    for k in 0..3 {
        bodies[0].v[k] = -p[k] / SOLAR_MASS;
    }

    let dt = 0.01;
    for _ in 0..100_000 {
        for i in 0..bodies.len() {
            for j in i + 1..bodies.len() {
                let d = [0, 1, 2].map(|k| bodies[i].x[k] - bodies[j].x[k]);
                let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                let mag = dt / (d2 * d2.sqrt());
                let (mi, mj) = (bodies[i].mass, bodies[j].mass);
                for k in 0..3 {
                    bodies[i].v[k] -= d[k] * mj * mag;
                }
                for k in 0..3 {
                    bodies[j].v[k] += d[k] * mi * mag;
                }
            }
        }
        for b in &mut bodies {
            for k in 0..3 {
                b.x[k] += dt * b.v[k];
            }
        }
    }

    let mut e = 0.0;
    for i in 0..bodies.len() {
        let b = bodies[i];
        e += 0.5 * b.mass * (b.v[0] * b.v[0] + b.v[1] * b.v[1] + b.v[2] * b.v[2]);
        for other in &bodies[i + 1..] {
            let d = [0, 1, 2].map(|k| b.x[k] - other.x[k]);
            e -= (b.mass * other.mass) / (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        }
    }
    e.to_bits() as i64
}

fn sort_reference() -> i64 {
    let mut x: u32 = 12345;
    let mut values: Vec<i32> = (0..1 << 20)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x ^ (x >> 16)) as i32
        })
        .collect();
    values.sort_unstable();
    values.iter().fold(0i64, |h, &v| h.wrapping_mul(31).wrapping_add(i64::from(v)))
}
