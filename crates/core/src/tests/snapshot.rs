//! Log compaction and InstallSnapshot (§7).

use super::network::*;
use crate::*;

fn heartbeat_ticks() -> u32 {
    Config::new(n(1)).heartbeat_ticks
}

fn peer_state(net: &Network, leader: NodeId, peer: NodeId) -> ProgressState {
    let status = net.node(leader).status();
    let found = status.peers.iter().find(|p| p.id == peer);
    found.expect("leader tracks the peer").state
}

/// Elects n1, lets n3 fall behind by three entries, and compacts the
/// leader's log through its applied index; returns the snapshot metadata.
fn lagging_follower_network() -> (Network, SnapshotMeta) {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.isolate(n(3));
    for data in [&b"a"[..], b"b", b"c"] {
        net.propose(n(1), data).unwrap();
    }
    let applied = net.node(n(1)).applied_index();
    assert_eq!(applied, idx(4));
    let meta = net.node_mut(n(1)).compact(applied).unwrap();
    net.node_mut(n(1)).store_mut().compact(meta.clone());
    assert_eq!(net.node(n(1)).status().first_index, idx(5));
    (net, meta)
}

/// §7: a follower that needs entries the leader already compacted is sent
/// the snapshot, installs it through `Ready::snapshot`, and then follows
/// the log from there.
#[test]
fn lagging_follower_installs_snapshot_and_catches_up() {
    let (mut net, meta) = lagging_follower_network();
    assert_eq!(meta.last, EntryId::new(net.node(n(1)).term(), idx(4)));
    net.heal();
    net.tick_all(heartbeat_ticks());
    let snapshots = net.sent_kind("Snapshot");
    assert_eq!(snapshots.len(), 1);
    assert_eq!(snapshots[0].to, n(3));
    let follower = net.node(n(3));
    assert_eq!(follower.store().snapshot_meta(), meta, "snapshot installed");
    assert_eq!(follower.commit_index(), idx(4));
    assert_eq!(follower.applied_index(), idx(4));
    assert_eq!(peer_state(&net, n(1), n(3)), ProgressState::Replicate);
    let id = net.propose(n(1), b"d").unwrap();
    assert_eq!(net.node(n(3)).commit_index(), id.index);
    assert_eq!(
        net.applied_data(n(3)),
        vec![b"d".to_vec()],
        "only entries after it"
    );
    let follower_log = net.node(n(3)).store().all_entries().to_vec();
    assert_eq!(follower_log, net.node(n(1)).store().all_entries());
}

/// Compaction may only cover applied entries, and only ones still in the
/// log.
#[test]
fn compact_refuses_unapplied_and_already_compacted_indexes() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.propose(n(1), b"x").unwrap();
    let node = net.node_mut(n(1));
    assert_eq!(node.applied_index(), idx(2));
    let err = node.compact(idx(3)).unwrap_err();
    assert_eq!(
        err,
        CompactError::NotApplied {
            index: idx(3),
            applied: idx(2)
        }
    );
    let meta = node.compact(idx(2)).unwrap();
    node.store_mut().compact(meta);
    for index in [1, 2] {
        let err = node.compact(idx(index)).unwrap_err();
        let expected = CompactError::AlreadyCompacted {
            index: idx(index),
            first: idx(3),
        };
        assert_eq!(err, expected);
    }
}

/// §7: the snapshot records the configuration in force at its last entry,
/// so a member that learns the log from a snapshot learns the membership
/// too.
#[test]
fn snapshot_carries_the_configuration() {
    let mut net = Network::new(3, |_| {});
    net.add_node(n(4), ConfState::default(), |_| {});
    net.elect(n(1));
    net.isolate(n(4));
    net.node_mut(n(1))
        .propose_conf_change(&ConfChange::single(ConfChangeOp::AddVoter(n(4))))
        .unwrap();
    net.stabilize();
    net.propose(n(1), b"x").unwrap();
    let members = ConfState::with_voters((1..=4).map(n));
    let applied = net.node(n(1)).applied_index();
    let meta = net.node_mut(n(1)).compact(applied).unwrap();
    assert_eq!(meta.conf_state, members);
    net.node_mut(n(1)).store_mut().compact(meta.clone());
    assert!(!net.node(n(4)).conf_state().is_voter(n(4)));
    net.heal();
    net.tick_all(heartbeat_ticks());
    assert_eq!(net.node(n(4)).store().snapshot_meta(), meta);
    assert_eq!(net.node(n(4)).conf_state(), &members);
}

/// When the runtime reports a failed snapshot, the leader returns to
/// probing and sends the snapshot again; until then it waits.
#[test]
fn failed_snapshot_report_makes_the_leader_probe_again() {
    let (mut net, meta) = lagging_follower_network();
    net.blocked.insert("Snapshot");
    net.heal();
    net.tick_all(heartbeat_ticks());
    let pending = ProgressState::Snapshot { pending: idx(4) };
    assert_eq!(peer_state(&net, n(1), n(3)), pending);
    net.tick_all(3 * heartbeat_ticks());
    assert_eq!(net.sent_kind("Snapshot").len(), 1, "waits for the report");
    net.node_mut(n(1)).report_snapshot(n(3), false);
    assert_eq!(peer_state(&net, n(1), n(3)), ProgressState::Probe);
    net.blocked.clear();
    net.tick_all(heartbeat_ticks());
    assert_eq!(net.sent_kind("Snapshot").len(), 2);
    assert_eq!(net.node(n(3)).store().snapshot_meta(), meta);
    assert_eq!(peer_state(&net, n(1), n(3)), ProgressState::Replicate);
    assert_eq!(net.node(n(3)).commit_index(), net.node(n(1)).commit_index());
}
