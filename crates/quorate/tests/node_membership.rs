//! Runtime tests of partitions, membership, leadership transfer and
//! snapshot catch-up over the in-process channel transport.

mod node_support;

use node_support::*;
use quorate::{Consistency, GroupEvent, ProposeError, Role};
use std::collections::BTreeSet;

/// Thesis §6.2 (check-quorum): a leader cut off from the majority steps
/// down; the majority elects a new leader and keeps writing; after the
/// partition heals the old leader catches up. No split brain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minority_leader_steps_down_and_majority_keeps_writing() {
    let cluster = Cluster::bootstrap(3, &[G1], |_| {}).await;
    let old = cluster.leader(G1).await;
    assert_eq!(cluster.group(old, G1).propose(add(1)).await, Ok(1));
    cluster.net.isolate(old);
    let old_group = cluster.group(old, G1).clone();
    eventually("the isolated leader steps down", || {
        let old_group = old_group.clone();
        async move { !old_group.is_leader() }
    })
    .await;
    let refused = old_group.propose(add(100)).await;
    assert!(
        matches!(refused, Err(ProposeError::NotLeader { .. })),
        "{refused:?}"
    );
    let others: Vec<_> = (1..=3).map(id).filter(|&n| n != old).collect();
    let mut new = None;
    eventually("the majority elects a leader", || {
        let found = others
            .iter()
            .copied()
            .find(|&n| cluster.group(n, G1).is_leader());
        new = found;
        async move { found.is_some() }
    })
    .await;
    let new = new.expect("a new leader");
    let leaders = (1..=3)
        .filter(|&n| cluster.group(id(n), G1).is_leader())
        .count();
    assert_eq!(leaders, 1, "split brain");
    assert_eq!(cluster.group(new, G1).propose(add(2)).await, Ok(3));
    cluster.net.heal();
    let index = cluster.group(new, G1).applied_index();
    old_group
        .wait_applied(index, WAIT)
        .await
        .expect("old leader catches up");
    assert_eq!(old_group.read(Consistency::Stale, |c| c.total).await, Ok(3));
    cluster.shutdown().await;
}

/// Thesis §3.10: the leader hands over to a chosen voter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_transfer_moves_the_leader() {
    let cluster = Cluster::bootstrap(3, &[G1], |_| {}).await;
    let old = cluster.leader(G1).await;
    let token = cluster
        .group(old, G1)
        .leadership_token()
        .expect("leader has a token");
    let target = (1..=3).map(id).find(|&n| n != old).expect("target");
    cluster
        .group(old, G1)
        .transfer_leadership(target)
        .await
        .expect("transfer");
    assert_eq!(cluster.leader(G1).await, target);
    token.cancelled().await;
    assert_eq!(cluster.group(target, G1).propose(add(4)).await, Ok(4));
    cluster.shutdown().await;
}

/// Thesis §4.2.1 and §4.2.2: a new node joins empty, is added as a
/// learner and caught up (by snapshot, then the log), promoted to voter;
/// then the old leader is removed and the group carries on without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_joins_catches_up_is_promoted_and_old_leader_removed() {
    let mut cluster = Cluster::bootstrap(3, &[G1], |_| {}).await;
    let old = cluster.leader(G1).await;
    for _ in 0..5 {
        cluster
            .group(old, G1)
            .propose(add(1))
            .await
            .expect("applied");
    }
    cluster.start_node(id(4)).await;
    let joined = cluster.nodes[&id(4)]
        .join_group(G1, Counter::default())
        .await
        .expect("joins");
    cluster.groups.insert((id(4), G1), joined.clone());
    let mut events = joined.subscribe();
    let leader = cluster.group(old, G1).clone();
    leader
        .add_learner(id(4), addr(4))
        .await
        .expect("learner added and caught up");
    assert_eq!(joined.read(Consistency::Stale, |c| c.total).await, Ok(5));
    // The joiner learned the voters from the snapshot (they are in no entry).
    let seen = joined.status().await.expect("status").conf_state;
    assert_eq!(seen.voters, (1..=3).map(id).collect::<BTreeSet<_>>());
    assert!(seen.learners.contains(&id(4)));
    leader.promote(id(4)).await.expect("promoted");
    let status = leader.status().await.expect("status");
    assert!(status.conf_state.voters.contains(&id(4)));
    assert!(status.peers.iter().any(|p| p.id == id(4)));
    leader.remove(old).await.expect("old leader removed");
    cluster.stop_node(old).await;
    let new = cluster.leader(G1).await;
    assert_ne!(new, old);
    assert_eq!(cluster.group(new, G1).propose(add(1)).await, Ok(6));
    let voters: BTreeSet<_> = cluster
        .group(new, G1)
        .status()
        .await
        .expect("status")
        .conf_state
        .voters;
    assert!(
        !voters.contains(&old) && voters.contains(&id(4)),
        "{voters:?}"
    );
    let mut saw_membership = false;
    while let Ok(event) = events.try_recv() {
        saw_membership |= matches!(event, GroupEvent::MembershipChanged { .. });
    }
    assert!(
        saw_membership,
        "the joined node saw membership change events"
    );
    cluster.shutdown().await;
}

