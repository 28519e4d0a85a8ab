//! The gateway (STYLE rule 9, ARCHITECTURE.md "input from the network never
//! panics"): each hostile message a review found panicking or misleading a
//! node is refused with a typed reason and changes nothing, or, for hints,
//! clamped so replication goes on.

use super::network::*;
use crate::*;
use bytes::Bytes;

/// A three-member cluster led by 1, with one command committed everywhere.
fn led_by_one() -> Network {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.propose(n(1), b"before").unwrap();
    net
}

fn append(prev: EntryId, entries: Vec<Entry>, commit: u64) -> MessageBody {
    MessageBody::AppendRequest(AppendRequest {
        prev_log: prev,
        entries,
        leader_commit: idx(commit),
    })
}

fn entry(term: u64, index: u64) -> Entry {
    Entry {
        term: Term::new(term),
        index: idx(index),
        kind: EntryKind::Normal,
        data: Bytes::from_static(b"x"),
    }
}

fn snapshot(term: u64, index: u64) -> MessageBody {
    MessageBody::InstallSnapshot(InstallSnapshot {
        meta: SnapshotMeta {
            last: EntryId::new(Term::new(term), idx(index)),
            conf_state: ConfState::with_voters([n(1), n(2), n(3)]),
        },
    })
}

fn heartbeat(commit: u64, read_round: u64) -> MessageBody {
    MessageBody::Heartbeat(Heartbeat {
        commit_index: idx(commit),
        read_round,
    })
}

fn rejected(rejected: u64, hint_term: u64, hint_index: u64) -> MessageBody {
    MessageBody::AppendResponse(AppendResponse::Rejected {
        rejected: idx(rejected),
        hint: EntryId::new(Term::new(hint_term), idx(hint_index)),
    })
}

/// Steps `m` into its recipient, asserts it is refused for `reason` and
/// that the recipient's state did not move.
fn assert_refused(net: &mut Network, m: Message, reason: &str) {
    let to = m.to;
    let before = net.node(to).status();
    let result = net.node_mut(to).step(m);
    let err = result.expect_err("the gateway refuses it");
    assert_eq!(err.reason(), reason, "{err}");
    assert_eq!(
        net.node(to).status(),
        before,
        "a refused message changes nothing"
    );
}

/// After an attack, the cluster still commits and `follower` still gets
/// every entry.
fn assert_replication_progresses(net: &mut Network, follower: NodeId) {
    net.propose(n(1), b"after").unwrap();
    net.stabilize();
    assert_eq!(net.node(follower).last_index(), net.node(n(1)).last_index());
    assert_eq!(
        net.applied_data(follower),
        vec![b"before".to_vec(), b"after".to_vec()]
    );
}

#[test]
fn append_with_prev_index_at_u64_max_is_refused_without_panic() {
    let mut net = led_by_one();
    let term = net.node(n(1)).term().get();
    let prev = EntryId::new(Term::new(term), idx(u64::MAX));
    let m = msg(1, 2, term, append(prev, vec![entry(term, 0)], 1));
    assert_refused(&mut net, m, "out_of_bounds");
    let m = msg(1, 2, term, append(prev, Vec::new(), u64::MAX));
    assert_refused(&mut net, m, "out_of_bounds");
    assert_replication_progresses(&mut net, n(2));
}

#[test]
fn append_ending_past_the_largest_index_is_refused() {
    let mut net = led_by_one();
    let term = net.node(n(1)).term().get();
    let last = crate::gateway::INDEX_MAX.get();
    let prev = EntryId::new(Term::new(term), idx(last));
    let m = msg(1, 2, term, append(prev, vec![entry(term, last + 1)], 1));
    assert_refused(&mut net, m, "out_of_bounds");
}

#[test]
fn reject_hint_at_u64_max_is_refused_without_panic() {
    let mut net = led_by_one();
    let term = net.node(n(1)).term().get();
    let last = net.node(n(1)).last_index().get();
    let m = msg(2, 1, term, rejected(last, 0, u64::MAX));
    assert_refused(&mut net, m, "out_of_bounds");
    let m = msg(2, 1, term, rejected(u64::MAX, 0, 0));
    assert_refused(&mut net, m, "out_of_bounds");
    assert_replication_progresses(&mut net, n(2));
}

