//! Typed errors, one enum per operation; each message says what to do next.

use crate::types::{Index, NodeId};

/// Why a proposal was not accepted. None of these proposals entered the log:
/// each is safe to retry.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProposeError {
    #[error("this node is not the leader; resend to {leader:?} or retry after the election")]
    NotLeader { leader: Option<NodeId> },
    #[error("a leadership transfer to {target} is in progress; retry once it finishes")]
    TransferInProgress { target: NodeId },
    #[error("{pending} uncommitted bytes would exceed uncommitted_bytes_max ({limit}); back off and retry")]
    Backpressure { pending: u64, limit: u64 },
    #[error("the proposal of {size} bytes exceeds proposal_bytes_max ({limit})")]
    TooLarge { size: u64, limit: u64 },
}

/// Why a membership change was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfChangeError {
    #[error(transparent)]
    Propose(#[from] ProposeError),
    #[error("a membership change at {pending} is not yet applied; retry after it commits")]
    MembershipChangeInProgress { pending: Index },
    #[error("the change would leave no voter")]
    InsufficientVoters,
    #[error("already in a joint configuration; leave it before another change")]
    AlreadyJoint,
    #[error("not in a joint configuration; nothing to leave")]
    NotJoint,
    #[error("node {node} appears more than once in one change")]
    DuplicateNode { node: NodeId },
    #[error("node id {node} is reserved")]
    InvalidNodeId { node: NodeId },
    #[error("node {node} would be both voter and learner")]
    VoterAndLearner { node: NodeId },
    #[error("node {node} is in learners_next but not an outgoing voter")]
    LearnerNextNotOutgoing { node: NodeId },
    #[error("auto_leave is set outside a joint configuration")]
    AutoLeaveOutsideJoint,
    #[error("more than one voter changes; use a joint transition")]
    MultipleVoterChanges,
    #[error("node {node} is not a member")]
    NotMember { node: NodeId },
    #[error("the change does nothing")]
    Empty,
}

/// Why a leadership transfer could not start.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    #[error("this node is not the leader; ask {leader:?}")]
    NotLeader { leader: Option<NodeId> },
    #[error("node {target} is not a voter of this group")]
    NotVoter { target: NodeId },
    #[error("this node already leads")]
    AlreadyLeader,
}

/// Why a read request was refused at once.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("no leader is known; retry after the election")]
    NoLeader,
    #[error("the pending read queue is full ({limit}); back off and retry")]
    QueueFull { limit: usize },
}

/// Errors from a [`crate::LogStore`].
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("entry {index} was compacted into a snapshot")]
    Compacted { index: Index },
    #[error("entry {index} is past the end of the log")]
    Unavailable { index: Index },
    #[error("log storage failed: {reason}")]
    Io { reason: &'static str },
}

/// Why a compaction request was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    #[error("index {index} is not applied yet (applied {applied}); snapshot after applying")]
    NotApplied { index: Index, applied: Index },
    #[error("index {index} is already compacted (first index {first})")]
    AlreadyCompacted { index: Index, first: Index },
}

/// Malformed bytes that claimed to be a core structure.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("input ends early")]
    Truncated,
    #[error("unknown format version {version}")]
    UnknownVersion { version: u8 },
    #[error("unknown tag {tag}")]
    BadTag { tag: u8 },
    #[error("decoded value violates its invariants")]
    Invalid,
}

/// Why a member could not start.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("invalid settings: {0}")]
    Config(#[from] ConfigError),
    #[error(
        "cannot read the log to find the configuration in force: {0}; check the data directory"
    )]
    Log(#[from] StorageError),
}

/// A configuration value out of range.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("id must not be zero")]
    ZeroId,
    #[error("{field} must be at least {min}, got {value}")]
    TooSmall {
        field: &'static str,
        min: u64,
        value: u64,
    },
    #[error("{field} ({value}) must be greater than {other} ({other_value})")]
    NotGreater {
        field: &'static str,
        value: u64,
        other: &'static str,
        other_value: u64,
    },
}
