//! The runtime over real loopback TCP: election, replication, failover
//! after the leader stops, and reads on the survivors.

mod node_support;

use node_support::{add, Counter, G1, WAIT};
use quorate::transport::{TcpConfig, TcpTransport};
use quorate::{Consistency, Group, Node, NodeConfig, NodeId};
use std::collections::BTreeMap;
use std::sync::Arc;

struct TcpNode {
    node: Node,
    transport: Arc<TcpTransport>,
    group: Group<Counter>,
}

async fn start_cluster(dir: &std::path::Path) -> BTreeMap<NodeId, TcpNode> {
    let ids: Vec<NodeId> = (1..=3).map(NodeId::new).collect();
    let (mut bound, mut addrs) = (Vec::new(), BTreeMap::new());
    for &id in &ids {
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let listen = "127.0.0.1:0".parse().expect("address");
        let config = TcpConfig::new(id, 9, listen, dir.join(format!("spool-{}", id.get())));
        let transport = Arc::new(TcpTransport::bind(config, tx).await.expect("binds"));
        addrs.insert(id, transport.local_addr());
        bound.push((id, transport, rx));
    }
    let mut nodes = BTreeMap::new();
    for (id, transport, rx) in bound {
        let mut config = NodeConfig::new(id, 9, dir.join(format!("node-{}", id.get())));
        config.peers = addrs.clone();
        let node = Node::start(config, transport.clone(), rx)
            .await
            .expect("starts");
        let group = node
            .create_group(G1, ids.clone(), Counter::default())
            .await
            .expect("group");
        nodes.insert(
            id,
            TcpNode {
                node,
                transport,
                group,
            },
        );
    }
    nodes
}

async fn leader_of(nodes: &BTreeMap<NodeId, TcpNode>) -> NodeId {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(10));
    loop {
        poll.tick().await;
        if let Some((&id, _)) = nodes.iter().find(|(_, n)| n.group.is_leader()) {
            return id;
        }
        assert!(tokio::time::Instant::now() < deadline, "no leader over TCP");
    }
}

/// §5.2 and thesis §6.4 over TCP: the survivors of a stopped leader elect
/// a new one that holds every committed write and serves reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_cluster_fails_over_and_serves_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nodes = start_cluster(dir.path()).await;
    let old = leader_of(&nodes).await;
    for _ in 0..5 {
        nodes[&old].group.propose(add(2)).await.expect("applied");
    }
    let stopped = nodes.remove(&old).expect("leader");
    stopped.node.shutdown().await;
    stopped.transport.shutdown().await;
    let new = leader_of(&nodes).await;
    assert_ne!(new, old);
    assert_eq!(nodes[&new].group.propose(add(1)).await, Ok(11));
    for member in nodes.values() {
        let total = member
            .group
            .read(Consistency::Linearizable, |c| c.total)
            .await;
        assert_eq!(total, Ok(11));
    }
    let lease = nodes[&new]
        .group
        .read(Consistency::Lease, |c| c.total)
        .await;
    assert_eq!(lease, Ok(11));
    for (_, member) in nodes {
        member.node.shutdown().await;
        member.transport.shutdown().await;
    }
}
