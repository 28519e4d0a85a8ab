//! Test helpers for runtime tests: an in-process channel transport with
//! partitions, a counter state machine, and a cluster builder.
#![allow(dead_code)]

use bytes::Bytes;
use quorate::transport::{
    BoxFuture, Envelope, Inbound, SnapshotData, SnapshotSendError, Transport,
};
use quorate::{
    Command, Group, GroupId, Index, Node, NodeConfig, NodeId, SnapshotReader, StateMachine,
};
use quorate_core::{GroupId as CoreGroupId, Message};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A hub of channels; `isolate` and `heal` cut and restore links.
#[derive(Clone, Default)]
pub struct ChannelNet {
    state: Arc<Mutex<NetState>>,
}

#[derive(Default)]
struct NetState {
    inboxes: HashMap<NodeId, mpsc::Sender<Inbound>>,
    isolated: HashSet<NodeId>,
}

static SPOOL_SEQ: AtomicU64 = AtomicU64::new(0);

impl ChannelNet {
    pub fn transport(&self, id: NodeId) -> (Arc<dyn Transport>, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(4096);
        self.state.lock().unwrap().inboxes.insert(id, tx);
        (
            Arc::new(ChannelTransport {
                id,
                net: self.clone(),
            }),
            rx,
        )
    }

    pub fn isolate(&self, id: NodeId) {
        self.state.lock().unwrap().isolated.insert(id);
    }

    pub fn heal(&self) {
        self.state.lock().unwrap().isolated.clear();
    }

    fn link(&self, from: NodeId, to: NodeId) -> Option<mpsc::Sender<Inbound>> {
        let state = self.state.lock().unwrap();
        if state.isolated.contains(&from) || state.isolated.contains(&to) {
            return None;
        }
        state.inboxes.get(&to).cloned()
    }
}

struct ChannelTransport {
    id: NodeId,
    net: ChannelNet,
}

impl Transport for ChannelTransport {
    fn send(&self, to: NodeId, envelopes: Vec<Envelope>) {
        if let Some(inbox) = self.net.link(self.id, to) {
            let _ = inbox.try_send(Inbound::Messages {
                from: self.id,
                envelopes,
            });
        }
    }

    fn send_snapshot(
        &self,
        to: NodeId,
        group: CoreGroupId,
        message: Message,
        data: SnapshotData,
    ) -> BoxFuture<'static, Result<(), SnapshotSendError>> {
        let link = self.net.link(self.id, to);
        let from = self.id;
        Box::pin(async move {
            let inbox = link.ok_or(SnapshotSendError::Unreachable { node: to })?;
            let bytes = match data {
                SnapshotData::Bytes(bytes) => bytes,
                SnapshotData::File(path) => Bytes::from(
                    std::fs::read(path).map_err(|source| SnapshotSendError::Read { source })?,
                ),
            };
            let path = std::env::temp_dir().join(format!(
                "quorate-test-spool-{}-{}",
                std::process::id(),
                SPOOL_SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, &bytes).map_err(|source| SnapshotSendError::Read { source })?;
            inbox
                .send(Inbound::Snapshot {
                    from,
                    group,
                    message,
                    path,
                })
                .await
                .map_err(|_| SnapshotSendError::Aborted { node: to })
        })
    }

    fn set_peer(&self, _id: NodeId, _addr: SocketAddr) {}

    fn remove_peer(&self, _id: NodeId) {}
}

/// A counter: each command adds its little-endian u64 to the total and
/// returns the new total.
#[derive(Default)]
pub struct Counter {
    pub total: u64,
    pub applied: Index,
}

impl StateMachine for Counter {
    type Response = u64;

    fn apply(&mut self, commands: &[Command], applied_index: Index) -> Vec<u64> {
        self.applied = applied_index;
        commands
            .iter()
            .map(|c| {
                let mut word = [0u8; 8];
                let n = c.data.len().min(8);
                word[..n].copy_from_slice(&c.data[..n]);
                self.total += u64::from_le_bytes(word);
                self.total
            })
            .collect()
    }

    fn snapshot(&mut self) -> std::io::Result<SnapshotReader> {
        Ok(Box::new(std::io::Cursor::new(
            self.total.to_le_bytes().to_vec(),
        )))
    }

