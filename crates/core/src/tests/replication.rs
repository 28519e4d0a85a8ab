//! Log replication: §5.3, the commit rule of §5.4.2 and Figure 8, the §8
//! no-op, flow control and the proposal gateway.

use super::network::*;
use crate::*;
use bytes::Bytes;

fn no_pre_vote(c: &mut Config) {
    c.pre_vote = false;
}

fn voters(count: u64) -> ConfState {
    ConfState::with_voters((1..=count).map(n))
}

fn accepted(from: u64, term: u64, match_index: u64) -> Message {
    let body = MessageBody::AppendResponse(AppendResponse::Accepted {
        match_index: idx(match_index),
    });
    msg(from, 1, term, body)
}

fn entry_ids(node: &RawNode<MemStore>) -> Vec<EntryId> {
    node.store().all_entries().iter().map(Entry::id).collect()
}

/// §8: a new leader appends a no-op entry of its term, so that entries of
/// earlier terms can commit without waiting for a client.
#[test]
fn leader_appends_no_op_entry_on_election() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    let term = net.node(n(1)).term();
    let log = net.node(n(1)).store().all_entries().to_vec();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].id(), EntryId::new(term, idx(1)));
    assert_eq!(log[0].kind, EntryKind::Normal);
    assert!(log[0].data.is_empty(), "the no-op carries no command");
    for id in [n(1), n(2), n(3)] {
        assert_eq!(
            net.node(id).commit_index(),
            idx(1),
            "{id} committed the no-op"
        );
    }
}

/// §5.3: a proposal is replicated, committed once a majority stores it, and
/// applied in log order on every member.
#[test]
fn proposals_commit_and_apply_on_all_members() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    for data in [&b"a"[..], b"b", b"c"] {
        net.propose(n(1), data).unwrap();
    }
    let expected = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
    for id in [n(1), n(2), n(3)] {
        assert_eq!(net.applied_data(id), expected, "{id} applied in order");
        assert_eq!(net.node(id).commit_index(), idx(4));
        assert_eq!(net.node(id).applied_index(), idx(4));
    }
}

/// §5.4.2, Figure 8: a leader never commits an entry of an earlier term by
/// counting replicas, even when every member stores it; it commits only
/// once an entry of its own term reaches a majority.
#[test]
fn leader_does_not_count_replicas_for_older_term_entries() {
    let mut net = Network::new(3, no_pre_vote);
    let old_log = log_with_terms(&[1, 2]);
    net.add_node_with_log(n(1), voters(3), &old_log, hard_state(2, 0), no_pre_vote);
    net.node_mut(n(1)).campaign();
    let vote = MessageBody::VoteResponse(VoteResponse {
        pre_vote: false,
        granted: true,
    });
    net.node_mut(n(1)).step(msg(2, 1, 3, vote)).unwrap();
    assert_eq!(net.node(n(1)).role(), Role::Leader);
    net.handle_ready(n(1)); // persist the no-op at index 3
    net.queue.clear();
    assert_eq!(net.node(n(1)).last_index(), idx(3));
    for from in [2, 3] {
        net.node_mut(n(1)).step(accepted(from, 3, 2)).unwrap();
        assert_eq!(
            net.node(n(1)).commit_index(),
            Index::ZERO,
            "term-2 entry counted as committed after {from}'s ack"
        );
    }
    net.node_mut(n(1)).step(accepted(2, 3, 3)).unwrap();
    assert_eq!(
        net.node(n(1)).commit_index(),
        idx(3),
        "own-term entry commits"
    );
}

/// §5.3: a follower refuses an append whose prev_log it does not hold, and
/// hints at the last entry at or before it whose term is at most
/// prev_log's term, so the leader can skip whole terms.
#[test]
fn follower_rejects_append_with_mismatched_prev_log_and_hints() {
    let mut net = Network::new(2, no_pre_vote);
    let log = log_with_terms(&[1, 3, 3]);
    net.add_node_with_log(n(2), voters(2), &log, hard_state(3, 1), no_pre_vote);
    let request = AppendRequest {
        prev_log: EntryId::new(Term::new(2), idx(3)),
        entries: log_with_terms(&[1, 3, 3, 4])[3..].to_vec(),
        leader_commit: idx(1),
    };
    let out = net.step_collect(msg(1, 2, 4, MessageBody::AppendRequest(request)));
    let expected = AppendResponse::Rejected {
        rejected: idx(3),
        hint: EntryId::new(Term::new(1), idx(1)),
    };
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].body, MessageBody::AppendResponse(expected));
    assert_eq!(
        entry_ids(net.node(n(2))),
        log.iter().map(Entry::id).collect::<Vec<_>>()
    );
    assert_eq!(net.node(n(2)).last_index(), idx(3), "nothing appended");
}

