//! A replicated counter: three quorate nodes in one process talking over
//! loopback TCP. Run with `cargo run -p quorate --example counter`.

use quorate::transport::{TcpConfig, TcpTransport};
use quorate::{Command, Consistency, GroupId, Index, Node, NodeConfig, NodeId, SnapshotReader};
use std::{collections::BTreeMap, io::Read, sync::Arc, time::Duration};

/// The running total and the last applied log index.
struct Counter(u64, Index);

impl quorate::StateMachine for Counter {
    type Response = u64;
    fn apply(&mut self, commands: &[Command], applied: Index) -> Vec<u64> {
        self.1 = applied;
        let mut totals = Vec::new();
        for command in commands {
            self.0 += u64::from(command.data[0]);
            totals.push(self.0);
        }
        totals
    }
    fn snapshot(&mut self) -> std::io::Result<SnapshotReader> {
        Ok(Box::new(std::io::Cursor::new(self.0.to_le_bytes())))
    }
    fn restore(&mut self, data: &mut dyn Read, applied: Index) -> std::io::Result<()> {
        let mut word = [0; 8];
        data.read_exact(&mut word)?;
        (self.0, self.1) = (u64::from_le_bytes(word), applied);
        Ok(())
    }
    fn applied_index(&self) -> Index {
        self.1
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let ids: Vec<NodeId> = (1..=3).map(NodeId::new).collect();
    let (mut transports, mut addrs) = (Vec::new(), BTreeMap::new());
    for &id in &ids {
        let (inbound_tx, inbound) = tokio::sync::mpsc::channel(1024);
        let spool = dir.path().join(format!("spool-{id}"));
        let config = TcpConfig::new(id, 7, "127.0.0.1:0".parse()?, spool);
        let transport = Arc::new(TcpTransport::bind(config, inbound_tx).await?);
        addrs.insert(id, transport.local_addr());
        transports.push((transport, inbound));
    }
    let (mut nodes, mut groups) = (Vec::new(), Vec::new());
    for (&id, (transport, inbound)) in ids.iter().zip(transports) {
        let mut config = NodeConfig::new(id, 7, dir.path().join(format!("node-{id}")));
        config.peers = addrs.clone();
        let node = Node::start(config, transport, inbound).await?;
        let group = node.create_group(GroupId::new(1), ids.clone(), Counter(0, Index::ZERO));
        groups.push(group.await?);
        nodes.push(node);
    }
    let leader = groups[0].wait_for_leader(Duration::from_secs(10)).await?;
    let group = &groups[leader.get() as usize - 1];
    for result in group.propose_many((1..=10u8).map(|n| [n])).await {
        result?;
    }
    let total = group.read(Consistency::Linearizable, |c| c.0).await?;
    println!("leader {leader}: counter = {total}");
    futures::future::join_all(nodes.into_iter().map(Node::shutdown)).await;
    Ok(())
}
