//! What a group reports about itself: a status snapshot and change events.

use quorate_core::{ConfState, GroupId, Index, NodeId, ProgressState, Role, Term};
use std::time::Duration;

/// The leader's view of one member's replication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerProgress {
    pub id: NodeId,
    pub match_index: Index,
    /// Entries the member lacks: the leader's last index minus `match_index`.
    pub lag_entries: u64,
    /// Time since the leader last heard from it (tick resolution).
    pub last_contact: Duration,
    pub state: ProgressState,
}

/// One member's view of one group, for status pages, health checks and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStatus {
    pub group: GroupId,
    pub node: NodeId,
    pub role: Role,
    pub term: Term,
    pub leader: Option<NodeId>,
    pub commit_index: Index,
    /// Handed to the apply worker (the core's applied index).
    pub applied_index: Index,
    pub last_index: Index,
    pub first_index: Index,
    pub conf_state: ConfState,
    /// Present on the leader only.
    pub peers: Vec<PeerProgress>,
    pub lease_valid: bool,
    /// A leader is known and everything committed was handed to apply.
    pub is_current: bool,
    /// A leader is known and, on the leader, a quorum was heard from within
    /// an election timeout.
    pub is_healthy: bool,
    /// The node's disk is full: it acknowledges nothing until space is
    /// freed (see `NodeConfig::disk_full_retry`).
    pub disk_full: bool,
}

/// A change worth telling subscribers about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupEvent {
    LeaderChanged { term: Term, leader: Option<NodeId> },
    RoleChanged { term: Term, role: Role },
    MembershipChanged { conf_state: ConfState },
    SnapshotInstalled { index: Index },
}