/// A rejection of an append after the leader's last index was never sent
/// and is refused; a follower's hint past the log end (or past the index it
/// rejected) is clamped: next_index never passes what the leader can send,
/// so replication to that follower goes on in the same term.
#[test]
fn reject_hint_past_log_end_is_clamped() {
    let mut net = led_by_one();
    let term = net.node(n(1)).term().get();
    let m = msg(2, 1, term, rejected(1_000_000, 0, 1_000_000));
    assert_refused(&mut net, m, "out_of_bounds");
    // An append in flight: n2 in replicate, its match one behind.
    net.node_mut(n(1))
        .propose(Bytes::from_static(b"x"))
        .unwrap();
    net.handle_ready(n(1));
    net.queue.clear();
    let last = net.node(n(1)).last_index();
    for hint in [1_000_000, last.get() + 1] {
        let m = msg(2, 1, term, rejected(last.get(), 0, hint));
        net.node_mut(n(1))
            .step(m)
            .expect("a hint is advice, not refused");
        let status = net.node(n(1)).status();
        let peer = status.peers.iter().find(|p| p.id == n(2)).unwrap();
        assert!(
            peer.next_index <= last,
            "next {} past rejected {last}",
            peer.next_index
        );
    }
    net.stabilize();
    net.propose(n(1), b"after").unwrap();
    assert_eq!(net.node(n(2)).last_index(), net.node(n(1)).last_index());
    let applied = net.applied_data(n(2));
    assert_eq!(
        applied,
        [&b"before"[..], b"x", b"after"].map(<[u8]>::to_vec)
    );
}

#[test]
fn install_snapshot_at_u64_max_is_refused_without_panic() {
    let mut net = led_by_one();
    let term = net.node(n(1)).term().get();
    assert_refused(
        &mut net,
        msg(1, 2, term, snapshot(term, u64::MAX)),
        "out_of_bounds",
    );
    assert_refused(
        &mut net,
        msg(1, 2, term, snapshot(term + 1, 5)),
        "malformed",
    );
    assert_replication_progresses(&mut net, n(2));
}

/// A node 99 outside the configuration cannot lead a follower's term,
/// whether or not the follower already knows that term's leader.
#[test]
fn same_term_append_from_unknown_sender_is_refused() {
    let mut net = led_by_one();
    let term = net.node(n(1)).term().get();
    let last = net.node(n(2)).store().all_entries().last().unwrap().id();
    let impostor = [
        append(last, vec![entry(term, last.index.get() + 1)], 0),
        MessageBody::Heartbeat(Heartbeat {
            commit_index: idx(0),
            read_round: 1,
        }),
        snapshot(term, 50),
    ];
    for body in impostor.clone() {
        assert_refused(&mut net, msg(99, 2, term, body), "second_leader");
        assert_eq!(net.node(n(2)).leader(), Some(n(1)));
    }
    // A fresh cluster: 2 learns term 1 from 1's vote request and knows no
    // leader yet; 99 still cannot claim the term.
    let mut net = Network::new(3, |c| c.pre_vote = false);
    net.node_mut(n(1)).campaign();
    net.handle_ready(n(1));
    while net.deliver_one() {}
    assert_eq!(
        (net.node(n(2)).term(), net.node(n(2)).leader()),
        (Term::new(1), None)
    );
    for body in impostor {
        let body = match body {
            MessageBody::AppendRequest(_) => append(EntryId::default(), vec![entry(1, 1)], 1),
            other => other,
        };
        assert_refused(&mut net, msg(99, 2, 1, body), "not_member");
        assert_eq!(
            net.node(n(2)).leader(),
            None,
            "does not follow the impostor"
        );
    }
    net.stabilize();
    assert_eq!(net.node(n(2)).leader(), Some(n(1)));
}

/// §5.2: at most one leader per term. A member that does not lead the term
/// cannot make a follower switch leaders, nor send leader traffic to the
/// leader itself (this used to trip the "two leaders" assert).
#[test]
fn same_term_leader_traffic_from_a_second_leader_is_refused() {
    let mut net = led_by_one();
    let term = net.node(n(1)).term().get();
    let beat = || heartbeat(1, 1);
    assert_refused(&mut net, msg(3, 2, term, beat()), "second_leader");
    let last = net.node(n(1)).store().all_entries().last().unwrap().id();
    assert_refused(
        &mut net,
        msg(2, 1, term, append(last, Vec::new(), 0)),
        "second_leader",
    );
    assert_refused(
        &mut net,
        msg(2, 1, term, snapshot(term, 1)),
        "second_leader",
    );
    assert_refused(
        &mut net,
        msg(2, 1, term, MessageBody::TimeoutNow),
        "second_leader",
    );
    assert_eq!(net.node(n(1)).role(), Role::Leader);
    assert_replication_progresses(&mut net, n(2));
}

