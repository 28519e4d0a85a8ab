//! A cluster over mutual TLS: members with certificates from the cluster CA
//! elect a leader and replicate; a member whose certificate comes from
//! another CA, and one configured with another cluster id, are refused by
//! every peer and never take part.

mod node_support;
mod tls_support;

use node_support::{add, Counter, G1, WAIT};
use quorate::transport::{TcpConfig, TcpTransport, TlsConfig};
use quorate::{Consistency, Group, Node, NodeConfig, NodeId};
use std::collections::BTreeMap;
use std::sync::Arc;
use tls_support::{ca, issue, tls};

const CLUSTER: u64 = 17;

struct Member {
    node: Node,
    transport: Arc<TcpTransport>,
    group: Group<Counter>,
}

/// Starts members 1..=4 as one initial configuration: 1-3 hold good
/// certificates; 4 gets `odd_tls` and `odd_cluster`.
async fn start(
    dir: &std::path::Path,
    odd_tls: TlsConfig,
    odd_cluster: u64,
) -> BTreeMap<NodeId, Member> {
    let good = ca("cluster CA");
    let ids: Vec<NodeId> = (1..=4).map(NodeId::new).collect();
    let mut bound = Vec::new();
    let mut addrs = BTreeMap::new();
    let mut odd_tls = Some(odd_tls);
    for &id in &ids {
        let (tls, cluster) = if id.get() == 4 {
            (odd_tls.take().expect("once"), odd_cluster)
        } else {
            (tls(&issue(&good, &format!("node {id}")), &good), CLUSTER)
        };
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let mut config = TcpConfig::new(
            id,
            cluster,
            "127.0.0.1:0".parse().expect("address"),
            dir.join(format!("spool-{id}")),
        );
        config.tls = Some(tls);
        let transport = Arc::new(TcpTransport::bind(config, tx).await.expect("binds"));
        addrs.insert(id, transport.local_addr());
        bound.push((id, cluster, transport, rx));
    }
    let mut members = BTreeMap::new();
    for (id, cluster, transport, rx) in bound {
        let mut config = NodeConfig::new(id, cluster, dir.join(format!("node-{id}")));
        config.peers = addrs.clone();
        let node = Node::start(config, transport.clone(), rx)
            .await
            .expect("starts");
        let group = node
            .create_group(G1, ids.clone(), Counter::default())
            .await
            .expect("group");
        members.insert(
            id,
            Member {
                node,
                transport,
                group,
            },
        );
    }
    members
}

async fn check_outsider_is_refused(members: BTreeMap<NodeId, Member>) {
    let outsider = NodeId::new(4);
    let leader = members[&NodeId::new(1)]
        .group
        .wait_for_leader(WAIT)
        .await
        .expect("a leader");
    assert_ne!(leader, outsider, "the refused member cannot lead");
    let group = &members[&leader].group;
    for _ in 0..5 {
        group
            .propose(add(1))
            .await
            .expect("applied by the three good members");
    }
    let total = group
        .read(Consistency::Linearizable, |sm| sm.total)
        .await
        .expect("read");
    assert_eq!(total, 5);
    let status = group.status().await.expect("status");
    let refused = status
        .peers
        .iter()
        .find(|p| p.id == outsider)
        .expect("outsider tracked");
    assert_eq!(
        refused.match_index.get(),
        0,
        "nothing reached the refused member"
    );
    let bootstrap = members[&outsider].group.applied_index();
    assert!(
        bootstrap < group.applied_index(),
        "the refused member applied nothing new"
    );
    assert_eq!(
        members[&outsider].group.leader(),
        None,
        "it never heard from the leader"
    );
    for member in members.into_values() {
        member.node.shutdown().await;
        member.transport.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_with_a_foreign_certificate_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let foreign = ca("another CA");
    let members = start(
        dir.path(),
        tls(&issue(&foreign, "node 4"), &foreign),
        CLUSTER,
    )
    .await;
    check_outsider_is_refused(members).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_of_another_cluster_is_refused_even_with_a_valid_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = ca("cluster CA");
    let members = start(dir.path(), tls(&issue(&good, "node 4"), &good), CLUSTER + 1).await;
    check_outsider_is_refused(members).await;
}
