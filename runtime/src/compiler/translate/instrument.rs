//! Fuel metering and epoch checks woven into translated code.
//!
//! Fuel: every operator except the structural ones (`nop`, `drop`, `block`, `loop`,
//! `end`, `else`) costs one unit. Costs are summed per basic block into a local
//! variable (`fuel_consumed`, negative while fuel remains), flushed before control
//! flow, stored to the store's limits around calls and returns, and checked at function
//! entry and loop headers: at zero or above, the `OutOfFuel` builtin decides (trap, or
//! refill and go on). The same module and input always stop at the same operator.
//!
//! Epochs: at function entry and loop headers the code *polls*: it loads the store's
//! poll word and a byte through it, two loads and no branch (the slot pointer is loaded
//! once per function). The engine's tick arms the word when it reaches the store's
//! deadline, so the poll faults and the trap handler runs the deadline policy
//! (`vm::epoch`, `vm::epoch_poll`). A compare-and-branch check would add a branch to
//! every loop iteration; on a one-cycle loop body that alone costs 30% (measured:
//! `cargo bench -p wasmetal-bench --bench instrument`, sum_loop 1.31x compare vs 1.09x
//! poll). With fuel metering, epochs are compared in the code instead, so the fuel
//! counter can be stored before the policy runs. A function without loops and calls
//! runs in time bounded by its size, so it skips the entry check: its caller checks
//! again soon enough.
//!
//! The instrumentation builtins preserve every register and answer in the limits'
//! `builtin_status`, so the cold call in a loop costs the loop no registers (see
//! `vm::builtin`).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, types};
use cranelift_frontend::Variable;
use wasmparser::Operator;

use super::FuncTranslator;
use crate::compiler::func_env::{trap_code, trusted};
use crate::trap::TrapCode;
use crate::vm::builtin::Builtin;
use crate::vm::epoch::EpochSlot;
use crate::vm::vmcontext::field;

/// Instrumentation state of one function.
#[derive(Default)]
pub(crate) struct Instrumentation {
    fuel: Option<Variable>,
    /// Fuel counted since the last flush.
    pending_fuel: i64,
    epochs: bool,
    /// The function has no loop and no call ([`runs_bounded`]): no epoch check at entry.
    pub(super) skip_entry_epoch_check: bool,
}

/// Whether a body runs in time bounded by its length: no loop, no call of any kind.
/// Unreadable bodies count as unbounded (the validator reports them).
pub(super) fn runs_bounded(body: &wasmparser::FunctionBody<'_>) -> bool {
    let Ok(mut reader) = body.get_operators_reader() else { return false };
    while !reader.eof() {
        match reader.read() {
            Ok(
                Operator::Loop { .. }
                | Operator::Call { .. }
                | Operator::CallIndirect { .. }
                | Operator::CallRef { .. }
                | Operator::ReturnCall { .. }
                | Operator::ReturnCallIndirect { .. }
                | Operator::ReturnCallRef { .. },
            )
            | Err(_) => return false,
            Ok(_) => {}
        }
    }
    true
}

impl Instrumentation {
    /// Forgets fuel counted on a path that turned out unreachable.
    pub(super) fn reset_pending(&mut self) {
        self.pending_fuel = 0;
    }
}

/// Fuel an operator costs.
fn fuel_cost(op: &Operator<'_>) -> i64 {
    match op {
        Operator::Nop
        | Operator::Drop
        | Operator::Block { .. }
        | Operator::Loop { .. }
        | Operator::End
        | Operator::Else => 0,
        _ => 1,
    }
}

/// Whether control may leave the current basic block at `op` (fuel must be flushed first).
fn ends_block(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::Br { .. }
            | Operator::BrIf { .. }
            | Operator::BrTable { .. }
            | Operator::If { .. }
            | Operator::Else
            | Operator::End
            | Operator::Loop { .. }
            | Operator::Return
            | Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
    )
}

/// Whether `op` leaves the function (fuel must reach the store first).
fn leaves_function(op: &Operator<'_>) -> bool {
    matches!(op, Operator::Return | Operator::ReturnCall { .. } | Operator::ReturnCallIndirect { .. })
}

impl FuncTranslator<'_, '_> {
    /// Sets up fuel accounting at function entry and performs the entry checks.
    pub(super) fn instrument_entry(&mut self) {
        if self.env.tunables.consume_fuel {
            let var = self.builder.declare_var(types::I64);
            self.instrumentation.fuel = Some(var);
            self.fuel_reload();
            self.check_fuel();
        }
        self.instrumentation.epochs = self.env.tunables.epoch_interruption;
        if self.instrumentation.epochs && !self.instrumentation.skip_entry_epoch_check {
            self.check_epoch();
        }
    }

    /// Accounts `op` and flushes or stores fuel where control may leave.
    pub(super) fn instrument_operator(&mut self, op: &Operator<'_>) {
        if self.instrumentation.fuel.is_none() {
            return;
        }
        self.instrumentation.pending_fuel += fuel_cost(op);
        if ends_block(op) {
            self.fuel_flush();
        }
        let function_end = matches!(op, Operator::End) && self.control.len() == 1;
        if leaves_function(op) || function_end || matches!(op, Operator::Call { .. } | Operator::CallIndirect { .. }) {
            self.fuel_store();
        }
    }

