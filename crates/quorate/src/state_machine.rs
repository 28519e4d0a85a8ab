//! The application's side of a group: a deterministic state machine fed
//! committed commands in log order.

use bytes::Bytes;
use quorate_core::{Index, Term};
use std::io::Read;

/// One committed application command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub index: Index,
    pub term: Term,
    pub data: Bytes,
}

/// A snapshot's bytes as a stream, so a large state never has to sit in
/// memory twice; it is drained on a blocking thread into the snapshot store.
pub type SnapshotReader = Box<dyn Read + Send>;

/// A replicated state machine. Every member applies the same commands in
/// the same order, so `apply` must be deterministic: no clocks, no
/// randomness, no reads of local state other than its own.
///
/// The runtime runs each group's state machine in its own task (the apply
/// worker); reads from [`crate::Group::read`] take a shared lock between
/// batches.
pub trait StateMachine: Send + Sync + 'static {
    /// What a proposal resolves to once applied.
    type Response: Send + 'static;

    /// Applies `commands` (possibly none: no-ops and membership entries
    /// are not passed on) and records that everything through
    /// `applied_index` is applied. Returns one response per command, in
    /// order.
    fn apply(&mut self, commands: &[Command], applied_index: Index) -> Vec<Self::Response>;

    /// A stream of the whole state as of [`StateMachine::applied_index`].
    /// It must not change when later commands apply (copy, or read a
    /// point-in-time view). An error skips this snapshot; the runtime tries
    /// again after the next batch that meets the policy.
    fn snapshot(&mut self) -> std::io::Result<SnapshotReader>;

    /// Replaces the whole state with a snapshot taken at `applied_index`
    /// (on this node earlier, or on the leader).
    fn restore(&mut self, snapshot: &mut dyn Read, applied_index: Index) -> std::io::Result<()>;

    /// The last index applied. A state machine that persists itself
    /// returns what it holds after a restart, and the runtime replays the
    /// log from there; an in-memory one returns zero after a restart and is
    /// rebuilt from the newest snapshot and the log.
    fn applied_index(&self) -> Index;
}
