//! How Raft messages travel between nodes.
//!
//! The node driver talks to peers only through [`Transport`]; the TCP/TLS
//! implementation, the in-memory one for tests and the fault-injecting
//! wrapper all sit behind it. Inbound traffic arrives on the bounded
//! channel handed to the transport when it is built, as [`Inbound`] events
//! the driver batches with everything else it reacts to.
//!
//! Implementations: [`TcpTransport`] (TCP, optionally mutual TLS via
//! [`TlsConfig`], configured by [`TcpConfig`]), [`MemoryTransport`] on a
//! [`MemoryNetwork`] for tests, and [`FaultyTransport`], which wraps any of
//! them with faults steered by a [`FaultController`]. Metric names live in
//! [`metrics`].

mod conn;
pub mod faulty;
mod inbound;
pub mod memory;
pub mod metrics;
mod outbound;
mod snapshot_recv;
mod snapshot_send;
mod tcp;
mod tcp_config;
mod tls;

pub use faulty::{FaultController, FaultyTransport};
pub use memory::{MemoryNetwork, MemoryTransport};
pub use tcp::{BindError, TcpTransport};
pub use tcp_config::{
    TcpConfig, TcpConfigError, BATCH_BYTES_MAX, BATCH_MSGS_MAX, CONNECT_TIMEOUT,
    ELECTION_TIMEOUT_MIN, INBOUND_CONNECTIONS_MAX, PEER_QUEUE_MSGS_MAX, RECONNECT_BACKOFF_MAX,
    RECONNECT_BACKOFF_MIN, REQUEST_TIMEOUT, SNAPSHOT_ACK_TIMEOUT, SNAPSHOT_BYTES_MAX,
    SNAPSHOT_CHUNK_BYTES, SNAPSHOT_WINDOW_CHUNKS,
};
pub use tls::{TlsConfig, TlsConfigError};

use bytes::Bytes;
use quorate_core::{GroupId, Message, NodeId};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

/// One Raft message for one group. Every message on the wire names its
/// group, so one connection per peer node carries all groups.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub group: GroupId,
    pub message: Message,
}

/// What a transport hands to the node driver.
#[derive(Debug)]
pub enum Inbound {
    /// A batch of messages from one peer, in the order they were sent.
    Messages {
        from: NodeId,
        envelopes: Vec<Envelope>,
    },
    /// A snapshot fully received: `message` is the leader's
    /// `InstallSnapshot`; its data was spooled to `path` (the driver owns
    /// the file from now on).
    Snapshot {
        from: NodeId,
        group: GroupId,
        message: Message,
        path: PathBuf,
    },
}

/// Where the data of an outgoing snapshot comes from.
pub enum SnapshotData {
    /// Already in memory.
    Bytes(Bytes),
    /// A file to stream (a snapshot in the WAL's snapshot store).
    File(PathBuf),
}

/// A boxed future, so the trait stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a snapshot could not be delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotSendError {
    #[error("no connection to node {node}")]
    Unreachable { node: NodeId },
    #[error("node {node} refused or dropped the snapshot stream")]
    Aborted { node: NodeId },
    #[error("node {node} did not acknowledge a snapshot chunk in time")]
    TimedOut { node: NodeId },
    #[error("reading the snapshot failed: {source}")]
    Read {
        #[source]
        source: std::io::Error,
    },
    #[error("the transport is shut down")]
    Shutdown,
}

/// Sends Raft traffic to peer nodes.
///
/// Every method returns at once: messages go to a bounded per-peer queue
/// and are batched onto the connection. A full queue drops the message
/// (Raft retries what matters) and counts it in the metrics.
pub trait Transport: Send + Sync + 'static {
    /// Queues `envelopes` for `to`, in order.
    fn send(&self, to: NodeId, envelopes: Vec<Envelope>);

    /// Streams a snapshot to `to` in chunks with flow control. The future
    /// resolves once the receiver has the whole snapshot (it then steps
    /// `message`) or the stream failed.
    fn send_snapshot(
        &self,
        to: NodeId,
        group: GroupId,
        message: Message,
        data: SnapshotData,
    ) -> BoxFuture<'static, Result<(), SnapshotSendError>>;

    /// Adds a peer or changes its address (membership changes).
    fn set_peer(&self, id: NodeId, addr: SocketAddr);

    /// Forgets a peer and closes its connection.
    fn remove_peer(&self, id: NodeId);
}
