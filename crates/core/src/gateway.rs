//! The gateway: every field of every received message is checked here, in
//! [`crate::RawNode::step`], before the message touches any state. Input
//! from the network never panics the core: a message that fails a check is
//! refused whole with a typed [`StepError`] and changes nothing.
//!
//! Three kinds of checks, in order:
//! 1. addressing: the message names a sender other than this node and is
//!    addressed to it;
//! 2. fields: every term and index is within [`TERM_MAX`] and
//!    [`INDEX_MAX`], entries are contiguous with non-decreasing terms no
//!    newer than the sender's term, snapshot metadata carries a valid
//!    configuration (etcd's `logSlice.valid`);
//! 3. the sender: see [`check_sender`] for the membership rule.
//!
//! Hints are not refused but clamped where they are used (see
//! `Raft::on_append_rejected`): a follower's guess is only advice.

use crate::membership::SnapshotMeta;
use crate::message::{AppendRequest, AppendResponse, Message, MessageBody};
use crate::raft::Raft;
use crate::storage::LogStore;
use crate::types::{EntryId, Index, NodeId, Term};

/// The largest term a peer may send. A node that adopts it can still run
/// 2^62 more elections before `Term::next` overflows, so no sequence of
/// accepted messages can make a later campaign panic.
pub(crate) const TERM_MAX: Term = Term::new(1 << 62);

/// The largest index a peer may name (an entry, a commit, a match, a hint or
/// a snapshot). Like [`TERM_MAX`], far below `u64::MAX`: `next()` and
/// `plus(n)` on an accepted index never overflow.
pub(crate) const INDEX_MAX: Index = Index::new(1 << 62);

/// Why a received message was refused. Nothing was changed; the runtime
/// drops the message and counts it under [`StepError::reason`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    #[error("malformed message from {from}: {reason}")]
    Malformed { from: NodeId, reason: &'static str },
    #[error("message from {from}: {field} {value} is past the largest acceptable {limit}")]
    OutOfBounds {
        from: NodeId,
        field: &'static str,
        value: u64,
        limit: u64,
    },
    #[error("message from {from} to {to} is not for this node or names no sender")]
    Misaddressed { from: NodeId, to: NodeId },
    #[error("{from} sent leader traffic in term {term}, which {leader} leads; at most one leader per term")]
    SecondLeader {
        from: NodeId,
        term: Term,
        leader: NodeId,
    },
    #[error("{from} sent leader traffic in term {term} but is not a member of the configuration")]
    NotMember { from: NodeId, term: Term },
    #[error(
        "{from} answered a forwarded read in term {term} but is not the leader this node asked"
    )]
    NotLeader { from: NodeId, term: Term },
}

impl StepError {
    /// A short, fixed label for metrics (`reason="..."`).
    pub fn reason(&self) -> &'static str {
        match self {
            StepError::Malformed { .. } => "malformed",
            StepError::OutOfBounds { .. } => "out_of_bounds",
            StepError::Misaddressed { .. } => "misaddressed",
            StepError::SecondLeader { .. } => "second_leader",
            StepError::NotMember { .. } => "not_member",
            StepError::NotLeader { .. } => "not_leader",
        }
    }

    /// The peer that sent the refused message.
    pub fn from(&self) -> NodeId {
        match *self {
            StepError::Malformed { from, .. }
            | StepError::OutOfBounds { from, .. }
            | StepError::Misaddressed { from, .. }
            | StepError::SecondLeader { from, .. }
            | StepError::NotMember { from, .. }
            | StepError::NotLeader { from, .. } => from,
        }
    }
}

/// Admits `m` into `raft`, or says why not. Reads state, changes none.
pub(crate) fn admit<S: LogStore>(raft: &Raft<S>, m: &Message) -> Result<(), StepError> {
    check_address(raft.id, m)?;
    check_fields(m)?;
    check_sender(raft, m)
}

fn check_address(id: NodeId, m: &Message) -> Result<(), StepError> {
    if m.to != id || m.from.is_none() || m.from == id {
        return Err(StepError::Misaddressed {
            from: m.from,
            to: m.to,
        });
    }
    Ok(())
}

/// Every term and index within bounds, every structure sane.
fn check_fields(m: &Message) -> Result<(), StepError> {
    let from = m.from;
    bound(from, "term", m.term.get(), TERM_MAX.get())?;
    match &m.body {
        MessageBody::VoteRequest(req) => check_entry_id(from, "last_log", req.last_log, m.term),
        MessageBody::AppendRequest(req) => check_append(from, m.term, req),
        MessageBody::AppendResponse(AppendResponse::Accepted { match_index }) => {
            bound_index(from, "match_index", *match_index)
        }
        MessageBody::AppendResponse(AppendResponse::Rejected { rejected, hint }) => {
            bound_index(from, "rejected", *rejected)?;
            check_entry_id(from, "hint", *hint, m.term)
        }
        MessageBody::Heartbeat(hb) => bound_index(from, "commit_index", hb.commit_index),
        MessageBody::InstallSnapshot(snap) => check_snapshot(from, m.term, &snap.meta),
        MessageBody::ReadIndexResponse(resp) => match resp.read_index {
            Some(index) => bound_index(from, "read_index", index),
            None => Ok(()),
        },
        MessageBody::VoteResponse(_)
        | MessageBody::HeartbeatResponse(_)
        | MessageBody::TimeoutNow
        | MessageBody::ReadIndexRequest(_) => Ok(()),
    }
}

fn bound(from: NodeId, field: &'static str, value: u64, limit: u64) -> Result<(), StepError> {
    if value > limit {
        return Err(StepError::OutOfBounds {
            from,
            field,
            value,
            limit,
        });
    }
    Ok(())
}

