//! The search for a linearization of one key's operations.
//!
//! This is the Wing & Gong backtracking search with Lowe's memoization, as
//! Porcupine implements it, written over index-linked arrays.
//!
//! Every operation contributes a *call* event at its invoke and, if it
//! completed, a *return* event at its completion; the events sit in one
//! doubly linked list in time order. Walking the list from the head, every
//! call met before the first return belongs to an operation that may take
//! effect next: it was invoked before the earliest completion among the
//! operations not yet placed, so placing it next breaks no real-time order.
//! The first return met ends the walk, since that operation must take
//! effect before anything invoked after it.
//!
//! Placing an operation runs it on the register model and checks its
//! answer. If the answer matches, the operation is *lifted*: its call and
//! return are unlinked from the list (dancing links: the unlinked node keeps
//! its own `prev`/`next`, so *unlifting* relinks it in constant time, as
//! long as nodes are relinked in the reverse order of unlinking — which a
//! depth-first search does). The search then restarts from the head. When
//! the walk reaches a return, no candidate works here: the last placement is
//! undone and the walk resumes after it.
//!
//! Two different orders of the same operations that end in the same register
//! value leave the same problem behind, so the search remembers every
//! (placed set, value) pair it has reached and never enters one twice. This
//! turns the factorial search into one bounded by the number of reachable
//! pairs, which is small when few operations overlap.
//! The memo is a hash set that is only ever asked "seen before?", never
//! iterated, so its per-process hash seed cannot change a verdict or a
//! report: the search stays deterministic.
//!
//! Indeterminate operations have no return event: nothing forces them to
//! take effect, and any answer matches. The search succeeds as soon as every
//! completed operation is placed; indeterminate operations left over are
//! those that never took effect.

use std::collections::HashSet;

use super::KeyOp;
use crate::history::{OpId, Value};
use crate::kv_model::register_step;

/// What the search found for one key.
#[derive(Debug)]
pub(super) enum SearchOutcome {
    /// Some order explains every answer.
    Linearizable,
    /// No order does; `Deepest` says how far the search got.
    NotLinearizable(Deepest),
    /// The step budget ran out before either was shown.
    Exhausted,
}

/// The longest partial order the search found, for explaining a violation.
#[derive(Debug, Default)]
pub(super) struct Deepest {
    /// The operations placed, in order.
    pub order: Vec<OpId>,
    /// The completed operation that ended the walk from that partial order:
    /// it had to take effect next, but could not.
    pub stuck: Option<OpId>,
}

/// Marks a node link as unused (a call without a return).
const NO_NODE: u32 = u32::MAX;
/// The list's head sentinel.
const HEAD: u32 = 0;
/// The list's tail sentinel.
const TAIL: u32 = 1;

#[derive(Clone, Copy, Debug)]
enum EventKind {
    /// An invoke; `return_node` is the matching completion, or `NO_NODE`
    /// for an indeterminate operation.
    Call { return_node: u32 },
    /// A completion.
    Return,
    /// The head or tail of the list.
    Sentinel,
}

#[derive(Clone, Copy, Debug)]
struct EventNode {
    prev: u32,
    next: u32,
    /// Position of the operation in the key's operation list.
    op: u32,
    kind: EventKind,
}

/// The time-ordered event list of one key's operations.
struct EventList {
    nodes: Vec<EventNode>,
}

impl EventList {
    /// Builds the list: one call per operation, one return per completed
    /// operation, ordered by (time, recording order).
    fn new(ops: &[KeyOp]) -> EventList {
        let mut events: Vec<((u64, u64), u32, bool)> = Vec::with_capacity(ops.len() * 2);
        for (position, op) in ops.iter().enumerate() {
            let position = u32::try_from(position).expect("key history exceeds u32::MAX ops");
            events.push((op.invoke, position, true));
            if let Some(complete) = op.complete {
                assert!(
                    complete > op.invoke,
                    "operation completes before its invoke"
                );
                events.push((complete, position, false));
            }
        }
        // Recording order breaks time ties. Only a return that `narrow`
        // pinned to an observer's completion shares its position; the
        // operation position then orders the two, deterministically.
        events.sort_unstable_by_key(|&(at, position, _)| (at, position));

        let sentinel = EventNode {
            prev: NO_NODE,
            next: NO_NODE,
            op: NO_NODE,
            kind: EventKind::Sentinel,
        };
        let mut nodes = vec![sentinel; events.len() + 2];
        let mut call_node_of = vec![NO_NODE; ops.len()];
        let mut previous = HEAD;
        for (offset, &(_, op, is_call)) in events.iter().enumerate() {
            let node = u32::try_from(offset + 2).expect("event count exceeds u32::MAX");
            let kind = if is_call {
                call_node_of[op as usize] = node;
                EventKind::Call {
                    return_node: NO_NODE,
                }
            } else {
                // The call sorts first, so its node is known; link it here.
                let call_node = call_node_of[op as usize];
                nodes[call_node as usize].kind = EventKind::Call { return_node: node };
                EventKind::Return
            };
            nodes[previous as usize].next = node;
            nodes[node as usize] = EventNode {
                prev: previous,
                next: TAIL,
                op,
                kind,
            };
            previous = node;
        }
        nodes[previous as usize].next = TAIL;
        nodes[TAIL as usize].prev = previous;
        EventList { nodes }
    }

    fn next(&self, node: u32) -> u32 {
        self.nodes[node as usize].next
    }

    /// Unlinks the call `node` and its return, if any.
    fn lift(&mut self, node: u32) {
        self.unlink(node);
        if let EventKind::Call { return_node } = self.nodes[node as usize].kind {
            if return_node != NO_NODE {
                self.unlink(return_node);
            }
        }
    }

