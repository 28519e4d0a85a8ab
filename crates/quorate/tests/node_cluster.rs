//! Runtime tests over an in-process channel transport: elections,
//! failover, reads, many groups, restart.

mod node_support;

use node_support::*;
use quorate::{Consistency, GroupId, Outcome, ProposeError};

/// §5.2: a bootstrapped 3-node group elects one leader, which replicates
/// proposals that then apply on every member with the same result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_a_leader_and_replicate() {
    let cluster = Cluster::bootstrap(3, &[G1], |_| {}).await;
    let leader = cluster.leader(G1).await;
    let group = cluster.group(leader, G1);
    assert_eq!(group.propose(add(5)).await, Ok(5));
    assert_eq!(group.propose(add(2)).await, Ok(7));
    let last = group.applied_index();
    cluster.all_applied(G1, last).await;
    for n in 1..=3 {
        let total = cluster
            .group(id(n), G1)
            .read(Consistency::Stale, |c| c.total)
            .await;
        assert_eq!(total, Ok(7));
    }
    let follower = (1..=3).map(id).find(|&n| n != leader).expect("a follower");
    let refused = cluster.group(follower, G1).propose(add(1)).await;
    assert_eq!(
        refused,
        Err(ProposeError::NotLeader {
            leader_hint: Some(leader)
        })
    );
    assert_eq!(refused.unwrap_err().outcome(), Outcome::NotApplied);
    cluster.shutdown().await;
}

/// §5.2, §5.4: after the leader stops, the others elect a new leader that
/// holds every committed entry and keeps serving writes and reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_after_the_leader_stops_keeps_committed_state() {
    let mut cluster = Cluster::bootstrap(3, &[G1], |_| {}).await;
    let old = cluster.leader(G1).await;
    assert_eq!(cluster.group(old, G1).propose(add(10)).await, Ok(10));
    cluster.stop_node(old).await;
    let new = cluster.leader(G1).await;
    assert_ne!(new, old);
    let group = cluster.group(new, G1).clone();
    assert_eq!(group.propose(add(1)).await, Ok(11));
    // Thesis §6.4: linearizable and lease reads after failover see it all,
    // on the leader and (forwarded) on the follower.
    assert_eq!(
        group.read(Consistency::Linearizable, |c| c.total).await,
        Ok(11)
    );
    assert_eq!(group.read(Consistency::Lease, |c| c.total).await, Ok(11));
    let follower = (1..=3)
        .map(id)
        .find(|&n| n != old && n != new)
        .expect("follower");
    let read = cluster
        .group(follower, G1)
        .read(Consistency::Linearizable, |c| c.total)
        .await;
    assert_eq!(read, Ok(11));
    cluster.shutdown().await;
}

/// Multi-raft: ten groups on three nodes elect, replicate and apply
/// independently over one transport and one WAL per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_groups_on_three_nodes() {
    let groups: Vec<GroupId> = (1..=10).map(GroupId::new).collect();
    let cluster = Cluster::bootstrap(3, &groups, |_| {}).await;
    for &g in &groups {
        let leader = cluster.leader(g).await;
        let group = cluster.group(leader, g);
        assert_eq!(group.propose(add(g.get())).await, Ok(g.get()));
        let results = group.propose_many([add(1), add(1)]).await;
        assert_eq!(results, vec![Ok(g.get() + 1), Ok(g.get() + 2)]);
    }
    for &g in &groups {
        let leader = cluster.leader(g).await;
        let total = cluster
            .group(leader, g)
            .read(Consistency::Linearizable, |c| c.total)
            .await;
        assert_eq!(total, Ok(g.get() + 2));
    }
    cluster.shutdown().await;
}

/// Restart from nothing but the data directories: every node recovers
/// the group from its WAL (and snapshot), with its state intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_restarts_from_its_data_directory() {
    let mut cluster = Cluster::bootstrap(3, &[G1], |c| {
        c.snapshot_policy.entries_since_last = 8;
    })
    .await;
    let leader = cluster.leader(G1).await;
    for _ in 0..20 {
        cluster
            .group(leader, G1)
            .propose(add(1))
            .await
            .expect("applied");
    }
    let applied = cluster.group(leader, G1).applied_index();
    cluster.all_applied(G1, applied).await;
    for n in 1..=3 {
        cluster.stop_node(id(n)).await;
    }
    for n in 1..=3 {
        cluster.start_node(id(n)).await;
        let node = &cluster.nodes[&id(n)];
        assert_eq!(node.groups_on_disk(), vec![G1]);
        let group = node
            .open_group(G1, Counter::default())
            .await
            .expect("reopens");
        cluster.groups.insert((id(n), G1), group);
    }
    let leader = cluster.leader(G1).await;
    let total = cluster
        .group(leader, G1)
        .read(Consistency::Linearizable, |c| c.total)
        .await;
    assert_eq!(total, Ok(20));
    assert_eq!(cluster.group(leader, G1).propose(add(1)).await, Ok(21));
    cluster.shutdown().await;
}
