//! Linearizable reads without log writes: ReadIndex (thesis §6.4),
//! forwarding from followers, and leader leases (thesis §6.4.1).

use super::network::*;
use crate::*;

fn heartbeat_ticks() -> u32 {
    Config::new(n(1)).heartbeat_ticks
}

fn election_ticks() -> u32 {
    Config::new(n(1)).election_ticks
}

fn dropped(net: &Network, id: NodeId) -> Vec<u64> {
    net.dropped_reads.get(&id).cloned().unwrap_or_default()
}

/// Thesis §6.4 steps 2-3: the leader answers a ReadIndex only after a
/// heartbeat round acknowledged by a quorum confirms it still leads.
#[test]
fn read_index_is_answered_only_after_a_heartbeat_quorum_round() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    let id = net.propose(n(1), b"x").unwrap();
    net.isolate(n(1));
    net.node_mut(n(1)).read_index(7, ReadMode::Quorum).unwrap();
    net.stabilize();
    net.tick(n(1), heartbeat_ticks());
    net.stabilize();
    assert_eq!(net.read_answer(n(1), 7), None, "answered without a quorum");
    net.heal();
    net.tick_all(heartbeat_ticks());
    assert_eq!(net.read_answer(n(1), 7), Some(id.index));
}

/// Thesis §6.4 step 1: a new leader does not know the commit index until an
/// entry of its own term commits, so reads wait for its no-op.
#[test]
fn read_index_waits_for_an_entry_of_the_leaders_term_to_commit() {
    let mut net = Network::new(3, |_| {});
    net.blocked.insert("App");
    net.elect(n(1));
    net.node_mut(n(1)).read_index(5, ReadMode::Quorum).unwrap();
    net.tick_all(2 * heartbeat_ticks());
    assert!(
        net.sent_kind("HeartbeatResp").len() >= 2,
        "rounds were acknowledged"
    );
    assert_eq!(net.node(n(1)).commit_index(), Index::ZERO);
    assert_eq!(
        net.read_answer(n(1), 5),
        None,
        "answered before the no-op committed"
    );
    net.blocked.clear();
    net.tick_all(heartbeat_ticks());
    assert_eq!(net.node(n(1)).commit_index(), idx(1));
    assert_eq!(net.read_answer(n(1), 5), Some(idx(1)));
}

/// Thesis §6.4: a follower forwards a read to the leader and must apply up
/// to the leader's commit index, which may be ahead of its own.
#[test]
fn follower_read_is_forwarded_and_answered_with_leader_commit() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    let id = net
        .node_mut(n(1))
        .propose(bytes::Bytes::from_static(b"x"))
        .unwrap();
    net.run_until(|net| net.node(n(1)).commit_index() == id.index);
    assert!(net.node(n(2)).commit_index() < id.index, "follower lags");
    net.node_mut(n(2)).read_index(9, ReadMode::Quorum).unwrap();
    net.stabilize();
    assert_eq!(net.sent_kind("ReadIndex").len(), 1);
    assert_eq!(net.read_answer(n(2), 9), Some(id.index));
    assert_eq!(net.read_answer(n(1), 9), None, "answered to the asker only");
}

/// Elects n1 and lets one heartbeat round establish its lease.
fn leader_with_lease() -> Network {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.tick_all(heartbeat_ticks());
    assert!(net.node(n(1)).status().lease_valid);
    net
}

/// Thesis §6.4.1: with a valid lease the leader answers at once, without a
/// heartbeat round; once the lease lapses it needs a round again.
#[test]
fn lease_read_skips_the_round_only_while_the_lease_is_valid() {
    let mut net = leader_with_lease();
    let commit = net.node(n(1)).commit_index();
    net.isolate(n(1));
    let beats = net.sent_kind("Heartbeat").len();
    net.node_mut(n(1)).read_index(1, ReadMode::Lease).unwrap();
    net.stabilize();
    assert_eq!(net.read_answer(n(1), 1), Some(commit));
    assert_eq!(
        net.sent_kind("Heartbeat").len(),
        beats,
        "no round for a lease read"
    );
    net.tick(n(1), election_ticks());
    assert_eq!(net.node(n(1)).role(), Role::Leader);
    assert!(
        !net.node(n(1)).status().lease_valid,
        "lease outlived its bound"
    );
    net.node_mut(n(1)).read_index(2, ReadMode::Lease).unwrap();
    net.stabilize();
    assert_eq!(
        net.read_answer(n(1), 2),
        None,
        "expired lease served a read"
    );
    net.heal();
    net.tick_all(heartbeat_ticks());
    assert_eq!(net.read_answer(n(1), 2), Some(commit));
}