/// §7: a follower that fell behind past the leader's compaction point is
/// caught up by a snapshot streamed through the transport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_far_behind_is_caught_up_by_snapshot() {
    let cluster = Cluster::bootstrap(3, &[G1], |c| {
        c.snapshot_policy.entries_since_last = 10;
    })
    .await;
    let leader = cluster.leader(G1).await;
    let lagging = (1..=3).map(id).find(|&n| n != leader).expect("follower");
    cluster.net.isolate(lagging);
    let group = cluster.group(leader, G1).clone();
    for _ in 0..40 {
        group.propose(add(1)).await.expect("majority commits");
    }
    let leader_status = group.status().await.expect("status");
    assert!(
        leader_status.first_index.get() > 10,
        "leader compacted: {leader_status:?}"
    );
    let follower = cluster.group(lagging, G1).clone();
    let mut events = follower.subscribe();
    cluster.net.heal();
    loop {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("event")
            .expect("open");
        if matches!(event, GroupEvent::SnapshotInstalled { .. }) {
            break;
        }
    }
    follower
        .wait_applied(group.applied_index(), WAIT)
        .await
        .expect("caught up");
    assert_eq!(follower.read(Consistency::Stale, |c| c.total).await, Ok(40));
    assert_eq!(
        follower.status().await.expect("status").role,
        Role::Follower
    );
    cluster.shutdown().await;
}

/// Thesis §4.3: replacing two voters at once goes through a joint
/// configuration in which both majorities must agree; `change_membership`
/// returns once the joint configuration has been left, and the group keeps
/// committing under the new voters only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_membership_replaces_two_voters_through_joint_consensus() {
    let mut cluster = Cluster::bootstrap(3, &[G1], |_| {}).await;
    let leader_id = cluster.leader(G1).await;
    let leader = cluster.group(leader_id, G1).clone();
    leader.propose(add(2)).await.expect("applied");
    for joiner in [id(4), id(5)] {
        cluster.start_node(joiner).await;
        let joined = cluster.nodes[&joiner]
            .join_group(G1, Counter::default())
            .await
            .expect("joins");
        cluster.groups.insert((joiner, G1), joined);
        leader
            .add_learner(joiner, addr(joiner.get()))
            .await
            .expect("learner caught up");
    }
    let keep = (1..=3).map(id).find(|&m| m == leader_id).unwrap_or(id(1));
    let target: BTreeSet<_> = [keep, id(4), id(5)].into_iter().collect();
    leader
        .change_membership(target.clone())
        .await
        .expect("joint change committed and left");
    let status = leader.status().await.expect("status");
    assert_eq!(status.conf_state.voters, target);
    assert!(!status.conf_state.is_joint(), "joint configuration left");
    for gone in (1..=3).map(id).filter(|m| !target.contains(m)) {
        cluster.stop_node(gone).await;
    }
    let new_leader = cluster.leader(G1).await;
    assert!(target.contains(&new_leader));
    assert_eq!(cluster.group(new_leader, G1).propose(add(1)).await, Ok(3));
    cluster.shutdown().await;
}

/// Bootstrapping by growth (a cold start from one node): a single-voter
/// group commits on its own, then adds members one at a time, each joining
/// as a learner, catching up and being promoted, until three voters hold
/// the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_cluster_grows_to_three_voters() {
    let mut cluster = Cluster::bootstrap(1, &[G1], |_| {}).await;
    let first = cluster.group(id(1), G1).clone();
    first
        .wait_for_leader(WAIT)
        .await
        .expect("a lone voter elects itself");
    assert_eq!(first.propose(add(4)).await, Ok(4));
    for joiner in [id(2), id(3)] {
        cluster.start_node(joiner).await;
        let joined = cluster.nodes[&joiner]
            .join_group(G1, Counter::default())
            .await
            .expect("joins");
        cluster.groups.insert((joiner, G1), joined.clone());
        first
            .add_learner(joiner, addr(joiner.get()))
            .await
            .expect("caught up");
        first.promote(joiner).await.expect("promoted");
        assert_eq!(joined.read(Consistency::Stale, |c| c.total).await, Ok(4));
    }
    let voters = first.status().await.expect("status").conf_state.voters;
    assert_eq!(voters, (1..=3).map(id).collect::<BTreeSet<_>>());
    cluster.stop_node(id(1)).await;
    let new = cluster.leader(G1).await;
    assert_eq!(cluster.group(new, G1).propose(add(1)).await, Ok(5));
    cluster.shutdown().await;
}
