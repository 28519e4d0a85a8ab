//! Per-group state: what the driver keeps for each group (`GroupSlot`) and
//! what it shares with the group's handles and apply worker (`GroupShared`).

use crate::error::ReadError;
use crate::metrics::GroupMetrics;
use crate::node::events::{ApplyTask, Waiters};
use crate::status::GroupEvent;
use quorate_core::{ConfState, EntryId, GroupId, Index, NodeId, RawNode, Ready, Role, Term};
use quorate_wal::{GroupLog, SnapshotFile, SnapshotStore};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Who leads, as last published by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LeaderView {
    pub term: Term,
    pub leader: Option<NodeId>,
    pub role: Role,
}

/// State shared by the driver, the apply worker and every handle of one
/// group. Locks are held for a few map operations only.
pub(crate) struct GroupShared {
    pub group: GroupId,
    pub node: NodeId,
    /// The state machine's applied index; only the apply worker writes it.
    pub applied: watch::Sender<Index>,
    /// Only the driver writes it.
    pub leader: watch::Sender<LeaderView>,
    pub events: broadcast::Sender<GroupEvent>,
    /// Cancelled when this node stops leading; replaced on each election won.
    pub leadership: Mutex<Option<CancellationToken>>,
    pub waiters: Mutex<Waiters>,
    /// Peer addresses learned from the log; written into snapshots.
    pub addresses: Mutex<BTreeMap<NodeId, SocketAddr>>,
    /// Committed bytes handed to the apply worker and not yet applied.
    pub apply_backlog_bytes: AtomicU64,
}

impl GroupShared {
    pub fn new(group: GroupId, node: NodeId, applied: Index, events_capacity: usize) -> Self {
        let view = LeaderView {
            term: Term::ZERO,
            leader: None,
            role: Role::Follower,
        };
        GroupShared {
            group,
            node,
            applied: watch::Sender::new(applied),
            leader: watch::Sender::new(view),
            events: broadcast::Sender::new(events_capacity),
            leadership: Mutex::new(None),
            waiters: Mutex::new(Waiters::default()),
            addresses: Mutex::new(BTreeMap::new()),
            apply_backlog_bytes: AtomicU64::new(0),
        }
    }

    pub fn waiters(&self) -> MutexGuard<'_, Waiters> {
        lock(&self.waiters)
    }

    pub fn addresses(&self) -> MutexGuard<'_, BTreeMap<NodeId, SocketAddr>> {
        lock(&self.addresses)
    }

    pub fn leadership(&self) -> MutexGuard<'_, Option<CancellationToken>> {
        lock(&self.leadership)
    }

    /// Tells subscribers; nobody listening is fine.
    pub fn publish(&self, event: GroupEvent) {
        let _ = self.events.send(event);
    }
}

/// A poisoned lock means a panic elsewhere already stopped that task; the
/// maps themselves stay consistent (every update is a single insert or
/// remove), so keep serving.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the driver keeps for one group.
pub(crate) struct GroupSlot {
    pub id: GroupId,
    pub raw: RawNode<GroupLog>,
    pub shared: Arc<GroupShared>,
    pub apply_tx: mpsc::UnboundedSender<ApplyTask>,
    pub snapshots: SnapshotStore,
    /// The `Ready` handed out and waiting for WAL batch `seq` to be durable.
    pub in_flight: Option<(u64, Ready)>,
    /// Linearizable reads waiting for their read index, by request id.
    pub reads: HashMap<u64, oneshot::Sender<Result<Index, ReadError>>>,
    /// Snapshots from the leader stored locally, waiting to be installed.
    pub received: HashMap<EntryId, SnapshotFile>,
    /// Local snapshots made durable: compact to them in the next batch.
    pub compactions: Vec<quorate_core::SnapshotMeta>,
    /// The configuration last announced to subscribers.
    pub conf_seen: ConfState,
    pub metrics: GroupMetrics,
}
