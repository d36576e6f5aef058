//! A fixed-capacity list of RAM ranges, for the boot sequence before the heap exists.

use crate::memory::frames::PhysRange;

pub struct Ranges {
    items: [PhysRange; 64],
    len: usize,
}

impl Ranges {
    pub fn new() -> Self {
        Self { items: [PhysRange::default(); 64], len: 0 }
    }

    pub fn push(&mut self, range: PhysRange) {
        if self.len < self.items.len() {
            self.items[self.len] = range;
            self.len += 1;
        }
    }
}

impl core::ops::Deref for Ranges {
    type Target = [PhysRange];
    fn deref(&self) -> &[PhysRange] {
        &self.items[..self.len]
    }
}
