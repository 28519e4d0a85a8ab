//! Typed errors, one enum per operation. Every error of an operation that
//! writes says whether the command may have been applied: "not applied,
//! safe to retry" and "outcome unknown" are different variants, and
//! [`ProposeError::outcome`] tells them apart without a match.

use quorate_core::{GroupId, Index, NodeId};

/// Whether a failed write may still take effect.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// The command was refused before it was proposed, or another leader's
    /// entry replaced it: it never applies. Retrying is safe.
    NotApplied,
    /// The command was proposed but its commit was not seen: it may or may
    /// not apply. Retry only if the command is idempotent (or carries a
    /// client session, see [`crate::Sessions`]).
    Unknown,
}

/// Why a [`crate::NodeConfig`] was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("node_id must not be zero")]
    ZeroNodeId,
    #[error("{field} must be greater than zero")]
    Zero { field: &'static str },
    #[error("invalid Raft settings: {0}")]
    Raft(#[source] quorate_core::ConfigError),
    #[error("raft.proposal_bytes_max ({proposal}) must fit in half a WAL segment with room to spare (wal_segment_bytes {segment}); raise the segment size or lower the proposal limit")]
    ProposalExceedsSegment { proposal: u64, segment: u64 },
}

/// Why [`crate::Node::start`] failed. Nothing was started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot open the WAL: {0}")]
    Wal(#[from] quorate_wal::WalOpenError),
    #[error("the runtime shut down while the node was starting")]
    Interrupted,
}

/// Why a group could not be created, joined or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    #[error("{group} is already open on this node; use its existing handle")]
    AlreadyOpen { group: GroupId },
    #[error("{group} has no state in the data directory; create or join it instead")]
    NotFound { group: GroupId },
    #[error("the initial member list of {group} is invalid: {source}")]
    InvalidMembers {
        group: GroupId,
        #[source]
        source: quorate_core::ConfChangeError,
    },
    #[error("writing the initial state of {group} failed: {source}")]
    Wal {
        group: GroupId,
        #[source]
        source: quorate_wal::WalWriteError,
    },
    #[error("snapshot of {group} unusable: {source}; restore the data directory from a replica")]
    Snapshot {
        group: GroupId,
        #[source]
        source: quorate_wal::SnapshotError,
    },
    #[error("the state machine of {group} could not restore its snapshot: {source}")]
    Restore {
        group: GroupId,
        #[source]
        source: std::io::Error,
    },
    #[error("{group}: the state machine is at {applied} but the log starts after {snapshot} and no snapshot file covers the gap")]
    Gap {
        group: GroupId,
        applied: Index,
        snapshot: Index,
    },
    #[error("{group} cannot start: {source}")]
    Start {
        group: GroupId,
        #[source]
        source: quorate_core::StartError,
    },
    #[error("{group}: the state machine applied {applied} but the log ends at {last}; the log lost committed entries: restore the data directory from a replica")]
    AheadOfLog {
        group: GroupId,
        applied: Index,
        last: Index,
    },
    #[error("the node is shut down")]
    Shutdown,
}

/// Why a proposal failed; see [`ProposeError::outcome`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposeError {
    #[error("this node is not the leader (not applied); resend to {leader_hint:?} or retry after the election")]
    NotLeader { leader_hint: Option<NodeId> },
    #[error("the node's command queue is full ({limit}) (not applied); back off and retry")]
    QueueFull { limit: usize },
    #[error(
        "{pending} uncommitted bytes reach the limit {limit} (not applied); back off and retry"
    )]
    Backpressure { pending: u64, limit: u64 },
    #[error(
        "the command of {size} bytes exceeds proposal_bytes_max {limit} (not applied); split it"
    )]
    TooLarge { size: u64, limit: u64 },
    #[error(
        "a leadership transfer to {target} is in progress (not applied); retry once it finishes"
    )]
    TransferInProgress { target: NodeId },
    #[error(
        "a membership change at {pending} is still pending (not applied); retry after it applies"
    )]
    ChangeInProgress { pending: Index },
    #[error("the membership change is invalid (not applied): {0}")]
    InvalidChange(quorate_core::ConfChangeError),
    #[error("another leader's entry replaced the command at {index} (not applied); retry")]
    Overwritten { index: Index },
    #[error("the group is not open on this node (not applied)")]
    UnknownGroup,
    #[error("the node is shutting down (not applied)")]
    Shutdown,
    #[error("no commit seen within the request timeout (outcome unknown); check before retrying")]
    Timeout,
    #[error("the node stopped or installed a snapshot covering the command before its outcome was seen (outcome unknown)")]
    Aborted,
}