fn bound_index(from: NodeId, field: &'static str, index: Index) -> Result<(), StepError> {
    bound(from, field, index.get(), INDEX_MAX.get())
}

/// An entry a peer names: its index within bounds and its term no newer
/// than the message's (no member holds an entry from a term it has not
/// reached; a pre-vote's term is one past the candidate's).
fn check_entry_id(
    from: NodeId,
    field: &'static str,
    id: EntryId,
    term: Term,
) -> Result<(), StepError> {
    bound_index(from, field, id.index)?;
    if id.term > term {
        return Err(StepError::Malformed {
            from,
            reason: "an entry's term exceeds the sender's term",
        });
    }
    Ok(())
}

/// Entries must follow `prev_log` one index at a time, with terms that
/// never decrease and never exceed the sender's term, and end within
/// [`INDEX_MAX`].
fn check_append(from: NodeId, term: Term, req: &AppendRequest) -> Result<(), StepError> {
    check_entry_id(from, "prev_log", req.prev_log, term)?;
    bound_index(from, "leader_commit", req.leader_commit)?;
    let mut prev = req.prev_log;
    for entry in &req.entries {
        if prev.index.checked_next() != Some(entry.index) {
            return Err(StepError::Malformed {
                from,
                reason: "entries are not contiguous after prev_log",
            });
        }
        if entry.term < prev.term || entry.term > term {
            return Err(StepError::Malformed {
                from,
                reason: "entry terms decrease or exceed the sender's term",
            });
        }
        prev = entry.id();
    }
    bound_index(from, "last entry index", prev.index)
}

fn check_snapshot(from: NodeId, term: Term, meta: &SnapshotMeta) -> Result<(), StepError> {
    check_entry_id(from, "snapshot index", meta.last, term)?;
    if meta.conf_state.validate().is_err() || meta.conf_state.voters.is_empty() {
        return Err(StepError::Malformed {
            from,
            reason: "snapshot configuration is invalid",
        });
    }
    Ok(())
}

/// Who may send what in this node's current term. Messages from other terms
/// pass: an older term is ignored by the term rules (§5.1) and a newer one
/// is judged below.
///
/// Leader traffic (AppendEntries, heartbeat, InstallSnapshot, TimeoutNow)
/// in the current term is admitted only from the leader this node already
/// follows in that term or, while it knows none, from a member of a
/// configuration it has been in since its snapshot (the current one, or an
/// earlier one: a stale member may not yet know that a removed node was
/// added back) or the candidate it voted for. So it is refused when this
/// node leads the term, when it follows another leader of the term (at most
/// one leader per term, §5.2), and from a node it has never known: a node
/// never follows an impostor. A node whose configuration has no voters yet
/// (a joiner waiting for its first snapshot) has nothing to check against
/// and admits any sender; it holds no vote and the real leader's snapshot
/// replaces what it was sent.
///
/// Leader traffic in a newer term is admitted from anyone. A member whose
/// configuration is stale must be able to follow a leader that was added
/// after it (thesis §4.1 lets the new configuration elect without it), and
/// only a newer term can show it one. That is safe: a newer term's leader
/// is the first this node sees in that term, so it cannot make two; Raft's
/// safety rests on the voters that elected it, not on followers vetting
/// it. What a stale member cannot do is adopt a same-term leader it has
/// never known while it knows no leader; it then catches up once the term
/// moves on.
///
/// A forwarded read's answer in the current term must come from the leader
/// it was forwarded to. The leader refuses answers to what it never sent:
/// a read round past its last (it would confirm later reads), a match past
/// its last index (it would stop replication to that follower, whose log
/// cannot hold entries the leader does not have) or a rejection of an
/// append after its last index (next_index would pass the log's end).
fn check_sender<S: LogStore>(raft: &Raft<S>, m: &Message) -> Result<(), StepError> {
    if m.term != raft.term {
        return Ok(());
    }
    let (from, term) = (m.from, m.term);
    match &m.body {
        MessageBody::AppendRequest(_)
        | MessageBody::Heartbeat(_)
        | MessageBody::InstallSnapshot(_)
        | MessageBody::TimeoutNow => check_leader(raft, from, term),
        MessageBody::ReadIndexResponse(_) if from != raft.leader => {
            Err(StepError::NotLeader { from, term })
        }
        MessageBody::HeartbeatResponse(resp) => match raft.leader_state() {
            Some(ls) => bound(from, "read_round", resp.read_round, ls.read_round),
            None => Ok(()),
        },
        MessageBody::AppendResponse(resp) if raft.leader_state().is_some() => {
            let last = raft.log.last_index().get();
            match resp {
                AppendResponse::Accepted { match_index } => {
                    bound(from, "match_index", match_index.get(), last)
                }
                AppendResponse::Rejected { rejected, .. } => {
                    bound(from, "rejected", rejected.get(), last)
                }
            }
        }
        _ => Ok(()),
    }
}

fn check_leader<S: LogStore>(raft: &Raft<S>, from: NodeId, term: Term) -> Result<(), StepError> {
    if raft.leader == from {
        return Ok(());
    }
    if !raft.leader.is_none() {
        return Err(StepError::SecondLeader {
            from,
            term,
            leader: raft.leader,
        });
    }
    let conf = &raft.conf;
    let joiner = conf.voters.is_empty() && conf.voters_outgoing.is_empty();
    let known = raft.conf_history.iter().any(|(_, c)| c.contains(from));
    if joiner || known || raft.voted_for == from {
        return Ok(());
    }
    Err(StepError::NotMember { from, term })
}