/// Figure 7 logs, with the leader elected for term 8.
fn figure_7_network() -> Network {
    let logs: [&[u64]; 7] = [
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6],       // leader
        &[1, 1, 1, 4, 4, 5, 5, 6, 6],          // (a) missing one
        &[1, 1, 1, 4],                         // (b) missing many
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],    // (c) one extra
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra from term 7
        &[1, 1, 1, 4, 4, 4, 4],                // (e) extra from term 4
        &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],    // (f) extra from terms 2, 3
    ];
    let mut net = Network::new(7, no_pre_vote);
    for (id, terms) in (1..).zip(logs) {
        let log = log_with_terms(terms);
        net.add_node_with_log(n(id), voters(7), &log, hard_state(7, 3), no_pre_vote);
    }
    net.expire_restart_leases();
    net
}

/// §5.3, Figure 7: the leader forces followers' logs to duplicate its own;
/// missing entries are filled in and conflicting ones overwritten.
#[test]
fn conflicting_follower_entries_are_overwritten() {
    let mut net = figure_7_network();
    net.elect(n(1));
    net.stabilize();
    let leader_log = entry_ids(net.node(n(1)));
    assert_eq!(leader_log.len(), 11, "ten entries plus the term-8 no-op");
    assert_eq!(leader_log[10].term, Term::new(8));
    for id in 2..=7 {
        assert_eq!(entry_ids(net.node(n(id))), leader_log, "log of {}", n(id));
        assert_eq!(net.node(n(id)).commit_index(), idx(11));
    }
}

/// §5.3: "the leader retries AppendEntries RPCs indefinitely until all
/// followers eventually store all log entries", even when the appends were
/// lost and no new proposal follows.
#[test]
fn leader_retries_lost_appends_without_new_proposals() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.cut.insert((n(1), n(3)));
    let id = net.propose(n(1), b"x").unwrap();
    assert_eq!(net.node(n(3)).last_index(), idx(1), "append lost");
    net.heal();
    net.tick_all(Config::new(n(1)).heartbeat_ticks);
    assert_eq!(net.node(n(3)).last_index(), id.index);
    assert_eq!(net.node(n(3)).commit_index(), id.index);
    assert_eq!(net.applied_data(n(3)), vec![b"x".to_vec()]);
}

/// §5.3 optimisation: with conflict hints the leader skips a whole
/// divergent term per round trip instead of one entry.
#[test]
fn fast_backtracking_needs_few_round_trips() {
    let mut net = Network::new(3, no_pre_vote);
    let mut follower_terms = vec![1];
    follower_terms.extend([2; 50]);
    let mut leader_terms = vec![1];
    leader_terms.extend([3; 10]);
    let leader_log = log_with_terms(&leader_terms);
    let follower_log = log_with_terms(&follower_terms);
    net.add_node_with_log(n(1), voters(3), &leader_log, hard_state(3, 1), no_pre_vote);
    net.add_node_with_log(n(2), voters(3), &leader_log, hard_state(3, 1), no_pre_vote);
    net.add_node_with_log(
        n(3),
        voters(3),
        &follower_log,
        hard_state(3, 1),
        no_pre_vote,
    );
    net.expire_restart_leases();
    net.elect(n(1));
    net.stabilize();
    assert_eq!(entry_ids(net.node(n(3))), entry_ids(net.node(n(1))));
    let rejections = net
        .sent
        .iter()
        .filter(|m| {
            matches!(
                m.body,
                MessageBody::AppendResponse(AppendResponse::Rejected { .. })
            )
        })
        .count();
    assert_eq!(rejections, 1, "one round trip skips the divergent suffix");
    assert!(
        net.appends_to(n(3)).len() <= 3,
        "{:?}",
        net.appends_to(n(3))
    );
}

