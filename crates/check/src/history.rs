//! A record of what clients of the KV service asked and what they were told.
//!
//! The linearizability checker needs, for every client operation, the
//! interval during which it could have taken effect and the answer the
//! client saw. A client learns one of three things about a request:
//!
//! - an answer ([`Outcome::Completed`]): the operation took effect once,
//!   somewhere between its invoke and completion times;
//! - nothing certain ([`Outcome::Indeterminate`]): the request was proposed
//!   but its commit was never seen (the leader was lost, the client timed
//!   out). It may take effect at any moment after its invoke — even long
//!   after the client gave up — or never, so it is treated as completing at
//!   infinity with an unknown answer;
//! - a refusal ([`Outcome::Failed`]): the request was definitely not
//!   applied (refused before it was proposed), so it is left out of the
//!   check entirely.
//!
//! An operation still [`Outcome::Pending`] when the run ends counts as
//! indeterminate: nobody saw it finish, so it may or may not have happened.
//!
//! Times are logical (simulator ticks). Events recorded at the same time are
//! ordered by the order in which they were recorded, so a completion that is
//! recorded before an invoke at the same tick happens before it. The
//! simulator records events in the order it delivers them, which is the real
//! order.

use std::fmt;

/// A key of the KV workload. Every operation touches exactly one key.
pub type Key = u64;

/// A value of the KV workload. The workload writes each value at most once,
/// so a read names the write it observed.
pub type Value = u64;

/// A logical time in simulator ticks.
pub type Time = u64;

/// Identifies one client of the KV service.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ClientId(pub u64);

impl fmt::Display for ClientId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "client {}", self.0)
    }
}

/// Identifies one recorded operation: its position in the history, in
/// invoke-recording order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct OpId(pub usize);

impl fmt::Display for OpId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "#{}", self.0)
    }
}

/// A request to the KV service.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// Set `key` to `value`.
    Put { key: Key, value: Value },
    /// Remove `key`.
    Delete { key: Key },
    /// If the current value of `key` equals `expected` (`None`: absent), set
    /// it to `new` (`None`: delete) and answer that it swapped.
    Cas {
        key: Key,
        expected: Option<Value>,
        new: Option<Value>,
    },
    /// Read `key`.
    Get { key: Key },
}

impl Op {
    /// The one key this operation touches.
    pub fn key(&self) -> Key {
        match *self {
            Op::Put { key, .. } | Op::Delete { key } | Op::Cas { key, .. } | Op::Get { key } => key,
        }
    }

    /// Whether the operation can never change the state, whatever its
    /// answer. Only a `Get` is; a `Cas` may swap.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Op::Get { .. })
    }

    /// Whether `output` is the kind of answer this operation gives.
    pub fn accepts(&self, output: &Output) -> bool {
        matches!(
            (self, output),
            (Op::Put { .. } | Op::Delete { .. }, Output::Written)
                | (Op::Cas { .. }, Output::Swapped(_))
                | (Op::Get { .. }, Output::Read(_))
        )
    }
}

impl fmt::Display for Op {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Put { key, value } => write!(formatter, "put {key} = {value}"),
            Op::Delete { key } => write!(formatter, "delete {key}"),
            Op::Cas { key, expected, new } => write!(
                formatter,
                "cas {key}: {} -> {}",
                ValueText(expected),
                ValueText(new)
            ),
            Op::Get { key } => write!(formatter, "get {key}"),
        }
    }
}

/// The answer a client received.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Output {
    /// A `Put` or `Delete` took effect.
    Written,
    /// A `Cas` ran; whether it swapped.
    Swapped(bool),
    /// A `Get` read this value (`None`: absent).
    Read(Option<Value>),
}

impl fmt::Display for Output {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Output::Written => write!(formatter, "ok"),
            Output::Swapped(true) => write!(formatter, "swapped"),
            Output::Swapped(false) => write!(formatter, "not swapped"),
            Output::Read(value) => write!(formatter, "read {}", ValueText(value)),
        }
    }
}

/// Renders an optional value as the value or `absent`.
pub(crate) struct ValueText(pub Option<Value>);

impl fmt::Display for ValueText {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(value) => write!(formatter, "{value}"),
            None => write!(formatter, "absent"),
        }
    }
}

/// What the client learned about one operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// No answer yet. Counts as [`Outcome::Indeterminate`] if the run ends
    /// this way.
    Pending,
    /// Took effect once between invoke and `complete_time`, answering
    /// `output`.
    Completed { output: Output, complete_time: Time },
    /// May take effect at any time after invoke, or never; answer unknown.
    Indeterminate,
    /// Definitely never took effect.
    Failed,
}

/// One operation as recorded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OpRecord {
    client: ClientId,
    op: Op,
    invoke_time: Time,
    outcome: Outcome,
    /// Position of the invoke among all recorded events; breaks ties
    /// between events at the same time.
    invoke_seq: u64,
    /// Position of the completion among all recorded events; meaningful
    /// only when the outcome is `Completed`.
    complete_seq: u64,
}

impl OpRecord {
    /// The client that issued the operation.
    pub fn client(&self) -> ClientId {
        self.client
    }