    /// After a call returns: the callee may have used fuel.
    pub(super) fn instrument_after_call(&mut self) {
        if self.instrumentation.fuel.is_some() {
            self.fuel_reload();
        }
    }

    /// The checks at function entry and loop headers.
    pub(super) fn instrument_checkpoint(&mut self) {
        if self.instrumentation.fuel.is_some() {
            self.check_fuel();
        }
        if self.instrumentation.epochs {
            self.check_epoch();
        }
    }

    fn fuel_flush(&mut self) {
        let (Some(var), pending) = (self.instrumentation.fuel, self.instrumentation.pending_fuel) else { return };
        if pending == 0 {
            return;
        }
        let fuel = self.builder.use_var(var);
        let fuel = self.builder.ins().iadd_imm_s(fuel, pending);
        self.builder.def_var(var, fuel);
        self.instrumentation.pending_fuel = 0;
    }

    fn fuel_store(&mut self) {
        let Some(var) = self.instrumentation.fuel else { return };
        self.fuel_flush();
        let limits = self.env.runtime_limits(&mut self.builder);
        let fuel = self.builder.use_var(var);
        self.builder.ins().store(trusted(), fuel, limits, field::LIMITS_FUEL_CONSUMED as i32);
    }

    fn fuel_reload(&mut self) {
        let Some(var) = self.instrumentation.fuel else { return };
        let limits = self.env.runtime_limits(&mut self.builder);
        let fuel = self.builder.ins().load(types::I64, trusted(), limits, field::LIMITS_FUEL_CONSUMED as i32);
        self.builder.def_var(var, fuel);
    }

    fn check_fuel(&mut self) {
        let Some(var) = self.instrumentation.fuel else { return };
        self.fuel_flush();
        let fuel = self.builder.use_var(var);
        let exhausted = self.builder.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, fuel, 0);
        let slow = self.builder.create_block();
        let next = self.builder.create_block();
        self.builder.set_cold_block(slow);
        self.builder.ins().brif(exhausted, slow, &[], next, &[]);
        self.builder.seal_block(slow);
        self.builder.switch_to_block(slow);
        self.fuel_store();
        self.call_instrumentation_builtin(Builtin::OutOfFuel, TrapCode::OutOfFuel);
        self.fuel_reload();
        self.builder.ins().jump(next, &[]);
        self.builder.seal_block(next);
        self.builder.switch_to_block(next);
    }

    fn check_epoch(&mut self) {
        if self.instrumentation.fuel.is_some() {
            self.check_epoch_by_comparing();
        } else {
            self.poll_epoch();
        }
    }

    /// The poll: load the slot's poll word, then a byte through it. Both loads are
    /// atomic so Cranelift neither merges nor hoists them (the word changes under the
    /// code's feet); the second carries the `Interrupt` trap code, which is how the trap
    /// handler tells a poll from a trap (`vm::traphandler`).
    fn poll_epoch(&mut self) {
        let slot = self.env.epoch_slot(&mut self.builder);
        // The poll word is the slot's first field (pinned in `vm::epoch`).
        let target = self.builder.ins().atomic_load(types::I64, trusted(), slot);
        let poll = MemFlagsData::new().with_trap_code(Some(trap_code(TrapCode::Interrupt)));
        self.builder.ins().atomic_load(types::I8, poll, target);
    }

    /// With fuel metering the deadline is compared in the code, so the cold path can
    /// store the fuel counter before the policy runs (an epoch callback sees exact fuel)
    /// and reload it after.
    fn check_epoch_by_comparing(&mut self) {
        let counter = self.env.epoch_counter(&mut self.builder);
        let epoch = self.builder.ins().load(types::I64, trusted(), counter, 0);
        let slot = self.env.epoch_slot(&mut self.builder);
        let deadline = self.builder.ins().load(types::I64, trusted(), slot, EpochSlot::DEADLINE_OFFSET as i32);
        let passed = self.builder.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, epoch, deadline);
        let slow = self.builder.create_block();
        let next = self.builder.create_block();
        self.builder.set_cold_block(slow);
        self.builder.ins().brif(passed, slow, &[], next, &[]);
        self.builder.seal_block(slow);
        self.builder.switch_to_block(slow);
        self.fuel_store();
        self.call_instrumentation_builtin(Builtin::NewEpoch, TrapCode::Interrupt);
        self.fuel_reload();
        self.builder.ins().jump(next, &[]);
        self.builder.seal_block(next);
        self.builder.switch_to_block(next);
    }

    /// Calls a register-preserving instrumentation builtin and traps with `code` when
    /// its verdict says so.
    fn call_instrumentation_builtin(&mut self, builtin: Builtin, code: TrapCode) {
        debug_assert!(builtin.preserves_all());
        self.env.call_builtin(&mut self.builder, builtin, &[]);
        let limits = self.env.runtime_limits(&mut self.builder);
        let status = self.builder.ins().load(types::I64, trusted(), limits, field::LIMITS_BUILTIN_STATUS as i32);
        self.builder.ins().trapnz(status, trap_code(code));
    }
}
