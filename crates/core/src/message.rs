//! Messages between members of one group (Figure 2's RPCs, plus pre-vote,
//! heartbeats, ReadIndex forwarding and TimeoutNow from the thesis).
//!
//! The core speaks these plain structs; the runtime chooses the wire format.

use crate::membership::SnapshotMeta;
use crate::types::{Entry, EntryId, Index, NodeId, Term};

/// One message from one member to another.
#[derive(Clone, PartialEq, Debug)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    /// The sender's term; for a pre-vote request, the term it would campaign
    /// in (thesis §9.6), and for a granted pre-vote, that same term.
    pub term: Term,
    pub body: MessageBody,
}

/// What a message says.
#[derive(Clone, PartialEq, Debug)]
pub enum MessageBody {
    VoteRequest(VoteRequest),
    VoteResponse(VoteResponse),
    AppendRequest(AppendRequest),
    AppendResponse(AppendResponse),
    Heartbeat(Heartbeat),
    HeartbeatResponse(HeartbeatResponse),
    /// The leader asks the runtime to stream its snapshot to `to`; on
    /// arrival, the receiving runtime steps this message once the data is in.
    InstallSnapshot(InstallSnapshot),
    /// Leadership transfer: campaign now, ignoring the election timer
    /// (thesis §3.10).
    TimeoutNow,
    /// A follower forwards a client's ReadIndex request to the leader.
    ReadIndexRequest(ReadIndexRequest),
    /// The leader answers a forwarded ReadIndex request.
    ReadIndexResponse(ReadIndexResponse),
}

impl MessageBody {
    /// A short name for traces and metrics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            MessageBody::VoteRequest(r) if r.pre_vote => "PreVote",
            MessageBody::VoteRequest(_) => "Vote",
            MessageBody::VoteResponse(r) if r.pre_vote => "PreVoteResp",
            MessageBody::VoteResponse(_) => "VoteResp",
            MessageBody::AppendRequest(_) => "App",
            MessageBody::AppendResponse(_) => "AppResp",
            MessageBody::Heartbeat(_) => "Heartbeat",
            MessageBody::HeartbeatResponse(_) => "HeartbeatResp",
            MessageBody::InstallSnapshot(_) => "Snapshot",
            MessageBody::TimeoutNow => "TimeoutNow",
            MessageBody::ReadIndexRequest(_) => "ReadIndex",
            MessageBody::ReadIndexResponse(_) => "ReadIndexResp",
        }
    }
}

/// RequestVote (§5.2), also used for pre-vote (thesis §9.6).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VoteRequest {
    pub pre_vote: bool,
    /// The candidate's last log entry, for the §5.4.1 up-to-date check.
    pub last_log: EntryId,
    /// Set when a leadership transfer asked for this election: voters skip
    /// the "heard from a live leader recently" refusal (thesis §3.10).
    pub force: bool,
    /// The candidate's election priority (see `Config::priority`).
    pub priority: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VoteResponse {
    pub pre_vote: bool,
    pub granted: bool,
}

/// AppendEntries (§5.3).
#[derive(Clone, PartialEq, Debug)]
pub struct AppendRequest {
    /// The entry immediately preceding `entries`.
    pub prev_log: EntryId,
    pub entries: Vec<Entry>,
    pub leader_commit: Index,
}

/// The answer to an [`AppendRequest`] or an [`InstallSnapshot`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AppendResponse {
    /// The follower's log now matches the leader's through `match_index`.
    Accepted { match_index: Index },
    /// `prev_log_index` did not match. `hint` is the follower's guess at the
    /// last entry both logs may share: the follower's last entry at or before
    /// `rejected` whose term is at most the leader's `prev_log.term` (fast
    /// backtracking, thesis §5.3 optimisation as in etcd).
    Rejected { rejected: Index, hint: EntryId },
}

/// A leader's heartbeat. Carries no entries; confirms leadership for the
/// ReadIndex round `read_round` (thesis §6.4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Heartbeat {
    /// min(follower's match index, leader commit): a follower may not commit
    /// what it has not been shown to hold.
    pub commit_index: Index,
    pub read_round: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HeartbeatResponse {
    pub read_round: u64,
}

#[derive(Clone, PartialEq, Debug)]
pub struct InstallSnapshot {
    pub meta: SnapshotMeta,
}

/// A ReadIndex request forwarded by a follower on behalf of a client.
///
/// `request` ids are chosen by the follower's runtime and may repeat after
/// it restarts, so the request also names the follower's `incarnation`
/// (a random number drawn once per start); the leader echoes both, and an
/// answer meant for an earlier incarnation can never answer a new read
/// (the etcd#20418 class of stale reads).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReadIndexRequest {
    pub request: u64,
    pub incarnation: u64,
}

/// The leader's answer: the index the follower must apply before serving the
/// read, or `None` when the leader could not serve it (no longer leading).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReadIndexResponse {
    pub request: u64,
    /// The requester's incarnation, copied from the request.
    pub incarnation: u64,
    pub read_index: Option<Index>,
}
