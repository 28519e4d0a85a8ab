//! Narrowing indeterminate writes before the search.
//!
//! An indeterminate write may take effect at any time after its invoke, or
//! never. Left alone, every such write doubles the states the search may
//! visit (placed or not, at each point), and a key with a dozen of them and
//! a genuine violation can take seconds to refute. Because the workload
//! writes each value once, most indeterminate writes can be settled up
//! front, without changing whether the key's history is linearizable:
//!
//! - **Seen later: pinned.** If the write is the only one that can write
//!   value `v`, and some completed operation needs the register to hold `v`
//!   (a read of `v`, or a swap expecting `v`), the write must take effect
//!   before that operation does, so before it completes. The write gets a
//!   return event at the earliest such completion: it is then searched like
//!   a completed operation whose answer is unknown.
//! - **Never seen: dropped.** If no operation names `v` (no read returned
//!   it, no swap expected it), and no completed swap that answered "not
//!   swapped" could take effect after the write's invoke, the write can be
//!   removed. In any order that places it, what follows up to the next Put
//!   or Delete can only be indeterminate swaps that change nothing (a read
//!   or a swap would have named `v`, and a refused swap cannot follow), and
//!   removing the write and those swaps leaves a valid order.
//!
//! Everything else is kept as is.

use std::collections::{HashMap, HashSet};

use super::KeyOp;
use crate::history::{Op, Output, Value};

/// Position of an event: (time, recording order).
type Position = (u64, u64);

/// What the key's operations say about each value.
#[derive(Default)]
struct Observations {
    /// How many operations may write each value.
    writers: HashMap<Value, u32>,
    /// For each value, the earliest completion of a completed operation
    /// whose answer needs the register to hold it.
    first_needed: HashMap<Value, Position>,
    /// Values some operation names: read by a completed `Get`, or expected
    /// by any `Cas`.
    named: HashSet<Value>,
    /// The latest completion of a completed `Cas` that did not swap.
    last_refused_cas: Option<Position>,
}

impl Observations {
    fn of(ops: &[KeyOp]) -> Observations {
        let mut observations = Observations::default();
        for key_op in ops {
            if let Some(value) = written_value(&key_op.op) {
                *observations.writers.entry(value).or_default() += 1;
            }
            if let Op::Cas {
                expected: Some(expected),
                ..
            } = key_op.op
            {
                observations.named.insert(expected);
            }
            if let (Some(output), Some(complete)) = (key_op.output, key_op.complete) {
                observations.note_answer(&key_op.op, output, complete);
            }
        }
        observations
    }

    /// Records what a completed operation's answer says.
    fn note_answer(&mut self, op: &Op, output: Output, complete: Position) {
        let needed = match (output, op) {
            (Output::Read(Some(value)), _) => {
                self.named.insert(value);
                Some(value)
            }
            (Output::Swapped(true), Op::Cas { expected, .. }) => *expected,
            (Output::Swapped(false), _) => {
                self.last_refused_cas = self.last_refused_cas.max(Some(complete));
                None
            }
            _ => None,
        };
        if let Some(value) = needed {
            let first = self.first_needed.entry(value).or_insert(complete);
            *first = (*first).min(complete);
        }
    }
}

/// The value `op` leaves in the register if it takes effect and writes;
/// `None` for a delete, a `Cas` that deletes, or a read.
fn written_value(op: &Op) -> Option<Value> {
    match *op {
        Op::Put { value, .. } => Some(value),
        Op::Cas { new, .. } => new,
        Op::Delete { .. } | Op::Get { .. } => None,
    }
}

/// Returns `ops` with indeterminate writes pinned or dropped where that
/// provably keeps the verdict; see the module documentation.
pub(super) fn narrow_indeterminate(ops: &[KeyOp]) -> Vec<KeyOp> {
    let has_indeterminate = ops.iter().any(|key_op| key_op.complete.is_none());
    if !has_indeterminate {
        return ops.to_vec();
    }
    let observations = Observations::of(ops);
    ops.iter()
        .filter_map(|key_op| narrow_one(*key_op, &observations))
        .collect()
}

/// The operation as the search should see it, or `None` to drop it.
fn narrow_one(key_op: KeyOp, observations: &Observations) -> Option<KeyOp> {
    if key_op.complete.is_some() {
        return Some(key_op);
    }
    assert!(
        key_op.output.is_none(),
        "an indeterminate operation has no answer"
    );
    let Some(value) = written_value(&key_op.op) else {
        return Some(key_op);
    };
    let only_writer = observations.writers.get(&value) == Some(&1);
    if let Some(&needed_by) = observations.first_needed.get(&value) {
        if only_writer && needed_by > key_op.invoke {
            return Some(KeyOp {
                complete: Some(needed_by),
                ..key_op
            });
        }
        return Some(key_op);
    }
    let named = observations.named.contains(&value);
    let refused_cas_may_follow = observations
        .last_refused_cas
        .is_some_and(|complete| complete > key_op.invoke);
    if named || refused_cas_may_follow {
        Some(key_op)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::OpId;

    fn key_op(id: usize, op: Op, invoke: u64, answer: Option<(u64, Output)>) -> KeyOp {
        KeyOp {
            id: OpId(id),
            op,
            output: answer.map(|(_, output)| output),
            invoke: (invoke, 0),
            complete: answer.map(|(complete, _)| (complete, 0)),
        }
    }

    #[test]
    fn write_read_later_is_pinned_to_the_first_read() {
        let ops = [
            key_op(0, Op::Put { key: 1, value: 5 }, 1, None),
            key_op(1, Op::Get { key: 1 }, 3, Some((9, Output::Read(Some(5))))),
            key_op(2, Op::Get { key: 1 }, 4, Some((7, Output::Read(Some(5))))),
        ];
        let narrowed = narrow_indeterminate(&ops);
        assert_eq!(narrowed.len(), 3);
        assert_eq!(narrowed[0].complete, Some((7, 0)));
        assert_eq!(narrowed[0].output, None);
    }

    #[test]
    fn write_never_named_is_dropped() {
        let ops = [
            key_op(0, Op::Put { key: 1, value: 5 }, 1, None),
            key_op(1, Op::Get { key: 1 }, 3, Some((9, Output::Read(None)))),
        ];
        let narrowed = narrow_indeterminate(&ops);
        assert_eq!(narrowed.len(), 1);
        assert_eq!(narrowed[0].id, OpId(1));
    }

    #[test]
    fn write_is_kept_when_a_refused_cas_may_follow_it() {
        let refused = Op::Cas {
            key: 1,
            expected: Some(4),
            new: Some(6),
        };
        let ops = [
            key_op(0, Op::Put { key: 1, value: 5 }, 1, None),
            key_op(1, refused, 3, Some((9, Output::Swapped(false)))),
        ];
        assert_eq!(narrow_indeterminate(&ops).len(), 2);
    }

    #[test]
    fn write_of_a_value_written_twice_is_not_pinned() {
        let ops = [
            key_op(0, Op::Put { key: 1, value: 5 }, 1, None),
            key_op(
                1,
                Op::Put { key: 1, value: 5 },
                2,
                Some((3, Output::Written)),
            ),
            key_op(2, Op::Get { key: 1 }, 4, Some((7, Output::Read(Some(5))))),
        ];
        let narrowed = narrow_indeterminate(&ops);
        assert_eq!(narrowed.len(), 3);
        assert_eq!(narrowed[0].complete, None);
    }

    #[test]
    fn deletes_are_kept() {
        let ops = [key_op(0, Op::Delete { key: 1 }, 1, None)];
        assert_eq!(narrow_indeterminate(&ops).len(), 1);
    }
}
