//! quorate: Raft for Rust applications.
//!
//! A [`Node`] (one per process) owns the write-ahead log, the transport and
//! any number of Raft groups (multi-raft). Each group replicates one
//! [`StateMachine`]; the application talks to it through a [`Group`]
//! handle: `propose` resolves with the state machine's response once
//! applied, `read` runs a closure on the state machine at a linearizable,
//! lease-based or stale index, and membership, leadership and status calls
//! manage the group. Errors say whether a write may have happened
//! ([`Outcome`]).
//!
//! Module map: `node` (driver loop, WAL group commit, apply workers,
//! snapshots, bootstrap), `group` and `membership` (the handle),
//! `state_machine`, `sessions` (duplicate elimination), `transport` and
//! `wire` (how messages travel), `metrics` (names exported through the
//! `metrics` facade).

mod config;
mod error;
mod group;
mod membership;
pub mod metrics;
mod node;
mod sessions;
mod state_machine;
mod status;
pub mod transport;
pub mod wire;

pub use config::{
    NodeConfig, SnapshotPolicy, ELECTION_TICKS_DEFAULT, HEARTBEAT_TICKS_DEFAULT,
    REQUEST_TIMEOUT_DEFAULT, TICK_INTERVAL_DEFAULT, WAL_SEGMENT_BYTES_DEFAULT,
};
pub use error::{
    ConfigError, GroupError, MembershipError, Outcome, ProposeError, ReadError, StartError,
    TransferError, WaitError,
};
pub use group::{Consistency, Group};
pub use node::Node;
pub use quorate_core::{ConfState, GroupId, Index, NodeId, Role, Term};
pub use sessions::{SessionCommand, SessionResponse, Sessions};
pub use state_machine::{Command, SnapshotReader, StateMachine};
pub use status::{GroupEvent, GroupStatus, PeerProgress};
