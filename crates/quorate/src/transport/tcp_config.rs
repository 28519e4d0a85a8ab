//! Settings of [`super::TcpTransport`]. Every bound is a named field with a
//! default constant and is checked once, by [`TcpConfig::validate`].

use super::tls::TlsConfig;
use crate::wire::FRAME_BYTES_MAX_DEFAULT;
use quorate_core::NodeId;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The shortest election timeout the runtime defaults to (150–300 ms). The
/// transport's timeouts are ordered below it so that a dead connection is
/// noticed and redialled before followers give up on their leader.
pub const ELECTION_TIMEOUT_MIN: Duration = Duration::from_millis(150);

/// Default bound on a TCP connect: a loopback or LAN connect takes well
/// under a millisecond, and a peer that does not answer in 50 ms is better
/// retried with backoff than waited on.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(50);

/// Default bound on one request on an established connection: the TLS and
/// quorate handshakes, and the write of one frame. A peer that cannot take a
/// frame in 120 ms is stalled for most of an election timeout, and a fresh
/// connection is the better bet.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(120);

/// Default first and largest wait between reconnection attempts; the wait
/// doubles per failure so that a dead peer costs a few dials per second.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(10);
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Default capacity of a peer's outbound queue, in messages. When full, new
/// messages to that peer are dropped and counted; Raft resends what matters.
pub const PEER_QUEUE_MSGS_MAX: usize = 4096;

/// Default most messages and bytes coalesced into one batch frame.
pub const BATCH_MSGS_MAX: usize = 1024;
pub const BATCH_BYTES_MAX: usize = 1024 * 1024;

/// Default snapshot chunk size and the number of chunks that may be
/// unacknowledged at once (a 512 KiB window keeps a LAN link busy).
pub const SNAPSHOT_CHUNK_BYTES: usize = 64 * 1024;
pub const SNAPSHOT_WINDOW_CHUNKS: usize = 8;

/// Default wait for a snapshot acknowledgement. Snapshots are bulk
/// transfers whose receiver fsyncs, so this is not tied to elections.
pub const SNAPSHOT_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Default largest snapshot a node accepts: 64 GiB.
pub const SNAPSHOT_BYTES_MAX: u64 = 64 * 1024 * 1024 * 1024;

/// Default most inbound connections served at once; more are refused.
pub const INBOUND_CONNECTIONS_MAX: usize = 1024;

const _: () = assert!(CONNECT_TIMEOUT.as_millis() < REQUEST_TIMEOUT.as_millis());
const _: () = assert!(REQUEST_TIMEOUT.as_millis() < ELECTION_TIMEOUT_MIN.as_millis());
const _: () = assert!(SNAPSHOT_CHUNK_BYTES + 4096 < FRAME_BYTES_MAX_DEFAULT);
const _: () = assert!(BATCH_BYTES_MAX < FRAME_BYTES_MAX_DEFAULT);

/// How a [`super::TcpTransport`] listens, dials and bounds its resources.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// This node. Peers must address their handshake to it.
    pub node_id: NodeId,
    /// Connections from nodes of another cluster are refused.
    pub cluster_id: u64,
    /// Where to listen; port 0 picks a free port (see `local_addr`).
    pub listen_addr: SocketAddr,
    /// Where inbound snapshots are spooled; created if missing.
    pub spool_dir: PathBuf,
    /// Mutual TLS on every connection when set; plain TCP otherwise.
    pub tls: Option<TlsConfig>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub reconnect_backoff_min: Duration,
    pub reconnect_backoff_max: Duration,
    pub peer_queue_msgs_max: usize,
    pub batch_msgs_max: usize,
    pub batch_bytes_max: usize,
    /// Largest frame payload sent or accepted; larger ones close the
    /// connection. Must be equal on all nodes.
    pub frame_bytes_max: usize,
    pub snapshot_chunk_bytes: usize,
    pub snapshot_window_chunks: usize,
    pub snapshot_ack_timeout: Duration,
    pub snapshot_bytes_max: u64,
    pub inbound_connections_max: usize,
}

/// A [`TcpConfig`] field out of range.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TcpConfigError {
    #[error("node_id must not be zero, which means \"nobody\"")]
    NodeIdZero,
    #[error("`{field}` must be positive")]
    Zero { field: &'static str },
    #[error("connect_timeout ({connect:?}) must be below request_timeout ({request:?})")]
    TimeoutOrder {
        connect: Duration,
        request: Duration,
    },
    #[error("reconnect_backoff_min ({min:?}) exceeds reconnect_backoff_max ({max:?})")]
    BackoffOrder { min: Duration, max: Duration },
    #[error("`{field}` ({value}) leaves no room in frame_bytes_max ({limit}); lower it or raise the limit")]
    ExceedsFrame {
        field: &'static str,
        value: usize,
        limit: usize,
    },
}

