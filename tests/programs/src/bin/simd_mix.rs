//! SIMD work that checks itself: each round mixes eight `i32x4` accumulators and an
//! `f64x2` one (all kept in vector registers through the loop) for a number of
//! iterations, recomputes the same lanes with scalar code, and prints `round N ok
//! <hash>`, or `round N MISMATCH ...` and exits 1. `argv[1]` seeds the lanes (two tasks
//! with different seeds must not see each other's registers), `argv[2]` is the number
//! of rounds (default 6), `argv[3]` the iterations per round (default 2 000 000).

use core::arch::wasm32::*;

const LANES: usize = 4;
const ACCUMULATORS: usize = 8;

/// All the state of one computation, as plain lanes.
#[derive(Clone, Copy, PartialEq, Debug)]
struct State {
    ints: [[u32; LANES]; ACCUMULATORS],
    floats: [f64; 2],
}

impl State {
    fn new(seed: u32) -> State {
        let mut ints = [[0; LANES]; ACCUMULATORS];
        for (k, acc) in ints.iter_mut().enumerate() {
            for (lane, value) in acc.iter_mut().enumerate() {
                *value = seed.wrapping_mul(0x9E37_79B9).wrapping_add((k * LANES + lane) as u32 * 0x85EB_CA6B);
            }
        }
        State { ints, floats: [f64::from(seed % 1000) + 0.5, 1.25] }
    }

    fn hash(&self) -> u32 {
        let mut hash = 0x811C_9DC5u32;
        for value in self.ints.iter().flatten() {
            hash = (hash ^ value).wrapping_mul(0x0100_0193);
        }
        hash ^ (self.floats[0].to_bits() as u32) ^ (self.floats[1].to_bits() as u32)
    }
}

fn to_v128(lanes: [u32; LANES]) -> v128 {
    u32x4(lanes[0], lanes[1], lanes[2], lanes[3])
}

fn from_v128(v: v128) -> [u32; LANES] {
    [u32x4_extract_lane::<0>(v), u32x4_extract_lane::<1>(v), u32x4_extract_lane::<2>(v), u32x4_extract_lane::<3>(v)]
}

/// The vector version: every accumulator lives in a local the compiler keeps in a
/// vector register across the loop (and across its epoch checks, where preemption
/// happens).
#[target_feature(enable = "simd128")]
fn mix_simd(state: State, iterations: u32) -> State {
    let mut acc: [v128; ACCUMULATORS] = core::array::from_fn(|k| to_v128(state.ints[k]));
    let mut floats = f64x2(state.floats[0], state.floats[1]);
    let multiplier = u32x4_splat(0x2545_F491);
    let decay = f64x2_splat(0.999);
    for i in 0..iterations {
        let step = u32x4_splat(i);
        for k in 0..ACCUMULATORS {
            let previous = acc[(k + ACCUMULATORS - 1) % ACCUMULATORS];
            let mixed = v128_xor(acc[k], i32x4_mul(previous, multiplier));
            let rotated = v128_or(i32x4_shl(mixed, 7), u32x4_shr(mixed, 25));
            acc[k] = i32x4_add(rotated, step);
        }
        floats = f64x2_add(f64x2_mul(floats, decay), f64x2_splat(1.0));
    }
    let mut out = state;
    for (k, value) in acc.iter().enumerate() {
        out.ints[k] = from_v128(*value);
    }
    out.floats = [f64x2_extract_lane::<0>(floats), f64x2_extract_lane::<1>(floats)];
    out
}

/// The same computation lane by lane, without SIMD.
fn mix_scalar(mut state: State, iterations: u32) -> State {
    for i in 0..iterations {
        for k in 0..ACCUMULATORS {
            let previous = state.ints[(k + ACCUMULATORS - 1) % ACCUMULATORS];
            for lane in 0..LANES {
                let mixed = state.ints[k][lane] ^ previous[lane].wrapping_mul(0x2545_F491);
                state.ints[k][lane] = mixed.rotate_left(7).wrapping_add(i);
            }
        }
        for value in state.floats.iter_mut() {
            *value = *value * 0.999 + 1.0;
        }
    }
    state
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |index: usize, default: u32| args.get(index).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (seed, rounds, iterations) = (arg(1, 1), arg(2, 6), arg(3, 2_000_000));
    let mut state = State::new(seed);
    for round in 0..rounds {
        // A simd128 function is safe to call on wasm: the engine validated the module.
        let vector = mix_simd(state, iterations);
        let scalar = mix_scalar(state, iterations);
        if vector != scalar {
            println!("round {round} MISMATCH: simd {vector:?} scalar {scalar:?}");
            std::process::exit(1);
        }
        state = vector;
        println!("round {round} ok {:08x}", state.hash());
    }
}
