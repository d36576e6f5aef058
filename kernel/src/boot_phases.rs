//! TSC stamps of the boot sequence's phases, for the `boot phases:` log line.

/// TSC stamps of the init phases, for `boot phases:` in the log.
pub struct BootPhases {
    last: u64,
    phases: [(&'static str, u64); 12],
    len: usize,
}

impl BootPhases {
    pub fn new(entry_tsc: u64) -> Self {
        Self { last: entry_tsc, phases: [("", 0); 12], len: 0 }
    }

    pub fn mark(&mut self, name: &'static str) {
        let now = wasmetal_arch::cpu::rdtsc();
        if self.len < self.phases.len() {
            self.phases[self.len] = (name, now - self.last);
            self.len += 1;
        }
        self.last = now;
    }

    pub fn report(&self) {
        let mut line = alloc::string::String::from("boot phases (us):");
        for (name, cycles) in &self.phases[..self.len] {
            line.push_str(&alloc::format!(" {name} {}", crate::timer::cycles_to_ns(*cycles) / 1000));
        }
        crate::stat!("{line}");
    }
}