    fn restore(&mut self, snapshot: &mut dyn Read, applied_index: Index) -> std::io::Result<()> {
        let mut word = [0u8; 8];
        snapshot.read_exact(&mut word)?;
        self.total = u64::from_le_bytes(word);
        self.applied = applied_index;
        Ok(())
    }

    fn applied_index(&self) -> Index {
        self.applied
    }
}

pub fn add(n: u64) -> [u8; 8] {
    n.to_le_bytes()
}

pub fn id(n: u64) -> NodeId {
    NodeId::new(n)
}

pub fn addr(n: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 20_000 + n as u16))
}

pub const G1: GroupId = GroupId::new(1);
pub const WAIT: Duration = Duration::from_secs(20);

/// Nodes of one in-process cluster, each with its own data directory.
pub struct Cluster {
    pub net: ChannelNet,
    pub root: tempfile::TempDir,
    pub nodes: BTreeMap<NodeId, Node>,
    pub groups: BTreeMap<(NodeId, GroupId), Group<Counter>>,
    pub tune: fn(&mut NodeConfig),
}

impl Cluster {
    pub fn new(tune: fn(&mut NodeConfig)) -> Cluster {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        Cluster {
            net: ChannelNet::default(),
            root: tempfile::tempdir().expect("tempdir"),
            nodes: BTreeMap::new(),
            groups: BTreeMap::new(),
            tune,
        }
    }

    pub fn dir(&self, node: NodeId) -> PathBuf {
        self.root.path().join(format!("node-{}", node.get()))
    }

    pub async fn start_node(&mut self, node: NodeId) {
        let mut config = NodeConfig::new(node, 7, self.dir(node));
        config.request_timeout = Duration::from_secs(10);
        (self.tune)(&mut config);
        let (transport, inbound) = self.net.transport(node);
        let started = Node::start(config, transport, inbound)
            .await
            .expect("node starts");
        self.nodes.insert(node, started);
    }

    /// Starts `count` nodes and bootstraps each group on all of them.
    pub async fn bootstrap(count: u64, groups: &[GroupId], tune: fn(&mut NodeConfig)) -> Cluster {
        let mut cluster = Cluster::new(tune);
        let voters: Vec<NodeId> = (1..=count).map(id).collect();
        for &node in &voters {
            cluster.start_node(node).await;
            for &group in groups {
                let handle = cluster.nodes[&node]
                    .create_group(group, voters.clone(), Counter::default())
                    .await
                    .expect("group bootstraps");
                cluster.groups.insert((node, group), handle);
            }
        }
        cluster
    }

    pub fn group(&self, node: NodeId, group: GroupId) -> &Group<Counter> {
        &self.groups[&(node, group)]
    }

    /// Stops a node and forgets its handles (its directory stays).
    pub async fn stop_node(&mut self, node: NodeId) {
        self.groups.retain(|(n, _), _| *n != node);
        if let Some(stopped) = self.nodes.remove(&node) {
            stopped.shutdown().await;
        }
    }

    /// Waits until every running node agrees on one leader of `group`.
    pub async fn leader(&self, group: GroupId) -> NodeId {
        let deadline = Instant::now() + WAIT;
        let mut poll = tokio::time::interval(Duration::from_millis(10));
        loop {
            poll.tick().await;
            let leaders: HashSet<Option<NodeId>> = self
                .groups
                .iter()
                .filter(|((_, g), _)| *g == group)
                .map(|(_, handle)| handle.leader())
                .collect();
            if leaders.len() == 1 {
                if let Some(Some(leader)) = leaders.into_iter().next() {
                    let running = self.groups.get(&(leader, group));
                    if running.is_some_and(|handle| handle.is_leader()) {
                        return leader;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no agreed leader for {group:?}");
        }
    }

    /// Waits until every running member of `group` applied `index`.
    pub async fn all_applied(&self, group: GroupId, index: Index) {
        for ((_, g), handle) in &self.groups {
            if *g == group {
                handle
                    .wait_applied(index, WAIT)
                    .await
                    .expect("member applies");
            }
        }
    }

    pub async fn shutdown(mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for node in ids {
            self.stop_node(node).await;
        }
    }
}

/// Polls `check` every 10 ms until it holds or `WAIT` passes.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    loop {
        poll.tick().await;
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
    }
}