/// Thesis §3.10 and §6.4.1: the transfer target may win before the lease
/// ends, so a leader transferring leadership stops serving lease reads.
#[test]
fn lease_read_needs_a_round_once_a_transfer_starts() {
    let mut net = leader_with_lease();
    net.isolate(n(3));
    net.node_mut(n(1)).transfer_leadership(n(3)).unwrap();
    assert!(!net.node(n(1)).status().lease_valid);
    net.isolate(n(1));
    net.node_mut(n(1)).read_index(1, ReadMode::Lease).unwrap();
    net.stabilize();
    assert_eq!(
        net.read_answer(n(1), 1),
        None,
        "lease read during a transfer"
    );
    net.heal();
    net.isolate(n(3));
    net.tick_all(heartbeat_ticks());
    assert_eq!(
        net.node(n(1)).status().transfer_target,
        Some(n(3)),
        "still transferring"
    );
    assert_eq!(
        net.read_answer(n(1), 1),
        Some(net.node(n(1)).commit_index())
    );
}

/// Thesis §6.4: a leader cut off from a majority cannot confirm a read,
/// even while a minority still acknowledges it; the read is dropped when
/// check-quorum makes it step down.
#[test]
fn partitioned_leader_cannot_confirm_a_quorum_read() {
    let mut net = Network::new(5, |_| {});
    net.elect(n(1));
    net.partition(&[n(1), n(2)], &[n(3), n(4), n(5)]);
    net.node_mut(n(1)).read_index(1, ReadMode::Quorum).unwrap();
    net.tick_all(election_ticks() - 1);
    assert_eq!(net.node(n(1)).role(), Role::Leader);
    assert!(net
        .sent_kind("HeartbeatResp")
        .iter()
        .any(|m| m.from == n(2)));
    assert_eq!(net.read_answer(n(1), 1), None, "minority confirmed a read");
    net.tick_all(3 * election_ticks());
    assert_ne!(net.node(n(1)).role(), Role::Leader);
    assert_eq!(net.read_answer(n(1), 1), None);
    assert_eq!(dropped(&net, n(1)), vec![1]);
    let leaders = net.leaders();
    assert_eq!(leaders.len(), 1);
    assert!([n(3), n(4), n(5)].contains(&leaders[0]), "{leaders:?}");
}

/// A leader that steps down reports every read it still held in
/// `Ready::dropped_reads`, so clients retry instead of waiting forever.
#[test]
fn pending_reads_are_dropped_when_the_leader_steps_down() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.isolate(n(1));
    net.node_mut(n(1)).read_index(1, ReadMode::Quorum).unwrap();
    net.node_mut(n(1)).read_index(2, ReadMode::Lease).unwrap();
    net.stabilize();
    assert!(dropped(&net, n(1)).is_empty());
    net.tick(n(3), election_ticks());
    net.elect(n(2));
    net.heal();
    net.tick_all(heartbeat_ticks());
    assert_eq!(net.node(n(1)).leader(), Some(n(2)));
    let mut held = dropped(&net, n(1));
    held.sort_unstable();
    assert_eq!(held, vec![1, 2]);
    assert!(net.reads.get(&n(1)).is_none_or(Vec::is_empty));
}

/// A single voter is its own quorum: reads are answered at once.
#[test]
fn single_voter_group_answers_reads_at_once() {
    let mut net = Network::new(1, |_| {});
    net.elect(n(1));
    net.node_mut(n(1)).read_index(1, ReadMode::Quorum).unwrap();
    assert!(net.handle_ready(n(1)));
    assert_eq!(net.read_answer(n(1), 1), Some(idx(1)));
    assert!(net.sent_kind("Heartbeat").is_empty());
}
