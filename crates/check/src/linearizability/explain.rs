//! Turning a failed search into a report a person can act on.
//!
//! A per-key history can hold dozens of operations, most of them innocent.
//! The report narrows it down in two ways:
//!
//! - a *witness*: the key's operations minus every read whose removal keeps
//!   the rest not linearizable. Only reads (a `Get`, or a `Cas` that did not
//!   swap) are removed, because dropping a read from a linearizable history
//!   leaves it linearizable; so the witness is a genuine proof, not an
//!   artefact of the pruning (dropping a write could make a later read look
//!   impossible). Each read left in the witness is needed for the violation.
//! - the longest order the search could explain, and the operation that
//!   had to come next but could not: usually the read that saw the wrong
//!   value.
//!
//! It then lists every recorded operation on the key, so nothing is hidden.

use std::fmt;

use super::narrow::narrow_indeterminate;
use super::search::{Deepest, SearchOutcome};
use super::{check_key, CheckConfig, KeyOp, Violation};
use crate::history::{History, Key, OpId, OpRecord, Outcome, Output};

/// Builds the violation report for `key`, whose checked operations `ops`
/// were found not linearizable with `deepest` as the furthest partial order.
pub(super) fn violation(
    history: &History,
    key: Key,
    ops: &[KeyOp],
    deepest: &Deepest,
    config: &CheckConfig,
) -> Violation {
    let mut key_ops: Vec<(OpId, OpRecord)> = history
        .records()
        .iter()
        .enumerate()
        .filter(|(_, record)| record.op().key() == key)
        .map(|(index, record)| (OpId(index), *record))
        .collect();
    key_ops.sort_by_key(|(_, record)| record.invoke_position());
    let (witness, witness_minimal) = witness(ops, config.steps_per_key_max);
    Violation {
        key,
        key_ops,
        witness,
        witness_minimal,
        longest_order: deepest.order.clone(),
        stuck: deepest.stuck,
    }
}

/// The operations of `ops` (not linearizable) left after removing, one at a
/// time from the latest, every read whose removal keeps them not
/// linearizable, and after narrowing (unseen indeterminate writes go too).
/// Spends at most `steps_max` model steps in all; past that, the reads not
/// yet tried stay in, and the second value is false. The witness is genuine
/// either way, only larger.
fn witness(ops: &[KeyOp], steps_max: u64) -> (Vec<OpId>, bool) {
    let mut kept = ops.to_vec();
    let mut steps_left = steps_max;
    let mut minimal = true;
    for index in (0..kept.len()).rev() {
        if !is_read(&kept[index]) {
            continue;
        }
        if steps_left == 0 {
            minimal = false;
            break;
        }
        let removed = kept.remove(index);
        let (outcome, steps) = check_key(&kept, steps_left);
        steps_left -= steps;
        if !matches!(outcome, SearchOutcome::NotLinearizable(_)) {
            kept.insert(index, removed);
            minimal &= !matches!(outcome, SearchOutcome::Exhausted);
        }
    }
    let narrowed = narrow_indeterminate(&kept);
    (narrowed.iter().map(|key_op| key_op.id).collect(), minimal)
}

/// Whether the operation's answer says it changed nothing.
fn is_read(key_op: &KeyOp) -> bool {
    matches!(
        key_op.output,
        Some(Output::Read(_) | Output::Swapped(false))
    )
}

impl fmt::Display for Violation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "not linearizable: no order of the operations on key {}, consistent with real time, \
             explains the answers clients saw",
            self.key
        )?;
        let needed = if self.witness_minimal {
            "each read here is needed for the violation"
        } else {
            "search budget spent before every read was tried"
        };
        writeln!(
            formatter,
            "witness ({} operations; {needed}):",
            self.witness.len()
        )?;
        for id in &self.witness {
            self.write_op(formatter, *id)?;
        }
        write!(formatter, "longest explainable order:")?;
        for id in &self.longest_order {
            write!(formatter, " {id}")?;
        }
        if self.longest_order.is_empty() {
            write!(formatter, " (none)")?;
        }
        match self.stuck {
            Some(id) => writeln!(formatter, "; then {id} had to take effect and could not")?,
            None => writeln!(formatter)?,
        }
        writeln!(
            formatter,
            "all {} operations on key {} in invoke order:",
            self.key_ops.len(),
            self.key
        )?;
        for (id, _) in &self.key_ops {
            self.write_op(formatter, *id)?;
        }
        Ok(())
    }
}

impl Violation {
    /// Writes one line: id, client, interval, request, answer.
    fn write_op(&self, formatter: &mut fmt::Formatter<'_>, id: OpId) -> fmt::Result {
        let Some((_, record)) = self.key_ops.iter().find(|(key_id, _)| *key_id == id) else {
            return writeln!(formatter, "  {id}  (not recorded on this key)");
        };
        let invoke = record.invoke_time();
        let (interval, answer) = match record.outcome() {
            Outcome::Completed {
                output,
                complete_time,
            } => (format!("[{invoke}, {complete_time}]"), output.to_string()),
            Outcome::Indeterminate => (format!("[{invoke}, inf)"), "indeterminate".to_owned()),
            Outcome::Pending => (
                format!("[{invoke}, inf)"),
                "no answer (indeterminate)".to_owned(),
            ),
            Outcome::Failed => (
                format!("[{invoke}, -]"),
                "failed (never applied)".to_owned(),
            ),
        };
        writeln!(
            formatter,
            "  {:<6} {:<10} {:<14} {:<28} {}",
            id.to_string(),
            record.client().to_string(),
            interval,
            record.op().to_string(),
            answer
        )
    }
}
