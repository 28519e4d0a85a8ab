//! Compact, stable text for messages, entries and node state, used by the
//! scenario traces in `testdata/`.

use crate::*;
use std::fmt::Write;

pub(crate) fn entry(e: &Entry) -> String {
    let id = format!("{}/{}", e.term.get(), e.index.get());
    match e.kind {
        EntryKind::Normal if e.data.is_empty() => format!("{id} noop"),
        EntryKind::Normal => match std::str::from_utf8(&e.data) {
            Ok(text) if text.chars().all(|c| !c.is_control()) => format!("{id} {text:?}"),
            _ => format!("{id} <{} bytes>", e.data.len()),
        },
        EntryKind::ConfChange => match ConfChange::decode(&e.data) {
            Ok(change) => format!("{id} conf{}", conf_change(&change)),
            Err(_) => format!("{id} conf<undecodable>"),
        },
    }
}

pub(crate) fn entries(list: &[Entry]) -> String {
    let parts: Vec<String> = list.iter().map(entry).collect();
    format!("[{}]", parts.join(", "))
}

fn conf_change(change: &ConfChange) -> String {
    if change.is_leave_joint() {
        return "(leave-joint)".to_string();
    }
    let ops: Vec<String> = change
        .ops
        .iter()
        .map(|op| match op {
            ConfChangeOp::AddVoter(id) => format!("v{}", id.get()),
            ConfChangeOp::AddLearner(id) => format!("l{}", id.get()),
            ConfChangeOp::Remove(id) => format!("r{}", id.get()),
        })
        .collect();
    format!("({} {:?})", ops.join(" "), change.transition)
}

fn id(e: EntryId) -> String {
    format!("{}/{}", e.term.get(), e.index.get())
}

pub(crate) fn message(m: &Message) -> String {
    let head = format!("{}->{} t{}", m.from.get(), m.to.get(), m.term.get());
    let body = match &m.body {
        MessageBody::VoteRequest(r) => {
            let kind = if r.pre_vote { "PreVote" } else { "Vote" };
            let force = if r.force { " force" } else { "" };
            format!("{kind} last={}{force}", id(r.last_log))
        }
        MessageBody::VoteResponse(r) => {
            let kind = if r.pre_vote {
                "PreVoteResp"
            } else {
                "VoteResp"
            };
            let verdict = if r.granted { "granted" } else { "rejected" };
            format!("{kind} {verdict}")
        }
        MessageBody::AppendRequest(r) => format!(
            "App prev={} commit={} {}",
            id(r.prev_log),
            r.leader_commit.get(),
            entries(&r.entries)
        ),
        MessageBody::AppendResponse(AppendResponse::Accepted { match_index }) => {
            format!("AppResp match={}", match_index.get())
        }
        MessageBody::AppendResponse(AppendResponse::Rejected { rejected, hint }) => {
            format!("AppResp rejected={} hint={}", rejected.get(), id(*hint))
        }
        MessageBody::Heartbeat(h) => format!(
            "Heartbeat commit={} round={}",
            h.commit_index.get(),
            h.read_round
        ),
        MessageBody::HeartbeatResponse(h) => format!("HeartbeatResp round={}", h.read_round),
        MessageBody::InstallSnapshot(s) => format!("Snapshot last={}", id(s.meta.last)),
        MessageBody::TimeoutNow => "TimeoutNow".to_string(),
        MessageBody::ReadIndexRequest(r) => format!("ReadIndex request={}", r.request),
        MessageBody::ReadIndexResponse(r) => match r.read_index {
            Some(index) => format!("ReadIndexResp request={} index={}", r.request, index.get()),
            None => format!("ReadIndexResp request={} dropped", r.request),
        },
    };
    format!("{head} {body}")
}

/// One line per node: role, term, leader, commit, applied, last index and
/// the applied configuration.
pub(crate) fn node_state(node: &RawNode<MemStore>) -> String {
    let leader = node
        .leader()
        .map_or("-".to_string(), |l| l.get().to_string());
    format!(
        "{}: {} term={} leader={} commit={} applied={} last={} conf={}",
        node.id().get(),
        node.role(),
        node.term().get(),
        leader,
        node.commit_index().get(),
        node.applied_index().get(),
        node.last_index().get(),
        conf(node.conf_state())
    )
}

fn conf(state: &ConfState) -> String {
    let list = |set: &std::collections::BTreeSet<NodeId>| {
        let ids: Vec<String> = set.iter().map(|id| id.get().to_string()).collect();
        ids.join(",")
    };
    let mut out = format!("({})", list(&state.voters));
    if state.is_joint() {
        out.push_str(&format!("&&({})", list(&state.voters_outgoing)));
    }
    if !state.learners.is_empty() {
        out.push_str(&format!(" learners=({})", list(&state.learners)));
    }
    out
}

/// The parts of a Ready worth seeing in a trace.
pub(crate) fn ready(out: &mut String, r: &Ready) {
    if let Some(soft) = r.soft_state {
        let leader = soft.leader.map_or("-".to_string(), |l| l.get().to_string());
        let _ = writeln!(out, "  role: {} leader={leader}", soft.role);
    }
    if let Some(hs) = r.hard_state {
        let _ = writeln!(
            out,
            "  hard state: term={} vote={} commit={}",
            hs.current_term.get(),
            hs.voted_for.get(),
            hs.commit_index.get()
        );
    }
    if let Some(meta) = &r.snapshot {
        let _ = writeln!(out, "  snapshot: {}", id(meta.last));
    }
    if !r.entries.is_empty() {
        let _ = writeln!(out, "  persist: {}", entries(&r.entries));
    }
    for m in &r.messages {
        let _ = writeln!(out, "  send: {}", message(m));
    }
    for m in &r.persisted_messages {
        let _ = writeln!(out, "  send after persist: {}", message(m));
    }
    if !r.committed_entries.is_empty() {
        let _ = writeln!(out, "  apply: {}", entries(&r.committed_entries));
    }
    for read in &r.read_states {
        let _ = writeln!(
            out,
            "  read ready: request={} index={}",
            read.request,
            read.index.get()
        );
    }
    for request in &r.dropped_reads {
        let _ = writeln!(out, "  read dropped: request={request}");
    }
}