/// Heartbeats carry min(match_index, commit_index): a follower holding a
/// divergent uncommitted suffix must not commit it from a heartbeat.
#[test]
fn heartbeat_never_lets_follower_commit_beyond_its_match() {
    let mut net = Network::new(3, no_pre_vote);
    let stale = log_with_terms(&[1, 2, 2]);
    net.add_node_with_log(n(3), voters(3), &stale, hard_state(2, 1), no_pre_vote);
    for id in [1, 2] {
        let log = log_with_terms(&[1]);
        net.add_node_with_log(n(id), voters(3), &log, hard_state(2, 1), no_pre_vote);
    }
    net.expire_restart_leases();
    net.isolate(n(3));
    net.elect(n(1));
    net.propose(n(1), b"x").unwrap();
    assert_eq!(net.node(n(1)).commit_index(), idx(3));
    net.heal();
    net.blocked.insert("App");
    net.tick_all(Config::new(n(1)).heartbeat_ticks);
    let beats: Vec<Index> = net
        .sent
        .iter()
        .filter(|m| m.to == n(3))
        .filter_map(|m| match m.body {
            MessageBody::Heartbeat(hb) => Some(hb.commit_index),
            _ => None,
        })
        .collect();
    assert!(!beats.is_empty(), "heartbeat reached the follower");
    assert!(beats.iter().all(|&c| c == Index::ZERO), "{beats:?}");
    assert_eq!(
        net.node(n(3)).commit_index(),
        idx(1),
        "divergent suffix not committed"
    );
    net.blocked.clear();
    net.tick_all(Config::new(n(1)).heartbeat_ticks);
    assert_eq!(entry_ids(net.node(n(3))), entry_ids(net.node(n(1))));
    assert_eq!(net.node(n(3)).commit_index(), idx(3));
}

/// Elects n1 in a three-member group with `tune`, then proposes `count`
/// ten-byte commands without delivering anything; returns the appends the
/// next Ready sends to n2.
fn appends_after_burst(count: usize, tune: impl Fn(&mut Config)) -> Vec<AppendRequest> {
    let mut net = Network::new(3, tune);
    net.elect(n(1));
    for _ in 0..count {
        net.node_mut(n(1))
            .propose(Bytes::from_static(b"0123456789"))
            .unwrap();
    }
    let queued = net.queue.len();
    net.handle_ready(n(1));
    let sent: Vec<Message> = net.queue.split_off(queued).into();
    sent.into_iter()
        .filter(|m| m.to == n(2))
        .filter_map(|m| match m.body {
            MessageBody::AppendRequest(req) => Some(req),
            _ => None,
        })
        .collect()
}

const TEN_BYTE_ENTRY: u64 = 10 + ENTRY_OVERHEAD_BYTES;

/// Flow control: at most inflight_msgs_max unacknowledged appends are
/// outstanding per follower.
#[test]
fn inflight_window_is_bounded_by_message_count() {
    let appends = appends_after_burst(5, |c| {
        c.inflight_msgs_max = 2;
        c.append_bytes_max = 1;
    });
    assert_eq!(appends.len(), 2);
    let first: Vec<Index> = appends.iter().map(|a| a.entries[0].index).collect();
    assert_eq!(first, vec![idx(2), idx(3)]);
}

/// Flow control: unacknowledged entry bytes per follower stop at
/// inflight_bytes_max.
#[test]
fn inflight_window_is_bounded_by_bytes() {
    let appends = appends_after_burst(5, |c| {
        c.inflight_bytes_max = 2 * TEN_BYTE_ENTRY;
        c.append_bytes_max = 1;
    });
    assert_eq!(appends.len(), 2);
}

/// append_bytes_max bounds the entries in one append, yet an append always
/// carries at least one entry so an oversized entry still replicates.
#[test]
fn append_bytes_max_bounds_entries_per_message() {
    let appends = appends_after_burst(7, |c| c.append_bytes_max = 3 * TEN_BYTE_ENTRY);
    let sizes: Vec<usize> = appends.iter().map(|a| a.entries.len()).collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    let single = appends_after_burst(2, |c| c.append_bytes_max = 1);
    assert!(single.iter().all(|a| a.entries.len() == 1));
    assert_eq!(single.len(), 2);
}

