//! Linearizability checking of KV client histories.
//!
//! A history is linearizable when each operation can be given one instant,
//! between its invoke and its completion, at which it takes effect, such
//! that running the operations one at a time in that order on the
//! sequential model ([`crate::kv_model`]) gives every answer the clients
//! saw. This is the guarantee quorate promises for writes and linearizable
//! reads, so a simulated run whose history fails it has found a bug.
//!
//! Every operation touches exactly one key, and linearizability is
//! compositional (Herlihy & Wing): a history is linearizable exactly when
//! each key's sub-history is, against a single-register model. Checking
//! keys one at a time keeps each search small. The `narrow` module then
//! settles most indeterminate writes before the search (pins them to the
//! read that saw them, or drops them when nothing saw them), and the
//! `search` module holds the search itself.
//!
//! What goes into a key's search:
//! - completed operations, with their interval and answer;
//! - indeterminate and never-answered writes (`Put`, `Delete`, `Cas`), with
//!   no completion and no required answer: they may take effect at any time
//!   after their invoke, or never;
//! - not failed operations (they never took effect) nor indeterminate
//!   `Get`s (a read that may or may not have happened, with an unknown
//!   answer, constrains nothing).
//!
//! The search is bounded by a number of model steps per key. Running out
//! gives [`Verdict::Unknown`], which is neither a pass nor a failure: the
//! caller decides (the simulator reports it and moves on).
//!
//! The check is deterministic: keys are visited in order and the search
//! order depends only on the history.

mod explain;
mod narrow;
mod search;

use std::collections::BTreeMap;

use crate::history::{History, Key, Op, OpId, OpRecord, Outcome, Output};
use search::SearchOutcome;

/// Model steps one key's search may take before giving up, by default.
/// Linearizable per-key histories of ~60 operations with ~7 overlapping
/// clients need a few hundred; a violation needs at most the number of
/// reachable (placed set, value) pairs, which stays in the thousands there.
pub const STEPS_PER_KEY_MAX_DEFAULT: u64 = 1_000_000;

/// Bounds on the check.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CheckConfig {
    /// Model steps one key's search may take before its verdict is
    /// "unknown". Must be positive.
    pub steps_per_key_max: u64,
}

impl Default for CheckConfig {
    fn default() -> CheckConfig {
        CheckConfig {
            steps_per_key_max: STEPS_PER_KEY_MAX_DEFAULT,
        }
    }
}

/// The result of a check.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// Some real-time-respecting order explains every answer.
    Linearizable,
    /// No order does, on the key the violation names.
    NotLinearizable(Box<Violation>),
    /// Every key finished was linearizable, but the search of these keys ran
    /// out of budget.
    Unknown(BudgetExhausted),
}

impl Verdict {
    /// Whether the history was shown linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }

    /// The violation, if one was found.
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            Verdict::NotLinearizable(violation) => Some(violation),
            _ => None,
        }
    }
}

/// The keys whose search ran out of steps.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BudgetExhausted {
    /// The keys, ascending.
    pub keys: Vec<Key>,
    /// The budget each of them exceeded.
    pub steps_per_key_max: u64,
}

/// Why a history is not linearizable: one key whose operations no order
/// explains. Its `Display` is the report a failing simulator seed prints.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Violation {
    key: Key,
    /// Every recorded operation on the key, in invoke order, failed ones
    /// included so that the report shows what the client saw.
    key_ops: Vec<(OpId, OpRecord)>,
    /// A subset of the checked operations that is itself not linearizable:
    /// the key's operations minus reads whose removal keeps the violation.
    witness: Vec<OpId>,
    /// Whether every read in the witness was shown needed (false when the
    /// budget ran out first).
    witness_minimal: bool,
    /// The longest order of operations the search could explain.
    longest_order: Vec<OpId>,
    /// The completed operation that could not take effect after
    /// `longest_order`.
    stuck: Option<OpId>,
}

