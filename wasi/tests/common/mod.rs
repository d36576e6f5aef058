//! Shared test support: a `System` with a fake or real clock that captures output,
//! running a module's `_start` under WASI, and the outcome of a run.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmetal_runtime::{Engine, Linker, Module, Store, TrapCode};
use wasmetal_wasi::{System, WasiCtx, WasiCtxBuilder};

/// The fake realtime clock's value at fake monotonic time 0.
pub const FAKE_EPOCH_NS: u64 = 1_700_000_000_000_000_000;

/// What a `TestSystem` saw; cloned handles share it with the test.
#[derive(Clone, Default)]
pub struct Observed {
    pub stdout: Arc<Mutex<Vec<u8>>>,
    pub stderr: Arc<Mutex<Vec<u8>>>,
    /// Every `sleep_until` deadline, in order.
    pub sleeps: Arc<Mutex<Vec<u64>>>,
    /// The fake monotonic clock (only moved by sleeping and by the test).
    pub fake_now: Arc<Mutex<u64>>,
    pub yields: Arc<Mutex<u32>>,
}

impl Observed {
    pub fn stdout(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> Vec<u8> {
        self.stderr.lock().unwrap().clone()
    }

    pub fn sleeps(&self) -> Vec<u64> {
        self.sleeps.lock().unwrap().clone()
    }

    pub fn set_now(&self, ns: u64) {
        *self.fake_now.lock().unwrap() = ns;
    }
}

enum Clock {
    Fake,
    Real(Instant),
}

/// A `System` that records output; the clock is either fake (time moves only when
/// the guest sleeps) or real, and randomness is either a fixed pattern or the host's.
pub struct TestSystem {
    observed: Observed,
    clock: Clock,
}

impl TestSystem {
    /// Fake clock starting at monotonic 0, deterministic "random" bytes.
    pub fn fake() -> (Box<dyn System>, Observed) {
        let observed = Observed::default();
        (Box::new(TestSystem { observed: observed.clone(), clock: Clock::Fake }), observed)
    }

    /// The host's clocks, sleeping and randomness.
    pub fn real() -> (Box<dyn System>, Observed) {
        let observed = Observed::default();
        (Box::new(TestSystem { observed: observed.clone(), clock: Clock::Real(Instant::now()) }), observed)
    }
}

impl System for TestSystem {
    fn monotonic_ns(&mut self) -> u64 {
        match self.clock {
            Clock::Fake => *self.observed.fake_now.lock().unwrap(),
            Clock::Real(start) => start.elapsed().as_nanos() as u64,
        }
    }

    fn realtime_ns(&mut self) -> u64 {
        match self.clock {
            Clock::Fake => FAKE_EPOCH_NS + *self.observed.fake_now.lock().unwrap(),
            Clock::Real(_) => SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64,
        }
    }

    fn random_bytes(&mut self, buf: &mut [u8]) {
        match self.clock {
            Clock::Fake => {
                for (index, byte) in buf.iter_mut().enumerate() {
                    *byte = (index as u8).wrapping_mul(7).wrapping_add(1);
                }
            }
            Clock::Real(_) => {
                std::fs::File::open("/dev/urandom").unwrap().read_exact(buf).unwrap();
            }
        }
    }

    fn write_stdout(&mut self, bytes: &[u8]) -> Result<(), wasmetal_wasi::ConsoleError> {
        self.observed.stdout.lock().unwrap().extend_from_slice(bytes);
        Ok(())
    }

    fn write_stderr(&mut self, bytes: &[u8]) -> Result<(), wasmetal_wasi::ConsoleError> {
        self.observed.stderr.lock().unwrap().extend_from_slice(bytes);
        Ok(())
    }

    fn sleep_until(&mut self, monotonic_ns: u64) {
        self.observed.sleeps.lock().unwrap().push(monotonic_ns);
        match self.clock {
            Clock::Fake => {
                let mut now = self.observed.fake_now.lock().unwrap();
                *now = (*now).max(monotonic_ns);
            }
            Clock::Real(start) => {
                let now = start.elapsed().as_nanos() as u64;
                if monotonic_ns > now {
                    std::thread::sleep(std::time::Duration::from_nanos(monotonic_ns - now));
                }
            }
        }
    }

    fn yield_now(&mut self) {
        *self.observed.yields.lock().unwrap() += 1;
    }
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Status {
    /// `_start` returned (0) or the program called `proc_exit`.
    Exit(i32),
    Trap(TrapCode),
    /// Any other error (link, host), as text.
    Error(String),
}

/// A finished run.
pub struct Outcome {
    pub status: Status,
    pub stdout: String,
    pub stderr: String,
    pub ctx: WasiCtx,
}

/// Instantiates `wasm` with WASI and runs `_start`.
pub fn run(wasm: &[u8], builder: WasiCtxBuilder, observed: &Observed) -> Outcome {
    let engine = Engine::default();
    let module = Module::new(&engine, wasm).expect("module compiles");
    let mut linker = Linker::new(&engine);
    wasmetal_wasi::add_to_linker(&mut linker, |ctx| ctx).expect("WASI defines");
    let mut store = Store::new(&engine, builder.build().expect("context builds"));
    let instance = linker.instantiate(&mut store, &module).expect("instantiates");
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start").expect("_start");
    let status = match start.call(&mut store, ()) {
        Ok(()) => Status::Exit(0),
        Err(error) => match (error.exit_status(), error.trap_code()) {
            (Some(status), _) => Status::Exit(status),
            (None, Some(code)) => Status::Trap(code),
            (None, None) => Status::Error(error.to_string()),
        },
    };
    Outcome {
        status,
        stdout: String::from_utf8_lossy(&observed.stdout()).into_owned(),
        stderr: String::from_utf8_lossy(&observed.stderr()).into_owned(),
        ctx: store.into_data(),
    }
}
