//! Protobuf mirrors of [`quorate_core::Message`] and its parts.
//!
//! The structs are written by hand with `#[derive(prost::Message)]`, so the
//! wire format is protobuf without a code generator or `protoc`. Encoding a
//! core value cannot fail; decoding goes through `TryFrom` and checks every
//! field a peer could get wrong (a missing body, an unknown entry kind, a
//! configuration that breaks [`ConfState::validate`]) into a
//! [`MessageDecodeError`], because network input must never panic the node.
//!
//! Field tags are part of the protocol: never renumber one, only add new tags
//! (and bump [`super::PROTOCOL_VERSION`] when old peers cannot ignore them).

use crate::transport::Envelope;
use bytes::Bytes;
use quorate_core::{
    AppendRequest, AppendResponse, ConfChangeError, ConfState, Entry, EntryId, EntryKind, GroupId,
    Heartbeat, HeartbeatResponse, Index, InstallSnapshot, Message, MessageBody, NodeId,
    ReadIndexRequest, ReadIndexResponse, SnapshotMeta, Term, VoteRequest, VoteResponse,
};

/// Why a decoded protobuf message is not a valid Raft message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageDecodeError {
    #[error("message field `{field}` is missing; the peer speaks another protocol revision")]
    MissingField { field: &'static str },
    #[error("entry kind code {code} is unknown; the peer runs a newer protocol")]
    UnknownEntryKind { code: u32 },
    #[error("snapshot configuration is inconsistent: {source}")]
    InvalidConfState {
        #[source]
        source: ConfChangeError,
    },
    #[error("node id {node} in field `{field}` is reserved for \"nobody\"")]
    ReservedNodeId { field: &'static str, node: u64 },
}

/// One [`Envelope`]: a Raft message and the group it belongs to.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireEnvelope {
    #[prost(uint64, tag = "1")]
    pub group: u64,
    #[prost(uint64, tag = "2")]
    pub from: u64,
    #[prost(uint64, tag = "3")]
    pub to: u64,
    #[prost(uint64, tag = "4")]
    pub term: u64,
    #[prost(
        oneof = "WireBody",
        tags = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20"
    )]
    pub body: Option<WireBody>,
}

