//! Modules the benchmarks share, generated as WebAssembly text so the kernel bench and
//! the hosted comparison (`bench/`) measure exactly the same code.

use std::fmt::Write;

/// A small module: one memory, a few functions, a table of four.
pub fn small() -> String {
    r#"(module
        (memory (export "memory") 1)
        (global $g (mut i32) (i32.const 0))
        (table 4 funcref)
        (elem (i32.const 0) $a $b $a $b)
        (func $a (result i32) (global.get $g))
        (func $b (result i32) (i32.const 2))
        (func (export "run") (result i32) (i32.add (call $a) (call $b)))
        (data (i32.const 0) "hello"))"#
        .to_string()
}

/// Functions in [`large`].
pub const LARGE_FUNCTIONS: usize = 30_000;
/// Funcref table elements in [`large`].
pub const LARGE_TABLE: usize = 7_500;

/// A large module in the shape of Wasmtime's instantiation benchmark input: 30 000
/// functions, a 7 500-element funcref table filled by an active segment, data
/// segments, globals and a few hundred exports.
pub fn large() -> String {
    let mut wat = String::from("(module\n  (memory (export \"memory\") 17)\n");
    let _ = writeln!(wat, "  (table (export \"table\") {LARGE_TABLE} funcref)");
    for i in 0..16 {
        let _ = writeln!(wat, "  (global $g{i} (mut i64) (i64.const {i}))");
    }
    for i in 0..LARGE_FUNCTIONS {
        let _ = writeln!(
            wat,
            "  (func $f{i} (param i32) (result i32) (i32.add (i32.mul (local.get 0) (i32.const {})) (i32.const {i})))",
            i % 97 + 1
        );
    }
    wat.push_str("  (elem (i32.const 0) func");
    for i in 0..LARGE_TABLE {
        let _ = write!(wat, " $f{}", (i * 7) % LARGE_FUNCTIONS);
    }
    wat.push_str(")\n");
    for i in 0..64 {
        let bytes: String = (0..1024).map(|j| format!("\\{:02x}", (i * 31 + j) % 251)).collect();
        let _ = writeln!(wat, "  (data (i32.const {}) \"{bytes}\")", i * 16384);
    }
    for i in (0..LARGE_FUNCTIONS).step_by(100) {
        let _ = writeln!(wat, "  (export \"f{i}\" (func $f{i}))");
    }
    wat.push(')');
    wat
}

/// Loop-heavy modules for the epoch and fuel overhead figures: each exports
/// `run(n: i32) -> i64`.
pub fn loops() -> Vec<(&'static str, String)> {
    vec![
        (
            "sum_loop",
            r#"(module (func (export "run") (param $n i32) (result i64) (local $i i32) (local $acc i64)
                (loop $l
                  (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.mul (local.get $i) (local.get $i)))))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
                (local.get $acc)))"#
                .to_string(),
        ),
        (
            "nested_loops",
            r#"(module (func (export "run") (param $n i32) (result i64) (local $i i32) (local $j i32) (local $acc i64)
                (loop $outer
                  (local.set $j (i32.const 0))
                  (loop $inner
                    (local.set $acc (i64.xor (i64.rotl (local.get $acc) (i64.const 5)) (i64.extend_i32_u (i32.add (local.get $i) (local.get $j)))))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br_if $inner (i32.lt_u (local.get $j) (i32.const 100))))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $outer (i32.lt_u (local.get $i) (i32.div_u (local.get $n) (i32.const 100)))))
                (local.get $acc)))"#
                .to_string(),
        ),
        (
            "memory_loop",
            r#"(module (memory 1024)
                (func (export "run") (param $n i32) (result i64) (local $i i32) (local $acc i64)
                (loop $l
                  (i64.store (i32.and (i32.shl (local.get $i) (i32.const 3)) (i32.const 0x3fffff8)) (local.get $acc))
                  (local.set $acc (i64.add (local.get $acc)
                    (i64.load (i32.and (i32.mul (local.get $i) (i32.const 4104)) (i32.const 0x3fffff8)))))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
                (local.get $acc)))"#
                .to_string(),
        ),
        (
            "call_loop",
            r#"(module
                (func $step (param i64 i32) (result i64) (i64.add (i64.mul (local.get 0) (i64.const 31)) (i64.extend_i32_u (local.get 1))))
                (func (export "run") (param $n i32) (result i64) (local $i i32) (local $acc i64)
                (loop $l
                  (local.set $acc (call $step (local.get $acc) (local.get $i)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
                (local.get $acc)))"#
                .to_string(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn modules_are_valid_text() {
        wat::parse_str(super::small()).unwrap();
        let large = wat::parse_str(super::large()).unwrap();
        assert!(large.len() > 300_000);
        for (_, module) in super::loops() {
            wat::parse_str(module).unwrap();
        }
    }
}
