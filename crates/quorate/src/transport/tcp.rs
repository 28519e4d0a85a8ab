//! [`TcpTransport`]: Raft traffic over TCP, optionally inside mutual TLS.
//!
//! Tasks, all tracked so [`TcpTransport::shutdown`] can wait for them:
//! - one listener accepting connections (at most `inbound_connections_max`
//!   served at once), each served by its own task that authenticates the
//!   handshake and hands batches to the node's inbound channel;
//! - one task per peer node, owning the outbound connection that carries
//!   every group's messages to that node (see `outbound`);
//! - one task per snapshot being sent, each on a connection of its own so
//!   that a bulk transfer never delays heartbeats.
//!
//! Cancellation flows from one token: `shutdown` and `Drop` cancel it, and
//! every task selects on it (or a child of it) at each await point.

use super::conn;
use super::inbound;
use super::outbound::{self, PeerHandle};
use super::snapshot_send;
use super::tcp_config::{TcpConfig, TcpConfigError};
use super::{BoxFuture, Envelope, Inbound, SnapshotData, SnapshotSendError, Transport};
use quorate_core::{GroupId, Message, NodeId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info};

/// Why a transport could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    #[error("invalid transport configuration: {source}")]
    Config {
        #[from]
        source: TcpConfigError,
    },
    #[error("cannot create the snapshot spool directory {path}: {source}")]
    SpoolDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}; is another process using the port?")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// State shared by the transport handle and its tasks.
pub(crate) struct Shared {
    pub config: TcpConfig,
    /// Known peers and their tasks. Held only for map operations, never
    /// across an await.
    peers: Mutex<HashMap<NodeId, PeerHandle>>,
    /// The node's inbound channel, bounded by its creator.
    pub inbound: mpsc::Sender<Inbound>,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    /// Bounds concurrently served inbound connections.
    pub inbound_slots: Arc<Semaphore>,
    /// Numbers outgoing snapshot streams and spool files; unique per process
    /// run together with the node id.
    pub next_stream: AtomicU64,
    pub next_spool: AtomicU64,
}

impl Shared {
    pub fn peers(&self) -> MutexGuard<'_, HashMap<NodeId, PeerHandle>> {
        // A panic while holding this lock cannot leave the map half-updated:
        // every operation on it is a single insert or remove.
        self.peers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_peer(&self, node: NodeId) -> bool {
        self.peers().contains_key(&node)
    }

    pub fn peer_addr(&self, node: NodeId) -> Option<SocketAddr> {
        self.peers().get(&node).map(|handle| handle.addr)
    }

    pub fn next_stream_id(&self) -> u64 {
        self.next_stream.fetch_add(1, Ordering::Relaxed)
    }
}

/// Raft traffic over TCP (or TLS when `TcpConfig::tls` is set).
///
/// Must be created and used inside a tokio runtime: peers' tasks are
/// spawned by [`Transport::set_peer`]. Dropping the transport cancels every
/// task without waiting; [`TcpTransport::shutdown`] also waits for them.
pub struct TcpTransport {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

impl TcpTransport {
    /// Validates `config`, creates the spool directory and starts listening.
    /// Inbound traffic goes to `inbound`; when that channel is full, message
    /// batches are dropped (and counted) rather than stalling the sockets.
    pub async fn bind(
        config: TcpConfig,
        inbound: mpsc::Sender<Inbound>,
    ) -> Result<Self, BindError> {
        config.validate()?;
        tokio::fs::create_dir_all(&config.spool_dir)
            .await
            .map_err(|source| BindError::SpoolDir {
                path: config.spool_dir.clone(),
                source,
            })?;
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .map_err(|source| BindError::Listen {
                addr: config.listen_addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| BindError::Listen {
            addr: config.listen_addr,
            source,
        })?;
        let shared = Arc::new(Shared {
            inbound_slots: Arc::new(Semaphore::new(config.inbound_connections_max)),
            config,
            peers: Mutex::new(HashMap::new()),
            inbound,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            next_stream: AtomicU64::new(1),
            next_spool: AtomicU64::new(1),
        });
        shared
            .tasks
            .spawn(inbound::accept_loop(Arc::clone(&shared), listener));
        info!(node = %shared.config.node_id, %local_addr, "transport listening");
        Ok(TcpTransport { shared, local_addr })
    }

    /// The address actually listened on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn node_id(&self) -> NodeId {
        self.shared.config.node_id
    }

    /// Stops the listener and every connection and waits for their tasks.
    /// Pending snapshot sends resolve with `SnapshotSendError::Shutdown`;
    /// queued messages are dropped.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        self.shared.peers().clear();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
        debug!(node = %self.shared.config.node_id, "transport shut down");
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

impl Transport for TcpTransport {
    fn send(&self, to: NodeId, envelopes: Vec<Envelope>) {
        let peers = self.shared.peers();
        let Some(peer) = peers.get(&to) else {
            debug!(peer = %to, count = envelopes.len(), "dropping messages to an unknown peer");
            super::metrics::dropped(to, "unknown_peer", envelopes.len() as u64);
            return;
        };
        for envelope in envelopes {
            if peer.queue.try_send(envelope).is_err() {
                peer.queue_full.increment(1);
            }
        }
    }

    fn send_snapshot(
        &self,
        to: NodeId,
        group: GroupId,
        message: Message,
        data: SnapshotData,
    ) -> BoxFuture<'static, Result<(), SnapshotSendError>> {
        let shared = Arc::clone(&self.shared);
        Box::pin(snapshot_send::send(shared, to, group, message, data))
    }

    fn set_peer(&self, id: NodeId, addr: SocketAddr) {
        if id == self.shared.config.node_id {
            return;
        }
        let mut peers = self.shared.peers();
        if peers.get(&id).is_some_and(|peer| peer.addr == addr) {
            return;
        }
        let handle = outbound::spawn(&self.shared, id, addr);
        if let Some(old) = peers.insert(id, handle) {
            old.cancel.cancel();
        }
        info!(peer = %id, %addr, "peer set");
    }

    fn remove_peer(&self, id: NodeId) {
        if let Some(old) = self.shared.peers().remove(&id) {
            old.cancel.cancel();
            info!(peer = %id, "peer removed");
        }
    }
}

/// Dials `peer` for a dedicated connection (used by snapshot streams).
pub(crate) async fn dial_peer(
    shared: &Shared,
    peer: NodeId,
) -> Result<conn::Connection, SnapshotSendError> {
    let addr = shared
        .peer_addr(peer)
        .ok_or(SnapshotSendError::Unreachable { node: peer })?;
    conn::dial(&shared.config, peer, addr)
        .await
        .map_err(|error| {
            debug!(%peer, %error, "snapshot dial failed");
            SnapshotSendError::Unreachable { node: peer }
        })
}
