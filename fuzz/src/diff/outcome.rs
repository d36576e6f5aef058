//! Outcomes in terms both engines share, and how two outcomes compare.
//!
//! Fuel model (chosen, not aligned): the two engines charge fuel differently (Wasmtime
//! per operator with free `nop`/`drop`/blocks, wasmetal per block), so a call that
//! ran out of fuel in either engine is *inconclusive*, as is a stack overflow (frame
//! sizes differ) and an epoch interrupt (timing). After an inconclusive call the
//! instances' states may legitimately differ, so nothing later in that case is
//! compared. Each exported function is called `--rounds` times (default 2), in export
//! order, with fresh arguments from the case's argument bytes. Everything else must
//! match exactly: compile and instantiation verdicts, each call's results (NaNs
//! canonicalized) or trap kind, and at the end the exported memories' sizes and
//! contents, globals' values and tables' sizes.

use std::hash::{DefaultHasher, Hasher};

use arbitrary::Unstructured;

/// A value type, as both engines name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    I32,
    I64,
    F32,
    F64,
    V128,
    FuncRef,
    ExternRef,
}

/// A value; references are compared by nullness only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    Null,
    NonNull,
}

impl Value {
    /// The value with any NaN made the canonical quiet NaN.
    pub fn canonical(self) -> Value {
        match self {
            Value::F32(bits) if f32::from_bits(bits).is_nan() => Value::F32(0x7FC0_0000),
            Value::F64(bits) if f64::from_bits(bits).is_nan() => Value::F64(0x7FF8_0000_0000_0000),
            other => other,
        }
    }
}

/// Trap kinds, normalized across the engines' namings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapKind {
    StackOverflow,
    MemoryOutOfBounds,
    /// A table index out of range (wasmetal also says "undefined element" for it).
    TableOutOfBounds,
    NullElement,
    BadSignature,
    IntegerOverflow,
    IntegerDivisionByZero,
    BadConversionToInteger,
    Unreachable,
    NullReference,
    Interrupt,
    OutOfFuel,
    Other,
}

impl TrapKind {
    fn inconclusive(self) -> bool {
        matches!(self, TrapKind::StackOverflow | TrapKind::Interrupt | TrapKind::OutOfFuel)
    }
}

/// How a call (or the instantiation) ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    Returned(Vec<Value>),
    Trapped(TrapKind),
    /// Not a trap: a rejected module, a failed allocation, ... (the message).
    Failed(String),
}

impl Ending {
    fn inconclusive(&self) -> bool {
        matches!(self, Ending::Trapped(kind) if kind.inconclusive())
    }

    fn canonical(&self) -> Ending {
        match self {
            Ending::Returned(values) => Ending::Returned(values.iter().map(|v| v.canonical()).collect()),
            // The engines word their errors differently; that both failed is what counts.
            Ending::Failed(_) => Ending::Failed(String::new()),
            other => other.clone(),
        }
    }
}

/// Everything one engine did with a case.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `None` when compilation failed (the message is in `compile_error`).
    pub instantiation: Option<Ending>,
    pub compile_error: Option<String>,
    pub calls: Vec<(String, Ending)>,
    /// Hash of the exported state after the last call (when every call was conclusive).
    pub state: Option<u64>,
}

/// The verdict on a pair of outcomes.
pub enum Comparison {
    Same { executions: u64, inconclusive: u64, rejected: bool },
    Diverged(String),
}

/// Compares two outcomes under the rules in this module's documentation.
pub fn compare(ours: &Outcome, theirs: &Outcome) -> Comparison {
    match (&ours.compile_error, &theirs.compile_error) {
        (None, None) => {}
        (Some(_), Some(_)) => return Comparison::Same { executions: 0, inconclusive: 0, rejected: true },
        (Some(error), None) => return Comparison::Diverged(format!("wasmetal refused the module: {error}")),
        (None, Some(error)) => return Comparison::Diverged(format!("wasmtime refused the module: {error}")),
    }
    let (Some(a), Some(b)) = (&ours.instantiation, &theirs.instantiation) else {
        return Comparison::Diverged("an instantiation verdict is missing".into());
    };
    if a.inconclusive() || b.inconclusive() {
        return Comparison::Same { executions: 0, inconclusive: 1, rejected: false };
    }
    if a.canonical() != b.canonical() {
        return Comparison::Diverged(format!("instantiation: wasmetal {a:?}, wasmtime {b:?}"));
    }
    if !matches!(a, Ending::Returned(_)) {
        return Comparison::Same { executions: 0, inconclusive: 0, rejected: true };
    }
    let mut executions = 0;
    for (index, ((name_a, a), (name_b, b))) in ours.calls.iter().zip(&theirs.calls).enumerate() {
        if name_a != name_b {
            return Comparison::Diverged(format!("call {index}: export {name_a:?} vs {name_b:?}"));
        }
        if a.inconclusive() || b.inconclusive() {
            return Comparison::Same { executions, inconclusive: 1, rejected: false };
        }
        if a.canonical() != b.canonical() {
            return Comparison::Diverged(format!("call {index} ({name_a:?}): wasmetal {a:?}, wasmtime {b:?}"));
        }
        executions += 1;
    }
    if ours.calls.len() != theirs.calls.len() {
        return Comparison::Diverged(format!("{} calls vs {}", ours.calls.len(), theirs.calls.len()));
    }
    if ours.state != theirs.state {
        return Comparison::Diverged(format!("final state hash {:x?} vs {:x?}", ours.state, theirs.state));
    }
    Comparison::Same { executions, inconclusive: 0, rejected: false }
}