    /// Undoes [`EventList::lift`] of `node`; must be the latest lift.
    fn unlift(&mut self, node: u32) {
        if let EventKind::Call { return_node } = self.nodes[node as usize].kind {
            if return_node != NO_NODE {
                self.relink(return_node);
            }
        }
        self.relink(node);
    }

    fn unlink(&mut self, node: u32) {
        let EventNode { prev, next, .. } = self.nodes[node as usize];
        self.nodes[prev as usize].next = next;
        self.nodes[next as usize].prev = prev;
    }

    fn relink(&mut self, node: u32) {
        let EventNode { prev, next, .. } = self.nodes[node as usize];
        assert_eq!(self.nodes[prev as usize].next, next, "relink out of order");
        self.nodes[prev as usize].next = node;
        self.nodes[next as usize].prev = node;
    }
}

/// A set of placed operations, one bit per position in the key's list.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct PlacedSet {
    words: Vec<u64>,
}

impl PlacedSet {
    fn new(len: usize) -> PlacedSet {
        PlacedSet {
            words: vec![0; len.div_ceil(64)],
        }
    }

    fn insert(&mut self, position: u32) {
        self.words[position as usize / 64] |= 1 << (position % 64);
    }

    fn remove(&mut self, position: u32) {
        self.words[position as usize / 64] &= !(1 << (position % 64));
    }
}

/// One placed operation on the search stack.
#[derive(Clone, Copy, Debug)]
struct Placement {
    /// The operation's call node, lifted from the list.
    node: u32,
    /// The operation's position in the key's list.
    position: u32,
    /// The register value before the operation took effect.
    value_before: Option<Value>,
}

/// The state of one depth-first search.
struct Search<'a> {
    ops: &'a [KeyOp],
    list: EventList,
    /// Operations placed so far, as a set (for the memo) ...
    placed: PlacedSet,
    /// ... and in order, with what is needed to undo each.
    stack: Vec<Placement>,
    /// Every (placed set, register value) pair reached so far.
    seen: HashSet<(PlacedSet, Option<Value>)>,
    /// The register value after the placed operations.
    value: Option<Value>,
    /// Completed operations not yet placed; the search succeeds at zero.
    completed_left: usize,
    deepest: Deepest,
}

/// Searches for an order of `ops` (one key's operations) that respects
/// real time and explains every completed answer, trying at most
/// `steps_max` model steps. Returns the outcome and the steps taken.
pub(super) fn search(ops: &[KeyOp], steps_max: u64) -> (SearchOutcome, u64) {
    let mut search = Search {
        ops,
        list: EventList::new(ops),
        placed: PlacedSet::new(ops.len()),
        stack: Vec::with_capacity(ops.len()),
        seen: HashSet::new(),
        value: None,
        completed_left: ops.iter().filter(|op| op.complete.is_some()).count(),
        deepest: Deepest::default(),
    };
    let mut steps = 0_u64;
    let mut node = search.list.next(HEAD);
    while search.completed_left > 0 {
        let EventNode { op, kind, .. } = search.list.nodes[node as usize];
        node = match kind {
            EventKind::Call { .. } => {
                if steps == steps_max {
                    return (SearchOutcome::Exhausted, steps);
                }
                steps += 1;
                if search.try_place(node, op) {
                    search.list.next(HEAD)
                } else {
                    search.list.next(node)
                }
            }
            EventKind::Return | EventKind::Sentinel => {
                search.note_stuck(op);
                match search.undo_last() {
                    Some(undone) => search.list.next(undone),
                    None => return (SearchOutcome::NotLinearizable(search.deepest), steps),
                }
            }
        };
    }
    (SearchOutcome::Linearizable, steps)
}

impl Search<'_> {
    /// Tries to make the operation at `position`, whose call is `node`, take
    /// effect next. Places it and returns true if its answer matches the
    /// model and the resulting (placed set, value) pair is new.
    fn try_place(&mut self, node: u32, position: u32) -> bool {
        let key_op = &self.ops[position as usize];
        let (value_after, output) = register_step(self.value, &key_op.op);
        if !key_op.output.is_none_or(|answer| answer == output) {
            return false;
        }
        self.placed.insert(position);
        if !self.seen.insert((self.placed.clone(), value_after)) {
            self.placed.remove(position);
            return false;
        }
        self.stack.push(Placement {
            node,
            position,
            value_before: self.value,
        });
        self.value = value_after;
        self.list.lift(node);
        if key_op.complete.is_some() {
            self.completed_left -= 1;
        }
        if self.stack.len() > self.deepest.order.len() {
            let ops = self.ops;
            self.deepest.order = self
                .stack
                .iter()
                .map(|p| ops[p.position as usize].id)
                .collect();
            self.deepest.stuck = None;
        }
        true
    }

    /// Undoes the latest placement and returns its call node, or `None`
    /// when nothing is placed.
    fn undo_last(&mut self) -> Option<u32> {
        let placement = self.stack.pop()?;
        self.placed.remove(placement.position);
        self.value = placement.value_before;
        self.list.unlift(placement.node);
        if self.ops[placement.position as usize].complete.is_some() {
            self.completed_left += 1;
        }
        Some(placement.node)
    }

    /// Remembers which operation blocked the deepest partial order.
    fn note_stuck(&mut self, position: u32) {
        let at_deepest = self.stack.len() == self.deepest.order.len();
        if at_deepest && self.deepest.stuck.is_none() && position != NO_NODE {
            self.deepest.stuck = Some(self.ops[position as usize].id);
        }
    }
}
