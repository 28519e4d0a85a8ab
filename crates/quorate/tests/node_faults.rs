//! The runtime over the in-memory network wrapped in the fault-injecting
//! transport: partitions cut both directions of the leader's links.

mod node_support;

use node_support::{add, Counter, G1, WAIT};
use quorate::transport::{FaultController, FaultyTransport, MemoryNetwork};
use quorate::{Consistency, Group, Node, NodeConfig, NodeId, ProposeError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

struct Member {
    node: Node,
    faults: FaultController,
    group: Group<Counter>,
}

async fn start(dir: &std::path::Path) -> BTreeMap<NodeId, Member> {
    let network = MemoryNetwork::new(dir.join("spool"));
    let ids: Vec<NodeId> = (1..=3).map(NodeId::new).collect();
    let mut members = BTreeMap::new();
    for &id in &ids {
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let faults = FaultController::new(id.get());
        let inner = network.register(id, faults.filter_inbound(tx, 4096));
        let transport = Arc::new(FaultyTransport::new(inner, faults.clone()));
        let config = NodeConfig::new(id, 3, dir.join(format!("node-{}", id.get())));
        let node = Node::start(config, transport, rx).await.expect("starts");
        let group = node
            .create_group(G1, ids.clone(), Counter::default())
            .await
            .expect("group");
        members.insert(
            id,
            Member {
                node,
                faults,
                group,
            },
        );
    }
    members
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    while !check() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        poll.tick().await;
    }
}

/// Thesis §6.2: the partitioned leader steps down (check-quorum), the
/// majority elects a leader and keeps writing, never two leaders; after
/// the heal the old leader has every write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_leader_steps_down_while_majority_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let members = start(dir.path()).await;
    until("a leader", || members.values().any(|m| m.group.is_leader())).await;
    let old = *members
        .iter()
        .find(|(_, m)| m.group.is_leader())
        .expect("leader")
        .0;
    assert_eq!(members[&old].group.propose(add(1)).await, Ok(1));
    let others: Vec<NodeId> = members.keys().copied().filter(|&n| n != old).collect();
    members[&old].faults.partition(others.clone());
    until("old leader steps down", || !members[&old].group.is_leader()).await;
    let refused = members[&old].group.propose(add(50)).await;
    assert!(
        matches!(refused, Err(ProposeError::NotLeader { .. })),
        "{refused:?}"
    );
    until("a new leader", || {
        others.iter().any(|n| members[n].group.is_leader())
    })
    .await;
    let new = *others
        .iter()
        .find(|n| members[n].group.is_leader())
        .expect("new");
    let leaders = members.values().filter(|m| m.group.is_leader()).count();
    assert_eq!(leaders, 1, "two leaders at once");
    assert_eq!(members[&new].group.propose(add(2)).await, Ok(3));
    members[&old].faults.heal();
    // Reads need a known leader; NoLeader says "retry after the election".
    let seen = members[&old].group.wait_for_leader(WAIT).await;
    assert_eq!(seen, Ok(new));
    let read = members[&old]
        .group
        .read(Consistency::Linearizable, |c| c.total)
        .await;
    assert_eq!(read, Ok(3));
    for (_, member) in members {
        member.node.shutdown().await;
    }
}
