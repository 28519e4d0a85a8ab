//! Metric names and cached handles. Everything goes through the `metrics`
//! facade, so the embedding application picks the exporter (the server
//! renders Prometheus). Handles are built once per group or peer: the hot
//! path never formats a label.

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use quorate_core::{GroupId, NodeId};

pub const PROPOSALS_TOTAL: &str = "quorate_proposals_total";
pub const PROPOSALS_REFUSED_TOTAL: &str = "quorate_proposals_refused_total";
pub const ENTRIES_COMMITTED_TOTAL: &str = "quorate_entries_committed_total";
pub const APPLY_LAG_ENTRIES: &str = "quorate_apply_lag_entries";
pub const ELECTIONS_TOTAL: &str = "quorate_elections_total";
pub const LEADER_CHANGES_TOTAL: &str = "quorate_leader_changes_total";
pub const SNAPSHOTS_TAKEN_TOTAL: &str = "quorate_snapshots_taken_total";
pub const SNAPSHOTS_INSTALLED_TOTAL: &str = "quorate_snapshots_installed_total";
pub const SNAPSHOT_SENDS_TOTAL: &str = "quorate_snapshot_sends_total";
pub const WAL_FSYNC_SECONDS: &str = "quorate_wal_fsync_seconds";
pub const WAL_BATCH_BYTES: &str = "quorate_wal_batch_bytes";
pub const MESSAGES_SENT_TOTAL: &str = "quorate_messages_sent_total";
pub const MESSAGE_BYTES_SENT_TOTAL: &str = "quorate_message_bytes_sent_total";
pub const MESSAGES_RECEIVED_TOTAL: &str = "quorate_messages_received_total";

/// Per-group handles.
#[derive(Clone)]
pub(crate) struct GroupMetrics {
    pub proposals: Counter,
    pub proposals_refused: Counter,
    pub committed: Counter,
    pub apply_lag: Gauge,
    pub elections: Counter,
    pub leader_changes: Counter,
    pub snapshots_taken: Counter,
    pub snapshots_installed: Counter,
    pub snapshot_sends_ok: Counter,
    pub snapshot_sends_failed: Counter,
}

impl GroupMetrics {
    pub fn new(group: GroupId) -> Self {
        let g = group.get().to_string();
        GroupMetrics {
            proposals: counter!(PROPOSALS_TOTAL, "group" => g.clone()),
            proposals_refused: counter!(PROPOSALS_REFUSED_TOTAL, "group" => g.clone()),
            committed: counter!(ENTRIES_COMMITTED_TOTAL, "group" => g.clone()),
            apply_lag: gauge!(APPLY_LAG_ENTRIES, "group" => g.clone()),
            elections: counter!(ELECTIONS_TOTAL, "group" => g.clone()),
            leader_changes: counter!(LEADER_CHANGES_TOTAL, "group" => g.clone()),
            snapshots_taken: counter!(SNAPSHOTS_TAKEN_TOTAL, "group" => g.clone()),
            snapshots_installed: counter!(SNAPSHOTS_INSTALLED_TOTAL, "group" => g.clone()),
            snapshot_sends_ok: counter!(SNAPSHOT_SENDS_TOTAL, "group" => g.clone(), "result" => "ok"),
            snapshot_sends_failed: counter!(SNAPSHOT_SENDS_TOTAL, "group" => g, "result" => "failed"),
        }
    }
}

/// Per-peer handles.
#[derive(Clone)]
pub(crate) struct PeerMetrics {
    pub messages: Counter,
    pub bytes: Counter,
}

impl PeerMetrics {
    pub fn new(peer: NodeId) -> Self {
        let p = peer.get().to_string();
        PeerMetrics {
            messages: counter!(MESSAGES_SENT_TOTAL, "peer" => p.clone()),
            bytes: counter!(MESSAGE_BYTES_SENT_TOTAL, "peer" => p),
        }
    }
}

/// Node-wide handles.
pub(crate) struct NodeMetrics {
    pub fsync_seconds: Histogram,
    pub batch_bytes: Histogram,
    pub received: Counter,
}

impl NodeMetrics {
    pub fn new() -> Self {
        NodeMetrics {
            fsync_seconds: histogram!(WAL_FSYNC_SECONDS),
            batch_bytes: histogram!(WAL_BATCH_BYTES),
            received: counter!(MESSAGES_RECEIVED_TOTAL),
        }
    }
}

/// Approximate bytes a message puts on the wire: entry payloads plus a
/// fixed header allowance. Exact sizes are the transport's business.
pub(crate) fn message_bytes(message: &quorate_core::Message) -> u64 {
    const HEADER_BYTES: u64 = 48;
    match &message.body {
        quorate_core::MessageBody::AppendRequest(request) => {
            HEADER_BYTES
                + request
                    .entries
                    .iter()
                    .map(quorate_core::Entry::size_bytes)
                    .sum::<u64>()
        }
        _ => HEADER_BYTES,
    }
}