/// A term past `TERM_MAX` is refused, so no node adopts a term it could not
/// campaign after; the largest acceptable term still leaves room.
#[test]
fn term_at_u64_max_is_refused_and_largest_term_leaves_room_to_campaign() {
    let mut net = led_by_one();
    let vote = MessageBody::VoteRequest(VoteRequest {
        pre_vote: false,
        last_log: EntryId::new(Term::new(9), idx(100)),
        force: true,
        priority: 0,
    });
    assert_refused(&mut net, msg(3, 2, u64::MAX, vote), "out_of_bounds");
    let beat = || heartbeat(0, 0);
    assert_refused(&mut net, msg(1, 2, u64::MAX, beat()), "out_of_bounds");
    let mut net = Network::new(3, |c| c.pre_vote = false);
    net.elect(n(1));
    let largest = crate::gateway::TERM_MAX;
    net.node_mut(n(3))
        .step(msg(1, 3, largest.get(), beat()))
        .unwrap();
    assert_eq!(net.node(n(3)).term(), largest);
    net.node_mut(n(3)).campaign();
    assert!(
        net.node(n(3)).term() > largest,
        "campaigned without overflow"
    );
}

/// A member whose configuration predates a new member must still follow
/// it once it leads a newer term (thesis §4.1).
#[test]
fn newer_term_leader_added_after_the_configuration_is_followed() {
    let mut net = led_by_one();
    let term = net.node(n(2)).term().get() + 1;
    let last = net.node(n(2)).store().all_entries().last().unwrap().id();
    let next = entry(term, last.index.get() + 1);
    let commit = last.index.get();
    net.node_mut(n(2))
        .step(msg(4, 2, term, append(last, vec![next], commit)))
        .expect("a newer term's leader is admitted");
    assert_eq!(net.node(n(2)).leader(), Some(n(4)));
    assert_eq!(net.node(n(2)).last_index(), last.index.next());
}

/// A forwarded read may only be answered by the leader it went to, and a
/// heartbeat acknowledgement cannot claim a read round never sent: either
/// would let a read be served at an index no quorum confirmed. An append
/// acknowledgement past the leader's log would stop replication to that
/// follower.
#[test]
fn answers_and_acks_for_what_was_never_sent_are_refused() {
    let mut net = led_by_one();
    let term = net.node(n(1)).term().get();
    let answer = MessageBody::ReadIndexResponse(ReadIndexResponse {
        request: 1,
        incarnation: 0,
        read_index: Some(idx(1)),
    });
    assert_refused(&mut net, msg(3, 2, term, answer), "not_leader");
    let ack = MessageBody::HeartbeatResponse(HeartbeatResponse {
        read_round: u64::MAX,
    });
    assert_refused(&mut net, msg(2, 1, term, ack), "out_of_bounds");
    let past_end = net.node(n(1)).last_index().get() + 5;
    let accepted = MessageBody::AppendResponse(AppendResponse::Accepted {
        match_index: idx(past_end),
    });
    assert_refused(&mut net, msg(2, 1, term, accepted), "out_of_bounds");
    assert_replication_progresses(&mut net, n(2));
}

#[test]
fn message_naming_no_sender_or_another_recipient_is_refused() {
    let mut net = led_by_one();
    let term = net.node(n(1)).term().get();
    let beat = || heartbeat(0, 0);
    assert_refused(&mut net, msg(0, 2, term, beat()), "misaddressed");
    assert_refused(&mut net, msg(2, 2, term, beat()), "misaddressed");
    let result = net.node_mut(n(2)).step(msg(1, 3, term, beat()));
    assert_eq!(result.unwrap_err().reason(), "misaddressed");
}

/// Thesis §4.1: a member whose configuration is stale (it has not yet
/// seen n4 added back after its removal) still follows n4 leading its
/// term, while a node it has never known (99) stays refused.
#[test]
fn same_term_leader_known_from_an_earlier_configuration_is_followed() {
    let mut net = Network::new(3, |_| {});
    let mut with_four = ConfState::with_voters([n(1), n(2), n(3)]);
    with_four.voters.insert(n(4));
    let remove = ConfChange::single(ConfChangeOp::Remove(n(4)));
    let mut log = log_with_terms(&[1, 1]);
    log[1].kind = EntryKind::ConfChange;
    log[1].data = remove.encode();
    net.add_node_with_log(n(2), with_four, &log, hard_state(3, 2), |_| {});
    assert!(!net.node(n(2)).conf_state().contains(n(4)));
    let last = EntryId::new(Term::new(1), idx(2));
    assert_refused(
        &mut net,
        msg(99, 2, 3, append(last, Vec::new(), 2)),
        "not_member",
    );
    net.node_mut(n(2))
        .step(msg(4, 2, 3, append(last, vec![entry(3, 3)], 2)))
        .expect("a node of an earlier configuration may lead");
    assert_eq!(net.node(n(2)).leader(), Some(n(4)));
    assert_eq!(net.node(n(2)).last_index(), idx(3));
}