impl Violation {
    /// The key whose operations cannot be ordered.
    pub fn key(&self) -> Key {
        self.key
    }

    /// A not-linearizable subset of the key's operations, in invoke order.
    pub fn witness(&self) -> &[OpId] {
        &self.witness
    }

    /// The longest order of the key's operations that explains all of
    /// their answers.
    pub fn longest_order(&self) -> &[OpId] {
        &self.longest_order
    }

    /// The operation that must have taken effect right after
    /// [`Violation::longest_order`], yet could not.
    pub fn stuck(&self) -> Option<OpId> {
        self.stuck
    }

    /// Every recorded operation on the key, in invoke order.
    pub fn key_ops(&self) -> &[(OpId, OpRecord)] {
        &self.key_ops
    }
}

/// One operation as the search sees it.
#[derive(Clone, Copy, Debug)]
struct KeyOp {
    id: OpId,
    op: Op,
    /// The answer it must give; `None` for an indeterminate operation, which
    /// may give any.
    output: Option<Output>,
    /// (time, recording order) of the invoke.
    invoke: (u64, u64),
    /// (time, recording order) of the completion; `None` when
    /// indeterminate.
    complete: Option<(u64, u64)>,
}

impl KeyOp {
    /// The operation as the search sees it, or `None` when it cannot
    /// constrain the search (failed, or an indeterminate read).
    fn from_record(id: OpId, record: &OpRecord) -> Option<KeyOp> {
        let output = match record.outcome() {
            Outcome::Completed { output, .. } => Some(output),
            Outcome::Failed => return None,
            Outcome::Pending | Outcome::Indeterminate if record.op().is_read_only() => return None,
            Outcome::Pending | Outcome::Indeterminate => None,
        };
        Some(KeyOp {
            id,
            op: record.op(),
            output,
            invoke: record.invoke_position(),
            complete: record.complete_position(),
        })
    }
}

/// Checks `history` against the KV model, key by key, in ascending key
/// order. Stops at the first key found not linearizable.
pub fn check(history: &History, config: &CheckConfig) -> Verdict {
    assert!(
        config.steps_per_key_max > 0,
        "steps_per_key_max must be positive"
    );
    let mut exhausted_keys = Vec::new();
    for (key, ops) in ops_by_key(history) {
        match check_key(&ops, config.steps_per_key_max).0 {
            SearchOutcome::Linearizable => {}
            SearchOutcome::Exhausted => exhausted_keys.push(key),
            SearchOutcome::NotLinearizable(deepest) => {
                let violation = explain::violation(history, key, &ops, &deepest, config);
                return Verdict::NotLinearizable(Box::new(violation));
            }
        }
    }
    if exhausted_keys.is_empty() {
        Verdict::Linearizable
    } else {
        Verdict::Unknown(BudgetExhausted {
            keys: exhausted_keys,
            steps_per_key_max: config.steps_per_key_max,
        })
    }
}

/// Checks one key's operations (in invoke order) within `steps_max` model
/// steps; returns the outcome and the steps taken.
fn check_key(ops: &[KeyOp], steps_max: u64) -> (SearchOutcome, u64) {
    search::search(&narrow::narrow_indeterminate(ops), steps_max)
}

/// Splits the operations that can constrain the search by key, each key's
/// list in invoke order.
fn ops_by_key(history: &History) -> BTreeMap<Key, Vec<KeyOp>> {
    let mut by_key: BTreeMap<Key, Vec<KeyOp>> = BTreeMap::new();
    for (index, record) in history.records().iter().enumerate() {
        if let Some(key_op) = KeyOp::from_record(OpId(index), record) {
            by_key.entry(record.op().key()).or_default().push(key_op);
        }
    }
    for ops in by_key.values_mut() {
        ops.sort_by_key(|key_op| key_op.invoke);
    }
    by_key
}

#[cfg(test)]
mod tests;
