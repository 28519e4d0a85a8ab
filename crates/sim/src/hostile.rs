//! Hostile and malformed messages: copies of real messages with one field
//! fuzzed (u64::MAX, zero and stale terms, indexes past any log end, hints
//! past the log end, unknown sender ids, same-term leader messages from a
//! member that does not lead), and old forwarded-read answers replayed to
//! a node after it restarts.
//!
//! Every mutation is one a correct member can recognise (an impossible
//! value, a stale term, a sender that cannot lead) or one that carries only
//! genuine content; none forges what a correct member must trust (a vote,
//! an acknowledgement within the log). So a correct core refuses or
//! ignores them, and any panic or safety violation they cause is a bug.
//! The replayed read answers are plain network duplicates, so they come
//! with the network faults.

use crate::cluster::{Cluster, Event};
use crate::options::MS;
use quorate_core::{AppendResponse, EntryId, Index, Message, MessageBody, NodeId, Term};

/// A sender id no member ever has.
const UNKNOWN_ID: u64 = 1_000;
/// How far past the receiver's log end a fuzzed index lands: beyond any
/// growth of the log while the copy is in flight, so it stays impossible.
const PAST_END: u64 = 1_000_000;
/// How many recent forwarded-read answers are kept for replay.
const READ_ANSWERS_KEPT: usize = 32;

const MAX_TERM: Term = Term::new(u64::MAX);
const MAX_INDEX: Index = Index::new(u64::MAX);

/// With the seed's probability, also delivers a hostile copy of `m`.
pub fn maybe_inject(cluster: &mut Cluster, m: &Message) {
    if cluster.now >= cluster.options.fault_phase_us || !cluster.chance(cluster.hostile_per_mille) {
        return;
    }
    let Some(copy) = mutate(cluster, m) else {
        return;
    };
    let image = match &m.body {
        MessageBody::InstallSnapshot(_) => {
            Some(Box::new(cluster.nodes[&m.from].snapshot_data.clone()))
        }
        _ => None,
    };
    let latency = cluster.latency(m.from, m.to);
    cluster.schedule(latency, Event::Deliver(Box::new(copy), image));
}

/// One fuzzed copy of `m`, or `None` when the drawn mutation does not fit.
fn mutate(cluster: &mut Cluster, m: &Message) -> Option<Message> {
    let mut copy = m.clone();
    match cluster.rng.u32(0..6) {
        0 => copy.term = MAX_TERM,
        1 => copy.term = Term::ZERO,
        2 => copy.term = Term::new(m.term.get().checked_sub(1)?),
        3 => copy.from = NodeId::new(UNKNOWN_ID + cluster.rng.u64(0..3)),
        4 => copy.from = other_member(cluster, m)?,
        _ => fuzz_body(cluster, &mut copy)?,
    }
    Some(copy)
}

/// A same-term leader message from a member that is not its sender: only
/// for messages whose content is genuine (entries, commit, snapshot).
fn other_member(cluster: &mut Cluster, m: &Message) -> Option<NodeId> {
    let leader_message = matches!(
        m.body,
        MessageBody::AppendRequest(_) | MessageBody::Heartbeat(_) | MessageBody::InstallSnapshot(_)
    );
    if !leader_message {
        return None;
    }
    let others: Vec<NodeId> = cluster
        .nodes
        .keys()
        .copied()
        .filter(|&id| id != m.from && id != m.to)
        .collect();
    (!others.is_empty()).then(|| others[cluster.rng.usize(0..others.len())])
}

/// Fuzzes one field of the body with a value no correct member sends.
fn fuzz_body(cluster: &mut Cluster, m: &mut Message) -> Option<()> {
    let pick = cluster.rng.u32(0..4);
    let to_last = cluster.nodes[&m.to].raw.as_ref()?.last_index();
    match &mut m.body {
        MessageBody::AppendRequest(req) => match pick {
            0 => req.prev_log.index = MAX_INDEX,
            1 => req.prev_log.term = MAX_TERM,
            2 => req.leader_commit = MAX_INDEX,
            _ => req.entries.first_mut()?.index = MAX_INDEX,
        },
        MessageBody::AppendResponse(AppendResponse::Accepted { match_index }) => {
            // Past the leader's own log end: no follower can hold that.
            *match_index = if pick == 0 {
                MAX_INDEX
            } else {
                to_last.plus(PAST_END + u64::from(pick))
            };
        }
        MessageBody::AppendResponse(AppendResponse::Rejected { rejected, hint }) => match pick {
            0 => *rejected = MAX_INDEX,
            1 => *hint = EntryId::new(hint.term, MAX_INDEX),
            2 => *hint = EntryId::new(hint.term, to_last.plus(PAST_END)),
            _ => *hint = EntryId::new(MAX_TERM, hint.index),
        },
        MessageBody::Heartbeat(hb) => match pick {
            0 | 1 => hb.commit_index = MAX_INDEX,
            _ => hb.read_round = u64::MAX,
        },
        MessageBody::HeartbeatResponse(resp) => resp.read_round = u64::MAX,
        MessageBody::VoteRequest(req) => match pick {
            0 | 1 => req.last_log = EntryId::new(MAX_TERM, req.last_log.index),
            _ => req.last_log = EntryId::new(req.last_log.term, MAX_INDEX),
        },
        MessageBody::ReadIndexRequest(req) => req.request = u64::MAX,
        MessageBody::ReadIndexResponse(resp) => resp.read_index = Some(MAX_INDEX),
        _ => return None,
    }
    Some(())
}

/// Keeps a copy of a forwarded-read answer as it is delivered.
pub fn remember_read_answer(cluster: &mut Cluster, m: &Message) {
    if !cluster.options.faults.network {
        return;
    }
    if cluster.recent_read_answers.len() >= READ_ANSWERS_KEPT {
        cluster.recent_read_answers.remove(0);
    }
    cluster.recent_read_answers.push(m.clone());
}

/// `id` restarted: the network delivers old answers meant for its previous
/// incarnation again, spread over its first reads (a duplicate that
/// outlived the connection it was sent on).
pub fn replay_read_answers(cluster: &mut Cluster, id: NodeId) {
    if !cluster.options.faults.network || cluster.now >= cluster.options.fault_phase_us {
        return;
    }
    let old: Vec<Message> = cluster
        .recent_read_answers
        .iter()
        .filter(|m| m.to == id)
        .cloned()
        .collect();
    for m in old {
        for _ in 0..3 {
            let delay = cluster.rng.u64(MS..60 * MS);
            cluster.schedule(delay, Event::Deliver(Box::new(m.clone()), None));
        }
    }
}
