//! Transport metrics, through the `metrics` facade so the application picks
//! the exporter. Every series is labelled with the peer's node id; handles
//! are resolved once per peer and connection, not per message, so recording
//! costs an atomic add on the hot path.

pub(crate) use ::metrics::{counter, Counter};
use ::metrics::{histogram, Histogram};
use quorate_core::NodeId;

/// Raft messages written to a peer's connection.
pub const MESSAGES_SENT: &str = "quorate_transport_messages_sent_total";
/// Frame bytes (header included) written to a peer.
pub const BYTES_SENT: &str = "quorate_transport_bytes_sent_total";
/// Raft messages read from a peer and handed to the node.
pub const MESSAGES_RECEIVED: &str = "quorate_transport_messages_received_total";
/// Frame bytes (header included) read from a peer.
pub const BYTES_RECEIVED: &str = "quorate_transport_bytes_received_total";
/// Messages dropped, labelled by `reason`: `queue_full` (the peer's
/// outbound queue), `inbound_full` (the node's inbound channel),
/// `too_large` (one message exceeds the frame limit), `write_failed`
/// (the connection broke with the batch in flight).
pub const MESSAGES_DROPPED: &str = "quorate_transport_messages_dropped_total";
/// Messages per batch frame: shows how well heartbeats of many groups coalesce.
pub const BATCH_MESSAGES: &str = "quorate_transport_batch_messages";
/// Outbound connection attempts and failures.
pub const CONNECT_ATTEMPTS: &str = "quorate_transport_connect_attempts_total";
pub const CONNECT_FAILURES: &str = "quorate_transport_connect_failures_total";
/// Inbound connections refused at the handshake or for lack of capacity.
pub const INBOUND_REFUSED: &str = "quorate_transport_inbound_refused_total";
/// Connections closed because a peer sent a malformed frame.
pub const FRAME_ERRORS: &str = "quorate_transport_frame_errors_total";
/// Snapshot chunks written, and whole snapshots sent or received.
pub const SNAPSHOT_CHUNKS_SENT: &str = "quorate_transport_snapshot_chunks_sent_total";
pub const SNAPSHOTS_SENT: &str = "quorate_transport_snapshots_sent_total";
pub const SNAPSHOTS_RECEIVED: &str = "quorate_transport_snapshots_received_total";

/// Handles for one peer's outbound side.
#[derive(Clone)]
pub(crate) struct OutboundMetrics {
    pub messages: Counter,
    pub bytes: Counter,
    pub batch_messages: Histogram,
    pub connect_attempts: Counter,
    pub connect_failures: Counter,
}

impl OutboundMetrics {
    pub fn new(peer: NodeId) -> Self {
        let peer = peer.get().to_string();
        OutboundMetrics {
            messages: counter!(MESSAGES_SENT, "peer" => peer.clone()),
            bytes: counter!(BYTES_SENT, "peer" => peer.clone()),
            batch_messages: histogram!(BATCH_MESSAGES, "peer" => peer.clone()),
            connect_attempts: counter!(CONNECT_ATTEMPTS, "peer" => peer.clone()),
            connect_failures: counter!(CONNECT_FAILURES, "peer" => peer),
        }
    }
}

/// Handles for one inbound connection, resolved after the handshake.
pub(crate) struct InboundMetrics {
    pub messages: Counter,
    pub bytes: Counter,
    pub dropped: Counter,
}

impl InboundMetrics {
    pub fn new(peer: NodeId) -> Self {
        let peer = peer.get().to_string();
        InboundMetrics {
            messages: counter!(MESSAGES_RECEIVED, "peer" => peer.clone()),
            bytes: counter!(BYTES_RECEIVED, "peer" => peer.clone()),
            dropped: counter!(MESSAGES_DROPPED, "peer" => peer, "reason" => "inbound_full"),
        }
    }
}

/// Counts `count` messages to `peer` dropped for `reason`.
pub(crate) fn dropped(peer: NodeId, reason: &'static str, count: u64) {
    counter!(MESSAGES_DROPPED, "peer" => peer.get().to_string(), "reason" => reason)
        .increment(count);
}