impl TcpConfig {
    /// The defaults above for a node listening on `listen_addr`.
    pub fn new(
        node_id: NodeId,
        cluster_id: u64,
        listen_addr: SocketAddr,
        spool_dir: impl Into<PathBuf>,
    ) -> Self {
        TcpConfig {
            node_id,
            cluster_id,
            listen_addr,
            spool_dir: spool_dir.into(),
            tls: None,
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            reconnect_backoff_min: RECONNECT_BACKOFF_MIN,
            reconnect_backoff_max: RECONNECT_BACKOFF_MAX,
            peer_queue_msgs_max: PEER_QUEUE_MSGS_MAX,
            batch_msgs_max: BATCH_MSGS_MAX,
            batch_bytes_max: BATCH_BYTES_MAX,
            frame_bytes_max: FRAME_BYTES_MAX_DEFAULT,
            snapshot_chunk_bytes: SNAPSHOT_CHUNK_BYTES,
            snapshot_window_chunks: SNAPSHOT_WINDOW_CHUNKS,
            snapshot_ack_timeout: SNAPSHOT_ACK_TIMEOUT,
            snapshot_bytes_max: SNAPSHOT_BYTES_MAX,
            inbound_connections_max: INBOUND_CONNECTIONS_MAX,
        }
    }

    /// Checks every bound; `TcpTransport::bind` calls it.
    pub fn validate(&self) -> Result<(), TcpConfigError> {
        if self.node_id.is_none() {
            return Err(TcpConfigError::NodeIdZero);
        }
        let positive = [
            ("connect_timeout", self.connect_timeout.is_zero()),
            (
                "reconnect_backoff_min",
                self.reconnect_backoff_min.is_zero(),
            ),
            ("snapshot_ack_timeout", self.snapshot_ack_timeout.is_zero()),
            ("peer_queue_msgs_max", self.peer_queue_msgs_max == 0),
            ("batch_msgs_max", self.batch_msgs_max == 0),
            ("batch_bytes_max", self.batch_bytes_max == 0),
            ("frame_bytes_max", self.frame_bytes_max == 0),
            ("snapshot_chunk_bytes", self.snapshot_chunk_bytes == 0),
            ("snapshot_window_chunks", self.snapshot_window_chunks == 0),
            ("snapshot_bytes_max", self.snapshot_bytes_max == 0),
            ("inbound_connections_max", self.inbound_connections_max == 0),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, zero)| *zero) {
            return Err(TcpConfigError::Zero { field });
        }
        if self.connect_timeout >= self.request_timeout {
            return Err(TcpConfigError::TimeoutOrder {
                connect: self.connect_timeout,
                request: self.request_timeout,
            });
        }
        if self.reconnect_backoff_min > self.reconnect_backoff_max {
            return Err(TcpConfigError::BackoffOrder {
                min: self.reconnect_backoff_min,
                max: self.reconnect_backoff_max,
            });
        }
        self.validate_sizes()
    }

    fn validate_sizes(&self) -> Result<(), TcpConfigError> {
        let limit = self.frame_bytes_max;
        if u32::try_from(limit).is_err() {
            return Err(TcpConfigError::ExceedsFrame {
                field: "frame_bytes_max",
                value: limit,
                limit: u32::MAX as usize,
            });
        }
        // Room for the protobuf framing around a chunk's data.
        let chunk_room = limit.saturating_sub(SNAPSHOT_CHUNK_OVERHEAD_BYTES);
        if self.snapshot_chunk_bytes > chunk_room {
            return Err(TcpConfigError::ExceedsFrame {
                field: "snapshot_chunk_bytes",
                value: self.snapshot_chunk_bytes,
                limit,
            });
        }
        if self.batch_bytes_max > limit {
            return Err(TcpConfigError::ExceedsFrame {
                field: "batch_bytes_max",
                value: self.batch_bytes_max,
                limit,
            });
        }
        Ok(())
    }
}

/// Upper bound on what a chunk frame adds to its data: ids, trailer and an
/// `InstallSnapshot` header whose configuration lists up to a few hundred
/// members.
pub(crate) const SNAPSHOT_CHUNK_OVERHEAD_BYTES: usize = 4096;