impl ProposeError {
    /// Whether the command may still take effect.
    pub fn outcome(&self) -> Outcome {
        match self {
            ProposeError::Timeout | ProposeError::Aborted => Outcome::Unknown,
            _ => Outcome::NotApplied,
        }
    }

    pub(crate) fn from_core(error: quorate_core::ProposeError) -> ProposeError {
        use quorate_core::ProposeError as Core;
        match error {
            Core::NotLeader { leader } => ProposeError::NotLeader {
                leader_hint: leader,
            },
            Core::TransferInProgress { target } => ProposeError::TransferInProgress { target },
            Core::Backpressure { pending, limit } => ProposeError::Backpressure { pending, limit },
            Core::TooLarge { size, limit } => ProposeError::TooLarge { size, limit },
            _ => ProposeError::NotLeader { leader_hint: None },
        }
    }

    pub(crate) fn from_conf_change(error: quorate_core::ConfChangeError) -> ProposeError {
        use quorate_core::ConfChangeError as Core;
        match error {
            Core::Propose(error) => ProposeError::from_core(error),
            Core::MembershipChangeInProgress { pending } => {
                ProposeError::ChangeInProgress { pending }
            }
            other => ProposeError::InvalidChange(other),
        }
    }
}

/// Why a read failed. Reads change nothing: every variant is safe to retry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("no leader is known; retry after the election")]
    NoLeader,
    #[error("leadership changed before the read was confirmed; retry")]
    LeadershipChanged,
    #[error("too many reads are pending ({limit}); back off and retry")]
    QueueFull { limit: usize },
    #[error("the read was not confirmed within the request timeout; retry")]
    Timeout,
    #[error("the group is not open on this node")]
    UnknownGroup,
    #[error("the node is shutting down")]
    Shutdown,
}

/// Why a membership change failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    #[error(transparent)]
    Propose(#[from] ProposeError),
    #[error("learner {node} did not catch up within {rounds} rounds; it stays a learner (remove it or retry)")]
    CatchUpTimeout { node: NodeId, rounds: u32 },
    #[error("{node} is not a learner of this group; add it with add_learner first")]
    NotLearner { node: NodeId },
}

impl MembershipError {
    /// Whether the change may still take effect.
    pub fn outcome(&self) -> Outcome {
        match self {
            MembershipError::Propose(error) => error.outcome(),
            // The learner was added; only the wait gave up.
            MembershipError::CatchUpTimeout { .. } => Outcome::Unknown,
            MembershipError::NotLearner { .. } => Outcome::NotApplied,
        }
    }
}

/// Why a leadership transfer failed. Nothing is written: safe to retry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    #[error("this node is not the leader; ask {leader_hint:?}")]
    NotLeader { leader_hint: Option<NodeId> },
    #[error("{target} is not a voter of this group")]
    NotVoter { target: NodeId },
    #[error("{target} did not take over within the request timeout")]
    Timeout { target: NodeId },
    #[error("the group is not open on this node")]
    UnknownGroup,
    #[error("the node is shutting down")]
    Shutdown,
}

/// Why a wait (`wait_for_leader`, `wait_applied`, `status`) gave up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    #[error("the condition did not hold within the timeout")]
    Timeout,
    #[error("the node is shutting down")]
    Shutdown,
}
