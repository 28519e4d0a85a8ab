//! Metric names and cached handles. Everything goes through the `metrics`
//! facade, so the embedding application picks the exporter (the server
//! renders Prometheus). Handles are built once per group or peer: the hot
//! path never formats a label.

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use quorate_core::{GroupId, NodeId};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

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
/// Peer messages the core's gateway refused, labelled by `reason`
/// (`quorate_core::StepError::reason`).
pub const PEER_MESSAGES_REFUSED_TOTAL: &str = "quorate_peer_messages_refused_total";

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
    pub refused: PeerRefusals,
}

impl NodeMetrics {
    pub fn new() -> Self {
        NodeMetrics {
            fsync_seconds: histogram!(WAL_FSYNC_SECONDS),
            batch_bytes: histogram!(WAL_BATCH_BYTES),
            received: counter!(MESSAGES_RECEIVED_TOTAL),
            refused: PeerRefusals::default(),
        }
    }
}

/// The least time between two warnings about one peer's refused messages:
/// a broken or hostile peer may send thousands a second, and the log must
/// stay readable.
pub(crate) const REFUSAL_WARN_INTERVAL: Duration = Duration::from_secs(5);

/// Peers whose last warning time is remembered; past this, the oldest
/// entries are forgotten (the map is bounded like every buffer).
const REFUSAL_PEERS_TRACKED_MAX: usize = 1024;

/// Counts refused peer messages by reason and rate-limits their warnings.
#[derive(Default)]
pub(crate) struct PeerRefusals {
    /// One counter per reason, built on first use (reasons are a closed,
    /// static set, so this stays small).
    counters: BTreeMap<&'static str, Counter>,
    /// Per peer: when it was last warned about, and refusals since.
    last_warned: HashMap<NodeId, (Instant, u64)>,
}

impl PeerRefusals {
    /// Counts one refusal from `peer` for `reason`. Returns `Some(n)` when
    /// a warning is due, `n` being the refusals from `peer` not warned
    /// about since the last warning; `None` while that peer is quiet-timed.
    pub fn record(&mut self, peer: NodeId, reason: &'static str, now: Instant) -> Option<u64> {
        self.counters
            .entry(reason)
            .or_insert_with(|| counter!(PEER_MESSAGES_REFUSED_TOTAL, "reason" => reason))
            .increment(1);
        if let Some((at, suppressed)) = self.last_warned.get_mut(&peer) {
            if now.saturating_duration_since(*at) < REFUSAL_WARN_INTERVAL {
                *suppressed += 1;
                return None;
            }
            let missed = *suppressed;
            *at = now;
            *suppressed = 0;
            return Some(missed);
        }
        if self.last_warned.len() >= REFUSAL_PEERS_TRACKED_MAX {
            self.last_warned
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < REFUSAL_WARN_INTERVAL);
        }
        if self.last_warned.len() < REFUSAL_PEERS_TRACKED_MAX {
            self.last_warned.insert(peer, (now, 0));
        }
        Some(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// At most one warning per peer per interval; the next one says how
    /// many were held back, and peers are limited separately.
    #[test]
    fn refusal_warnings_are_rate_limited_per_peer() {
        let mut refusals = PeerRefusals::default();
        let start = Instant::now();
        let (a, b) = (NodeId::new(1), NodeId::new(2));
        assert_eq!(refusals.record(a, "malformed", start), Some(0));
        assert_eq!(refusals.record(a, "not_member", start), None);
        assert_eq!(refusals.record(b, "malformed", start), Some(0));
        let soon = start + REFUSAL_WARN_INTERVAL / 2;
        assert_eq!(refusals.record(a, "malformed", soon), None);
        let later = start + REFUSAL_WARN_INTERVAL;
        assert_eq!(refusals.record(a, "malformed", later), Some(2));
        assert_eq!(refusals.record(a, "malformed", later), None);
    }
}
