//! quorate-core: the Raft consensus protocol as a deterministic, sans-IO
//! state machine.
//!
//! The core does no I/O, reads no clock and owns no threads. Time arrives as
//! [`RawNode::tick`], messages as [`RawNode::step`], and everything the
//! runtime must do — persist, send, apply — leaves as a [`Ready`] batch that
//! the runtime acknowledges with [`RawNode::advance`]. Equal inputs give
//! equal outputs, which is what makes the simulator's failures replayable.

mod apply;
mod bugs;
mod confchange;
mod config;
mod election;
mod error;
mod follower;
mod gateway;
mod inflights;
mod leader;
mod log;
mod membership;
mod message;
mod progress;
mod quorum;
mod raft;
mod raw_node;
mod read;
mod rng;
mod storage;
mod tracker;
mod types;

#[cfg(test)]
mod tests;

pub use bugs::PlantedBug;
pub use config::Config;
pub use error::{
    CompactError, ConfChangeError, ConfigError, DecodeError, ProposeError, ReadError, StartError,
    StorageError, TransferError,
};
pub use membership::{ConfChange, ConfChangeOp, ConfChangeTransition, ConfState, SnapshotMeta};
pub use message::{
    AppendRequest, AppendResponse, Heartbeat, HeartbeatResponse, InstallSnapshot, Message,
    MessageBody, ReadIndexRequest, ReadIndexResponse, VoteRequest, VoteResponse,
};
pub use progress::ProgressState;
pub use raft::ReadState;
pub use raw_node::{PeerStatus, RawNode, Ready, SoftState, Status, StepError};
pub use read::ReadMode;
pub use storage::{LogStore, MemStore};
pub use types::{
    Entry, EntryId, EntryKind, GroupId, HardState, Index, NodeId, Role, Term, ENTRY_OVERHEAD_BYTES,
};