/// Figure 2 and thesis §10.2.1: the leader may send entries before its own
/// write finishes, but counts itself towards the commit only once they are
/// durable (after `advance`).
#[test]
fn leader_sends_before_persisting_but_counts_itself_after_advance() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    let id = net
        .node_mut(n(1))
        .propose(Bytes::from_static(b"x"))
        .unwrap();
    let ready = net.node_mut(n(1)).ready();
    assert!(ready.must_sync);
    assert_eq!(
        ready.entries.iter().map(Entry::id).collect::<Vec<_>>(),
        vec![id]
    );
    let carries = |m: &Message| matches!(&m.body, MessageBody::AppendRequest(r) if r.entries.iter().any(|e| e.id() == id));
    assert_eq!(ready.messages.iter().filter(|m| carries(m)).count(), 2);
    assert!(ready.persisted_messages.iter().all(|m| !carries(m)));
    let term = net.node(n(1)).term().get();
    net.node_mut(n(1))
        .step(accepted(2, term, id.index.get()))
        .unwrap();
    assert_eq!(
        net.node(n(1)).commit_index(),
        idx(1),
        "leader not yet durable"
    );
    net.node_mut(n(1)).store_mut().append(&ready.entries);
    net.node_mut(n(1)).advance(ready);
    assert_eq!(
        net.node(n(1)).commit_index(),
        id.index,
        "self counted after advance"
    );
}

/// Proposals stop with Backpressure while uncommitted bytes would exceed
/// uncommitted_bytes_max, and are accepted again once entries apply.
#[test]
fn proposals_beyond_uncommitted_bytes_max_get_backpressure() {
    let mut net = Network::new(3, |c| c.uncommitted_bytes_max = 2 * TEN_BYTE_ENTRY + 1);
    net.elect(n(1));
    net.isolate(n(1));
    net.propose(n(1), b"0123456789").unwrap();
    net.propose(n(1), b"0123456789").unwrap();
    let last = net.node(n(1)).last_index();
    let err = net.propose(n(1), b"0123456789").unwrap_err();
    let expected = ProposeError::Backpressure {
        pending: 2 * TEN_BYTE_ENTRY,
        limit: 2 * TEN_BYTE_ENTRY + 1,
    };
    assert_eq!(err, expected);
    assert_eq!(
        net.node(n(1)).last_index(),
        last,
        "refused proposal not appended"
    );
    net.heal();
    net.tick_all(Config::new(n(1)).heartbeat_ticks);
    assert_eq!(net.node(n(1)).applied_index(), last);
    net.propose(n(1), b"0123456789").unwrap();
}

/// A proposal larger than proposal_bytes_max is refused with TooLarge.
#[test]
fn proposal_beyond_proposal_bytes_max_is_too_large() {
    let mut net = Network::new(3, |c| c.proposal_bytes_max = TEN_BYTE_ENTRY);
    net.elect(n(1));
    let last = net.node(n(1)).last_index();
    let err = net.propose(n(1), b"0123456789A").unwrap_err();
    let limit = TEN_BYTE_ENTRY;
    assert_eq!(
        err,
        ProposeError::TooLarge {
            size: limit + 1,
            limit
        }
    );
    assert_eq!(net.node(n(1)).last_index(), last);
    net.propose(n(1), b"0123456789").unwrap();
}

/// §5.1: only the leader accepts proposals; a follower names the leader so
/// the client can retry there.
#[test]
fn proposal_on_follower_is_refused_with_leader_hint() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    let last = net.node(n(2)).last_index();
    let err = net.propose(n(2), b"x").unwrap_err();
    assert_eq!(err, ProposeError::NotLeader { leader: Some(n(1)) });
    assert_eq!(net.node(n(2)).last_index(), last);
}

/// STYLE rule 9: a malformed AppendRequest (entries not contiguous after
/// prev_log, or an entry term above the message's term) is refused at the
/// gateway and changes nothing, not even the term.
#[test]
fn malformed_append_is_refused_and_changes_nothing() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    let before = net.node(n(2)).status();
    let mut gap = log_with_terms(&[1, 1, 1]);
    gap.remove(1);
    let too_new = log_with_terms(&[1, 9]);
    for (entries, term) in [(gap, 5), (too_new, 5)] {
        let request = AppendRequest {
            prev_log: EntryId::default(),
            entries,
            leader_commit: idx(1),
        };
        let result = net
            .node_mut(n(2))
            .step(msg(3, 2, term, MessageBody::AppendRequest(request)));
        assert!(matches!(result, Err(StepError::Malformed { from, .. }) if from == n(3)));
        assert_eq!(net.node(n(2)).status(), before);
        assert!(!net.node(n(2)).has_ready());
    }
}