/// Arguments for a call with these parameter types (references are null).
pub fn arguments(unstructured: &mut Unstructured<'_>, params: &[Ty]) -> Vec<Value> {
    params
        .iter()
        .map(|ty| match ty {
            Ty::I32 => Value::I32(unstructured.arbitrary().unwrap_or_default()),
            Ty::I64 => Value::I64(unstructured.arbitrary().unwrap_or_default()),
            Ty::F32 => Value::F32(unstructured.arbitrary().unwrap_or_default()),
            Ty::F64 => Value::F64(unstructured.arbitrary().unwrap_or_default()),
            Ty::V128 => Value::V128(unstructured.arbitrary().unwrap_or_default()),
            Ty::FuncRef | Ty::ExternRef => Value::Null,
        })
        .collect()
}

/// Accumulates the exported state in a fixed order (the module's export order).
#[derive(Default)]
pub struct StateHasher(DefaultHasher);

impl StateHasher {
    pub fn memory(&mut self, name: &str, bytes: &[u8]) {
        self.0.write(name.as_bytes());
        self.0.write_usize(bytes.len());
        self.0.write(bytes);
    }

    pub fn global(&mut self, name: &str, value: Value) {
        self.0.write(name.as_bytes());
        self.0.write(format!("{:?}", value.canonical()).as_bytes());
    }

    pub fn table(&mut self, name: &str, size: u64) {
        self.0.write(name.as_bytes());
        self.0.write_u64(size);
    }

    pub fn finish(&self) -> u64 {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(calls: Vec<Ending>) -> Outcome {
        Outcome {
            instantiation: Some(Ending::Returned(Vec::new())),
            compile_error: None,
            calls: calls.into_iter().enumerate().map(|(i, e)| (i.to_string(), e)).collect(),
            state: Some(7),
        }
    }

    #[test]
    fn nans_compare_equal_whatever_their_payload() {
        let a = ran(vec![Ending::Returned(vec![Value::F32(0x7FC0_0001), Value::F64(0xFFF8_0000_0000_0000)])]);
        let b = ran(vec![Ending::Returned(vec![Value::F32(0xFFC0_0000), Value::F64(0x7FF8_0000_0000_0001)])]);
        assert!(matches!(compare(&a, &b), Comparison::Same { executions: 1, .. }));
    }

    #[test]
    fn different_results_traps_or_states_diverge() {
        let a = ran(vec![Ending::Returned(vec![Value::I32(1)])]);
        assert!(matches!(compare(&a, &ran(vec![Ending::Returned(vec![Value::I32(2)])])), Comparison::Diverged(_)));
        let trap = ran(vec![Ending::Trapped(TrapKind::MemoryOutOfBounds)]);
        assert!(matches!(compare(&trap, &ran(vec![Ending::Trapped(TrapKind::Unreachable)])), Comparison::Diverged(_)));
        let mut other_state = ran(vec![Ending::Returned(vec![Value::I32(1)])]);
        other_state.state = Some(8);
        assert!(matches!(compare(&a, &other_state), Comparison::Diverged(_)));
    }

    #[test]
    fn running_out_of_fuel_in_either_engine_ends_the_comparison() {
        let a = ran(vec![Ending::Returned(vec![]), Ending::Trapped(TrapKind::OutOfFuel)]);
        let mut b =
            ran(vec![Ending::Returned(vec![]), Ending::Returned(vec![Value::I32(3)]), Ending::Returned(vec![])]);
        b.state = Some(99);
        assert!(matches!(compare(&a, &b), Comparison::Same { executions: 1, inconclusive: 1, .. }));
    }

    #[test]
    fn a_module_only_one_engine_compiles_diverges() {
        let refused = Outcome { compile_error: Some("no".into()), ..Outcome::default() };
        assert!(matches!(compare(&refused, &ran(vec![])), Comparison::Diverged(_)));
        assert!(matches!(compare(&refused, &refused), Comparison::Same { rejected: true, .. }));
    }
}
