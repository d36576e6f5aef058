//! A deterministic CPU-heavy workload for benchmarks: fills a buffer (64 MiB by
//! default, or the MiB given as the first argument) from an xorshift generator,
//! hashes it with FNV-1a, and runs an n-body simulation; prints both results.
use wasmetal_test_programs::{FNV_OFFSET, fnv1a};

fn xorshift_fill(buffer: &mut [u8]) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in buffer.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bytes = state.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// The classic n-body benchmark (sun and four planets); returns the final energy.
fn nbody(steps: usize) -> f64 {
    const PI: f64 = std::f64::consts::PI;
    const SOLAR_MASS: f64 = 4.0 * PI * PI;
    const DAYS: f64 = 365.24;
    let mut bodies: [([f64; 3], [f64; 3], f64); 5] = [
        ([0.0; 3], [0.0; 3], SOLAR_MASS),
        (
            [4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01],
            [1.66007664274403694e-03 * DAYS, 7.69901118419740425e-03 * DAYS, -6.90460016972063023e-05 * DAYS],
            9.54791938424326609e-04 * SOLAR_MASS,
        ),
        (
            [8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01],
            [-2.76742510726862411e-03 * DAYS, 4.99852801234917238e-03 * DAYS, 2.30417297573763929e-05 * DAYS],
            2.85885980666130812e-04 * SOLAR_MASS,
        ),
        (
            [1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01],
            [2.96460137564761618e-03 * DAYS, 2.37847173959480950e-03 * DAYS, -2.96589568540237556e-05 * DAYS],
            4.36624404335156298e-05 * SOLAR_MASS,
        ),
        (
            [1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01],
            [2.68067772490389322e-03 * DAYS, 1.62824170038242295e-03 * DAYS, -9.51592254519715870e-05 * DAYS],
            5.15138902046611451e-05 * SOLAR_MASS,
        ),
    ];
    let mut momentum = [0.0; 3];
    for (_, velocity, mass) in &bodies {
        for axis in 0..3 {
            momentum[axis] += velocity[axis] * mass;
        }
    }
    for axis in 0..3 {
        bodies[0].1[axis] = -momentum[axis] / SOLAR_MASS;
    }
    let dt = 0.01;
    for _ in 0..steps {
        for i in 0..bodies.len() {
            for j in i + 1..bodies.len() {
                let mut d = [0.0; 3];
                for axis in 0..3 {
                    d[axis] = bodies[i].0[axis] - bodies[j].0[axis];
                }
                let distance2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                let magnitude = dt / (distance2 * distance2.sqrt());
                let (mass_i, mass_j) = (bodies[i].2, bodies[j].2);
                for axis in 0..3 {
                    bodies[i].1[axis] -= d[axis] * mass_j * magnitude;
                    bodies[j].1[axis] += d[axis] * mass_i * magnitude;
                }
            }
        }
        for (position, velocity, _) in &mut bodies {
            for axis in 0..3 {
                position[axis] += dt * velocity[axis];
            }
        }
    }
    let mut energy = 0.0;
    for i in 0..bodies.len() {
        let (position, velocity, mass) = bodies[i];
        energy += 0.5 * mass * (velocity[0] * velocity[0] + velocity[1] * velocity[1] + velocity[2] * velocity[2]);
        for other in &bodies[i + 1..] {
            let d: Vec<f64> = (0..3).map(|axis| position[axis] - other.0[axis]).collect();
            energy -= mass * other.2 / (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        }
    }
    energy
}

fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(64);
    let steps: usize = std::env::args().nth(2).and_then(|arg| arg.parse().ok()).unwrap_or(1_000_000);
    let mut buffer = vec![0u8; mib << 20];
    xorshift_fill(&mut buffer);
    println!("hash of {mib} MiB: {:016x}", fnv1a(FNV_OFFSET, &buffer));
    println!("nbody energy after {steps} steps: {:.9}", nbody(steps));
}