/// The variants of [`MessageBody`]. An append response has two wire
/// variants (accepted, rejected) so that each carries only its own fields.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum WireBody {
    #[prost(message, tag = "10")]
    VoteRequest(WireVoteRequest),
    #[prost(message, tag = "11")]
    VoteResponse(WireVoteResponse),
    #[prost(message, tag = "12")]
    AppendRequest(WireAppendRequest),
    #[prost(message, tag = "13")]
    AppendAccepted(WireAppendAccepted),
    #[prost(message, tag = "14")]
    AppendRejected(WireAppendRejected),
    #[prost(message, tag = "15")]
    Heartbeat(WireHeartbeat),
    #[prost(message, tag = "16")]
    HeartbeatResponse(WireHeartbeatResponse),
    #[prost(message, tag = "17")]
    InstallSnapshot(WireSnapshotMeta),
    #[prost(message, tag = "18")]
    TimeoutNow(WireTimeoutNow),
    #[prost(message, tag = "19")]
    ReadIndexRequest(WireReadIndexRequest),
    #[prost(message, tag = "20")]
    ReadIndexResponse(WireReadIndexResponse),
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct WireVoteRequest {
    #[prost(bool, tag = "1")]
    pub pre_vote: bool,
    #[prost(uint64, tag = "2")]
    pub last_log_term: u64,
    #[prost(uint64, tag = "3")]
    pub last_log_index: u64,
    #[prost(bool, tag = "4")]
    pub force: bool,
    #[prost(uint64, tag = "5")]
    pub priority: u64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct WireVoteResponse {
    #[prost(bool, tag = "1")]
    pub pre_vote: bool,
    #[prost(bool, tag = "2")]
    pub granted: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WireEntry {
    #[prost(uint64, tag = "1")]
    pub term: u64,
    #[prost(uint64, tag = "2")]
    pub index: u64,
    /// [`EntryKind::code`]; unknown codes are refused, not guessed.
    #[prost(uint32, tag = "3")]
    pub kind: u32,
    #[prost(bytes = "bytes", tag = "4")]
    pub data: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WireAppendRequest {
    #[prost(uint64, tag = "1")]
    pub prev_log_term: u64,
    #[prost(uint64, tag = "2")]
    pub prev_log_index: u64,
    #[prost(message, repeated, tag = "3")]
    pub entries: Vec<WireEntry>,
    #[prost(uint64, tag = "4")]
    pub leader_commit: u64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct WireAppendAccepted {
    #[prost(uint64, tag = "1")]
    pub match_index: u64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct WireAppendRejected {
    #[prost(uint64, tag = "1")]
    pub rejected: u64,
    #[prost(uint64, tag = "2")]
    pub hint_term: u64,
    #[prost(uint64, tag = "3")]
    pub hint_index: u64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct WireHeartbeat {
    #[prost(uint64, tag = "1")]
    pub commit_index: u64,
    #[prost(uint64, tag = "2")]
    pub read_round: u64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct WireHeartbeatResponse {
    #[prost(uint64, tag = "1")]
    pub read_round: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WireConfState {
    #[prost(uint64, repeated, tag = "1")]
    pub voters: Vec<u64>,
    #[prost(uint64, repeated, tag = "2")]
    pub voters_outgoing: Vec<u64>,
    #[prost(uint64, repeated, tag = "3")]
    pub learners: Vec<u64>,
    #[prost(uint64, repeated, tag = "4")]
    pub learners_next: Vec<u64>,
    #[prost(bool, tag = "5")]
    pub auto_leave: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WireSnapshotMeta {
    #[prost(uint64, tag = "1")]
    pub last_term: u64,
    #[prost(uint64, tag = "2")]
    pub last_index: u64,
    /// Always present: a snapshot without its configuration cannot be
    /// installed, so absence is an error rather than "no members".
    #[prost(message, optional, tag = "3")]
    pub conf_state: Option<WireConfState>,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct WireTimeoutNow {}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct WireReadIndexRequest {
    #[prost(uint64, tag = "1")]
    pub request: u64,
    #[prost(uint64, tag = "2")]
    pub incarnation: u64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct WireReadIndexResponse {
    #[prost(uint64, tag = "1")]
    pub request: u64,
    #[prost(uint64, optional, tag = "2")]
    pub read_index: Option<u64>,
    #[prost(uint64, tag = "3")]
    pub incarnation: u64,
}

impl From<&Envelope> for WireEnvelope {
    fn from(envelope: &Envelope) -> Self {
        let message = &envelope.message;
        WireEnvelope {
            group: envelope.group.get(),
            from: message.from.get(),
            to: message.to.get(),
            term: message.term.get(),
            body: Some(WireBody::from(&message.body)),
        }
    }
}

impl TryFrom<WireEnvelope> for Envelope {
    type Error = MessageDecodeError;

    fn try_from(wire: WireEnvelope) -> Result<Self, Self::Error> {
        let from = node_id("from", wire.from)?;
        let to = node_id("to", wire.to)?;
        let body = wire
            .body
            .ok_or(MessageDecodeError::MissingField { field: "body" })?;
        Ok(Envelope {
            group: GroupId::new(wire.group),
            message: Message {
                from,
                to,
                term: Term::new(wire.term),
                body: MessageBody::try_from(body)?,
            },
        })
    }
}

fn node_id(field: &'static str, raw: u64) -> Result<NodeId, MessageDecodeError> {
    let id = NodeId::new(raw);
    if id.is_none() {
        return Err(MessageDecodeError::ReservedNodeId { field, node: raw });
    }
    Ok(id)
}

fn entry_id(term: u64, index: u64) -> EntryId {
    EntryId::new(Term::new(term), Index::new(index))
}

impl From<&MessageBody> for WireBody {
    fn from(body: &MessageBody) -> Self {
        match body {
            MessageBody::VoteRequest(r) => WireBody::VoteRequest(WireVoteRequest {
                pre_vote: r.pre_vote,
                last_log_term: r.last_log.term.get(),
                last_log_index: r.last_log.index.get(),
                force: r.force,
                priority: r.priority,
            }),
            MessageBody::VoteResponse(r) => WireBody::VoteResponse(WireVoteResponse {
                pre_vote: r.pre_vote,
                granted: r.granted,
            }),
            MessageBody::AppendRequest(r) => WireBody::AppendRequest(WireAppendRequest {
                prev_log_term: r.prev_log.term.get(),
                prev_log_index: r.prev_log.index.get(),
                entries: r.entries.iter().map(WireEntry::from).collect(),
                leader_commit: r.leader_commit.get(),
            }),
            MessageBody::AppendResponse(AppendResponse::Accepted { match_index }) => {
                WireBody::AppendAccepted(WireAppendAccepted {
                    match_index: match_index.get(),
                })
            }
            MessageBody::AppendResponse(AppendResponse::Rejected { rejected, hint }) => {
                WireBody::AppendRejected(WireAppendRejected {
                    rejected: rejected.get(),
                    hint_term: hint.term.get(),
                    hint_index: hint.index.get(),
                })
            }
            MessageBody::Heartbeat(h) => WireBody::Heartbeat(WireHeartbeat {
                commit_index: h.commit_index.get(),
                read_round: h.read_round,
            }),
            MessageBody::HeartbeatResponse(h) => {
                WireBody::HeartbeatResponse(WireHeartbeatResponse {
                    read_round: h.read_round,
                })
            }
            MessageBody::InstallSnapshot(s) => {
                WireBody::InstallSnapshot(WireSnapshotMeta::from(&s.meta))
            }
            MessageBody::TimeoutNow => WireBody::TimeoutNow(WireTimeoutNow {}),
            MessageBody::ReadIndexRequest(r) => WireBody::ReadIndexRequest(WireReadIndexRequest {
                request: r.request,
                incarnation: r.incarnation,
            }),
            MessageBody::ReadIndexResponse(r) => {
                WireBody::ReadIndexResponse(WireReadIndexResponse {
                    request: r.request,
                    read_index: r.read_index.map(Index::get),
                    incarnation: r.incarnation,
                })
            }
        }
    }
}

impl TryFrom<WireBody> for MessageBody {
    type Error = MessageDecodeError;

    fn try_from(wire: WireBody) -> Result<Self, Self::Error> {
        Ok(match wire {
            WireBody::VoteRequest(r) => MessageBody::VoteRequest(VoteRequest {
                pre_vote: r.pre_vote,
                last_log: entry_id(r.last_log_term, r.last_log_index),
                force: r.force,
                priority: r.priority,
            }),
            WireBody::VoteResponse(r) => MessageBody::VoteResponse(VoteResponse {
                pre_vote: r.pre_vote,
                granted: r.granted,
            }),
            WireBody::AppendRequest(r) => MessageBody::AppendRequest(AppendRequest {
                prev_log: entry_id(r.prev_log_term, r.prev_log_index),
                entries: r
                    .entries
                    .into_iter()
                    .map(Entry::try_from)
                    .collect::<Result<_, _>>()?,
                leader_commit: Index::new(r.leader_commit),
            }),
            WireBody::AppendAccepted(r) => MessageBody::AppendResponse(AppendResponse::Accepted {
                match_index: Index::new(r.match_index),
            }),
            WireBody::AppendRejected(r) => MessageBody::AppendResponse(AppendResponse::Rejected {
                rejected: Index::new(r.rejected),
                hint: entry_id(r.hint_term, r.hint_index),
            }),
            WireBody::Heartbeat(h) => MessageBody::Heartbeat(Heartbeat {
                commit_index: Index::new(h.commit_index),
                read_round: h.read_round,
            }),
            WireBody::HeartbeatResponse(h) => MessageBody::HeartbeatResponse(HeartbeatResponse {
                read_round: h.read_round,
            }),
            WireBody::InstallSnapshot(meta) => MessageBody::InstallSnapshot(InstallSnapshot {
                meta: SnapshotMeta::try_from(meta)?,
            }),
            WireBody::TimeoutNow(WireTimeoutNow {}) => MessageBody::TimeoutNow,
            WireBody::ReadIndexRequest(r) => MessageBody::ReadIndexRequest(ReadIndexRequest {
                request: r.request,
                incarnation: r.incarnation,
            }),
            WireBody::ReadIndexResponse(r) => MessageBody::ReadIndexResponse(ReadIndexResponse {
                request: r.request,
                incarnation: r.incarnation,
                read_index: r.read_index.map(Index::new),
            }),
        })
    }
}

impl From<&Entry> for WireEntry {
    fn from(entry: &Entry) -> Self {
        WireEntry {
            term: entry.term.get(),
            index: entry.index.get(),
            kind: u32::from(entry.kind.code()),
            data: entry.data.clone(),
        }
    }
}

impl TryFrom<WireEntry> for Entry {
    type Error = MessageDecodeError;

    fn try_from(wire: WireEntry) -> Result<Self, Self::Error> {
        let kind = u8::try_from(wire.kind)
            .ok()
            .and_then(EntryKind::from_code)
            .ok_or(MessageDecodeError::UnknownEntryKind { code: wire.kind })?;
        Ok(Entry {
            term: Term::new(wire.term),
            index: Index::new(wire.index),
            kind,
            data: wire.data,
        })
    }
}

impl From<&SnapshotMeta> for WireSnapshotMeta {
    fn from(meta: &SnapshotMeta) -> Self {
        WireSnapshotMeta {
            last_term: meta.last.term.get(),
            last_index: meta.last.index.get(),
            conf_state: Some(WireConfState::from(&meta.conf_state)),
        }
    }
}

impl TryFrom<WireSnapshotMeta> for SnapshotMeta {
    type Error = MessageDecodeError;

    fn try_from(wire: WireSnapshotMeta) -> Result<Self, Self::Error> {
        let conf_state = wire
            .conf_state
            .ok_or(MessageDecodeError::MissingField {
                field: "conf_state",
            })?
            .try_into()?;
        Ok(SnapshotMeta {
            last: entry_id(wire.last_term, wire.last_index),
            conf_state,
        })
    }
}

impl From<&ConfState> for WireConfState {
    fn from(state: &ConfState) -> Self {
        let raw =
            |set: &std::collections::BTreeSet<NodeId>| set.iter().map(|id| id.get()).collect();
        WireConfState {
            voters: raw(&state.voters),
            voters_outgoing: raw(&state.voters_outgoing),
            learners: raw(&state.learners),
            learners_next: raw(&state.learners_next),
            auto_leave: state.auto_leave,
        }
    }
}

impl TryFrom<WireConfState> for ConfState {
    type Error = MessageDecodeError;

    fn try_from(wire: WireConfState) -> Result<Self, Self::Error> {
        let ids = |raw: Vec<u64>| raw.into_iter().map(NodeId::new).collect();
        let state = ConfState {
            voters: ids(wire.voters),
            voters_outgoing: ids(wire.voters_outgoing),
            learners: ids(wire.learners),
            learners_next: ids(wire.learners_next),
            auto_leave: wire.auto_leave,
        };
        state
            .validate()
            .map_err(|source| MessageDecodeError::InvalidConfState { source })?;
        Ok(state)
    }
}