    /// The request.
    pub fn op(&self) -> Op {
        self.op
    }

    /// When the client sent the request.
    pub fn invoke_time(&self) -> Time {
        self.invoke_time
    }

    /// What the client learned.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The ordering position of the invoke: (time, recording order).
    pub(crate) fn invoke_position(&self) -> (Time, u64) {
        (self.invoke_time, self.invoke_seq)
    }

    /// The ordering position of the completion, if the operation completed.
    pub(crate) fn complete_position(&self) -> Option<(Time, u64)> {
        match self.outcome {
            Outcome::Completed { complete_time, .. } => Some((complete_time, self.complete_seq)),
            _ => None,
        }
    }
}

/// The operations of one simulated run, in the order they were invoked.
#[derive(Clone, Default, Debug)]
pub struct History {
    records: Vec<OpRecord>,
    /// Number of events (invokes and completions) recorded so far.
    event_count: u64,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Records that `client` sent `op` at `time`; the answer comes later
    /// through [`History::complete`], [`History::indeterminate`] or
    /// [`History::fail`].
    pub fn invoke(&mut self, client: ClientId, op: Op, time: Time) -> OpId {
        let id = OpId(self.records.len());
        let invoke_seq = self.next_event_seq();
        self.records.push(OpRecord {
            client,
            op,
            invoke_time: time,
            outcome: Outcome::Pending,
            invoke_seq,
            complete_seq: 0,
        });
        id
    }

    /// Records that operation `id` answered `output` at `time`.
    pub fn complete(&mut self, id: OpId, output: Output, time: Time) {
        let seq = self.next_event_seq();
        let record = self.pending_mut(id);
        assert!(
            record.op.accepts(&output),
            "answer {output:?} does not fit operation {:?}",
            record.op
        );
        assert!(
            time >= record.invoke_time,
            "operation {id} completed at {time}, before its invoke at {}",
            record.invoke_time
        );
        record.outcome = Outcome::Completed {
            output,
            complete_time: time,
        };
        record.complete_seq = seq;
    }

    /// Records that operation `id` may or may not take effect: its commit
    /// was never seen.
    pub fn indeterminate(&mut self, id: OpId) {
        self.pending_mut(id).outcome = Outcome::Indeterminate;
    }

    /// Records that operation `id` definitely did not take effect.
    pub fn fail(&mut self, id: OpId) {
        self.pending_mut(id).outcome = Outcome::Failed;
    }

    /// The record of operation `id`.
    pub fn record(&self, id: OpId) -> &OpRecord {
        &self.records[id.0]
    }

    /// All records, indexed by [`OpId`].
    pub fn records(&self) -> &[OpRecord] {
        &self.records
    }

    /// Number of recorded operations.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn next_event_seq(&mut self) -> u64 {
        let seq = self.event_count;
        self.event_count += 1;
        seq
    }

    /// The record of `id`, which must not have an outcome yet: each
    /// operation is answered once.
    fn pending_mut(&mut self, id: OpId) -> &mut OpRecord {
        assert!(id.0 < self.records.len(), "unknown operation {id}");
        let record = &mut self.records[id.0];
        assert!(
            record.outcome == Outcome::Pending,
            "operation {id} already has outcome {:?}",
            record.outcome
        );
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_recorded_per_operation() {
        let mut history = History::new();
        let put = history.invoke(ClientId(1), Op::Put { key: 1, value: 10 }, 0);
        let get = history.invoke(ClientId(2), Op::Get { key: 1 }, 1);
        let cas = history.invoke(
            ClientId(3),
            Op::Cas {
                key: 1,
                expected: None,
                new: Some(11),
            },
            2,
        );
        let delete = history.invoke(ClientId(4), Op::Delete { key: 1 }, 2);
        history.complete(put, Output::Written, 5);
        history.indeterminate(get);
        history.fail(cas);

        assert_eq!(history.len(), 4);
        assert_eq!(
            history.record(put).outcome(),
            Outcome::Completed {
                output: Output::Written,
                complete_time: 5
            }
        );
        assert_eq!(history.record(get).outcome(), Outcome::Indeterminate);
        assert_eq!(history.record(cas).outcome(), Outcome::Failed);
        assert_eq!(history.record(delete).outcome(), Outcome::Pending);
        assert_eq!(history.record(delete).client(), ClientId(4));
    }

    #[test]
    fn events_at_one_time_are_ordered_by_recording() {
        let mut history = History::new();
        let first = history.invoke(ClientId(1), Op::Get { key: 1 }, 7);
        history.complete(first, Output::Read(None), 9);
        let second = history.invoke(ClientId(1), Op::Get { key: 1 }, 9);
        let first_end = history.record(first).complete_position();
        let second_start = history.record(second).invoke_position();
        assert!(first_end.is_some_and(|end| end < second_start));
    }

    #[test]
    fn operations_render_as_plain_text() {
        let cas = Op::Cas {
            key: 3,
            expected: Some(4),
            new: None,
        };
        assert_eq!(cas.to_string(), "cas 3: 4 -> absent");
        assert_eq!(Output::Read(Some(5)).to_string(), "read 5");
        assert_eq!(Output::Swapped(false).to_string(), "not swapped");
    }
}
