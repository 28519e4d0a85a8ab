//! An in-memory transport for tests: a [`MemoryNetwork`] hub that nodes
//! register with, each getting a [`MemoryTransport`].
//!
//! Messages go straight into the receiver's inbound channel with `try_send`
//! (dropped and counted when full or when the receiver is not registered),
//! exactly as the TCP transport treats a full channel. Snapshots are
//! spooled to a file in the network's spool directory first, so the driver
//! sees the same `Inbound::Snapshot { path, .. }` as over TCP.

use super::metrics;
use super::{BoxFuture, Envelope, Inbound, SnapshotData, SnapshotSendError, Transport};
use bytes::Bytes;
use quorate_core::{GroupId, Message, NodeId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// The hub: which node's inbound channel is where.
#[derive(Clone)]
pub struct MemoryNetwork {
    inner: Arc<NetworkInner>,
}

struct NetworkInner {
    nodes: Mutex<HashMap<NodeId, mpsc::Sender<Inbound>>>,
    spool_dir: PathBuf,
    next_spool: AtomicU64,
}

impl NetworkInner {
    fn nodes(&self) -> MutexGuard<'_, HashMap<NodeId, mpsc::Sender<Inbound>>> {
        // Every operation under this lock is a single map insert, remove or
        // lookup, so a poisoned lock still guards a consistent map.
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sender(&self, node: NodeId) -> Option<mpsc::Sender<Inbound>> {
        self.nodes().get(&node).cloned()
    }
}

impl MemoryNetwork {
    /// A network whose received snapshots are spooled under `spool_dir`
    /// (created on first use).
    pub fn new(spool_dir: impl Into<PathBuf>) -> Self {
        MemoryNetwork {
            inner: Arc::new(NetworkInner {
                nodes: Mutex::new(HashMap::new()),
                spool_dir: spool_dir.into(),
                next_spool: AtomicU64::new(1),
            }),
        }
    }

    /// Attaches node `id`, whose inbound traffic goes to `inbound`, and
    /// returns its transport. Registering an id again replaces the channel
    /// (a restarted node).
    pub fn register(&self, id: NodeId, inbound: mpsc::Sender<Inbound>) -> MemoryTransport {
        self.inner.nodes().insert(id, inbound);
        MemoryTransport {
            network: Arc::clone(&self.inner),
            id,
        }
    }

    /// Detaches node `id` (a crashed node): traffic to it is dropped.
    pub fn unregister(&self, id: NodeId) {
        self.inner.nodes().remove(&id);
    }
}

/// One node's view of a [`MemoryNetwork`].
#[derive(Clone)]
pub struct MemoryTransport {
    network: Arc<NetworkInner>,
    id: NodeId,
}

impl MemoryTransport {
    pub fn node_id(&self) -> NodeId {
        self.id
    }
}

impl Transport for MemoryTransport {
    fn send(&self, to: NodeId, envelopes: Vec<Envelope>) {
        let count = envelopes.len() as u64;
        let Some(sender) = self.network.sender(to) else {
            metrics::dropped(to, "unknown_peer", count);
            return;
        };
        let batch = Inbound::Messages {
            from: self.id,
            envelopes,
        };
        match sender.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => metrics::dropped(to, "inbound_full", count),
            Err(TrySendError::Closed(_)) => metrics::dropped(to, "unknown_peer", count),
        }
    }

    fn send_snapshot(
        &self,
        to: NodeId,
        group: GroupId,
        message: Message,
        data: SnapshotData,
    ) -> BoxFuture<'static, Result<(), SnapshotSendError>> {
        let network = Arc::clone(&self.network);
        let from = self.id;
        Box::pin(async move {
            let sender = network
                .sender(to)
                .ok_or(SnapshotSendError::Unreachable { node: to })?;
            let bytes = match data {
                SnapshotData::Bytes(bytes) => bytes,
                SnapshotData::File(path) => Bytes::from(
                    tokio::fs::read(&path)
                        .await
                        .map_err(|source| SnapshotSendError::Read { source })?,
                ),
            };
            let path = spool(&network, from, to, group, &bytes)
                .await
                .map_err(|_| SnapshotSendError::Aborted { node: to })?;
            let inbound = Inbound::Snapshot {
                from,
                group,
                message,
                path: path.clone(),
            };
            // Waits for room like the TCP receiver does; the channel is
            // bounded, so this is backpressure, not unbounded buffering.
            if sender.send(inbound).await.is_err() {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(SnapshotSendError::Aborted { node: to });
            }
            Ok(())
        })
    }

    /// Addresses mean nothing in memory: every registered node is reachable.
    fn set_peer(&self, _id: NodeId, _addr: SocketAddr) {}

    /// See [`MemoryTransport::set_peer`]; use [`MemoryNetwork::unregister`]
    /// or the fault wrapper to cut a node off.
    fn remove_peer(&self, _id: NodeId) {}
}

async fn spool(
    network: &NetworkInner,
    from: NodeId,
    to: NodeId,
    group: GroupId,
    bytes: &[u8],
) -> std::io::Result<PathBuf> {
    tokio::fs::create_dir_all(&network.spool_dir).await?;
    let serial = network.next_spool.fetch_add(1, Ordering::Relaxed);
    let name = format!(
        "snapshot-{}-from-{}-{}-{serial}.snap",
        to.get(),
        from.get(),
        group.get()
    );
    let path = network.spool_dir.join(name);
    tokio::fs::write(&path, bytes).await?;
    Ok(path)
}
