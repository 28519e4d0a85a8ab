//! The apply worker: one task per group owns the state machine's write
//! side, applies committed entries in batches, resolves proposers with
//! the state machine's responses, restores snapshots and takes new ones
//! by policy.

use crate::config::SnapshotPolicy;
use crate::error::ProposeError;
use crate::node::entry::{self, Decoded};
use crate::node::events::{ApplyTask, Internal, Waiters};
use crate::node::slot::GroupShared;
use crate::node::snapshot::{self, Header};
use crate::state_machine::{Command, SnapshotReader, StateMachine};
use crate::status::GroupEvent;
use crate::transport::Transport;
use quorate_core::{Entry, EntryId, EntryKind, Index, NodeId};
use quorate_wal::{SnapshotFile, SnapshotStore};
use std::any::Any;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

pub(crate) struct ApplyWorker<SM> {
    pub sm: Arc<RwLock<SM>>,
    pub shared: Arc<GroupShared>,
    pub tasks: mpsc::UnboundedReceiver<ApplyTask>,
    pub internal: mpsc::Sender<Internal>,
    pub transport: Arc<dyn Transport>,
    pub snapshots: SnapshotStore,
    pub policy: SnapshotPolicy,
    pub applied: Index,
    /// Entries and bytes applied since the last snapshot.
    pub since_snapshot: (u64, u64),
    /// A snapshot was offered to the driver and is not finished yet.
    pub snapshot_pending: bool,
}

/// What one batch resolves: (entry, response) pairs for waiters.
type Resolutions = Vec<(EntryId, Box<dyn Any + Send>)>;

impl<SM: StateMachine> ApplyWorker<SM> {
    pub async fn run(mut self) {
        while let Some(task) = self.tasks.recv().await {
            match task {
                ApplyTask::Entries(entries) => {
                    self.apply(entries);
                    self.maybe_snapshot(false).await;
                }
                ApplyTask::Restore(file) => {
                    if let Err(reason) = self.restore(&file).await {
                        tracing::error!(snapshot = %file.meta.last, reason, "cannot restore a snapshot; this group stops applying");
                        return;
                    }
                }
                ApplyTask::SnapshotFinished => self.snapshot_pending = false,
                ApplyTask::SnapshotNow => self.maybe_snapshot(true).await,
            }
        }
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        let Some(last) = entries.last().map(|e| e.index) else {
            return;
        };
        assert_eq!(
            entries[0].index,
            self.applied.next(),
            "apply gap: entries start at {} after applied {}",
            entries[0].index,
            self.applied
        );
        let bytes: u64 = entries.iter().map(Entry::size_bytes).sum();
        let mut commands = Vec::new();
        let mut runtime: Resolutions = Vec::new();
        for e in &entries {
            match e.kind {
                EntryKind::ConfChange => runtime.push((e.id(), Box::new(()))),
                EntryKind::Normal => match entry::decode(&e.data) {
                    Decoded::Noop => {}
                    Decoded::Command(data) => commands.push(Command {
                        index: e.index,
                        term: e.term,
                        data,
                    }),
                    Decoded::Address { node, addr } => {
                        self.learn_address(node, addr);
                        runtime.push((e.id(), Box::new(())));
                    }
                    Decoded::Unknown => {
                        tracing::warn!(index = %e.index, "unknown runtime entry; skipped")
                    }
                },
            }
        }
        let responses = {
            let mut sm = self
                .sm
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sm.apply(&commands, last)
        };
        assert_eq!(
            responses.len(),
            commands.len(),
            "StateMachine::apply must return one response per command"
        );
        let mut resolved: Resolutions = commands
            .iter()
            .map(|c| EntryId::new(c.term, c.index))
            .zip(
                responses
                    .into_iter()
                    .map(|r| Box::new(r) as Box<dyn Any + Send>),
            )
            .collect();
        resolved.extend(runtime);
        // Publish first: once a proposer hears back, reads at its index
        // must already be possible.
        self.applied = last;
        self.shared.applied.send_replace(last);
        resolve(&mut self.shared.waiters(), resolved, last);
        self.shared
            .apply_backlog_bytes
            .fetch_sub(bytes, Ordering::Relaxed);
        self.since_snapshot.0 += entries.len() as u64;
        self.since_snapshot.1 += bytes;
    }

    fn learn_address(&self, node: NodeId, addr: SocketAddr) {
        self.shared.addresses().insert(node, addr);
        if node != self.shared.node {
            self.transport.set_peer(node, addr);
        }
    }

    /// Offers a snapshot to the driver when the policy (or `force`) says so.
    async fn maybe_snapshot(&mut self, force: bool) {
        let (entries, bytes) = self.since_snapshot;
        let due =
            entries >= self.policy.entries_since_last || bytes >= self.policy.bytes_since_last;
        if self.snapshot_pending || !(due || force) || self.applied == Index::ZERO {
            return;
        }
        let stream = {
            let mut sm = self
                .sm
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sm.snapshot()
        };
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "the state machine could not snapshot; retrying later");
                return;
            }
        };
        let header = snapshot::encode_header(&Header {
            initial: false,
            addresses: self.shared.addresses().clone(),
        });
        let data: SnapshotReader = Box::new(std::io::Cursor::new(header).chain(stream));
        self.snapshot_pending = true;
        self.since_snapshot = (0, 0);
        let taken = Internal::Taken {
            group: self.shared.group,
            index: self.applied,
            data,
        };
        if self.internal.send(taken).await.is_err() {
            self.snapshot_pending = false;
        }
    }

    /// Replaces the state with a snapshot installed from the leader.
    async fn restore(&mut self, file: &SnapshotFile) -> Result<(), &'static str> {
        let store = self.snapshots.clone();
        let wanted = file.clone();
        let data = tokio::task::spawn_blocking(move || snapshot::read_file(&store, &wanted))
            .await
            .map_err(|_| "reading the snapshot panicked")?
            .map_err(|error| {
                tracing::error!(%error, "reading a snapshot failed");
                "reading the snapshot failed"
            })?;
        let index = file.meta.last.index;
        restore_into(&self.sm, &self.shared, self.transport.as_ref(), data, index)?;
        self.applied = index;
        self.since_snapshot = (0, 0);
        self.shared.waiters().abort_through(index);
        self.shared.applied.send_replace(index);
        self.shared.publish(GroupEvent::SnapshotInstalled { index });
        tracing::info!(snapshot = %file.meta.last, "snapshot installed");
        Ok(())
    }
}

/// Loads snapshot data (runtime header + state machine bytes) into `sm`
/// and the address book; used on install and on restart.
pub(crate) fn restore_into<SM: StateMachine>(
    sm: &RwLock<SM>,
    shared: &GroupShared,
    transport: &dyn Transport,
    data: bytes::Bytes,
    index: Index,
) -> Result<(), &'static str> {
    let (header, rest) = snapshot::decode_header(data)?;
    for (&node, &addr) in &header.addresses {
        shared.addresses().insert(node, addr);
        if node != shared.node {
            transport.set_peer(node, addr);
        }
    }
    if header.initial {
        return Ok(());
    }
    let mut sm = sm
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    sm.restore(&mut &rest[..], index).map_err(|error| {
        tracing::error!(%error, "the state machine refused a snapshot");
        "the state machine refused the snapshot"
    })
}

/// Resolves waiters for entries through `last`: matching term → its
/// response; any other entry at a waiter's index → overwritten.
fn resolve(waiters: &mut Waiters, resolved: Resolutions, last: Index) {
    for (id, response) in resolved {
        tracing::debug!(at = %id, "applied");
        if let Some((term, waiter)) = waiters.by_index.remove(&id.index) {
            if term == id.term {
                waiter.succeed(response);
            } else {
                waiter.fail(ProposeError::Overwritten { index: id.index });
            }
        }
    }
    while let Some(entry) = waiters.by_index.first_entry() {
        if *entry.key() > last {
            break;
        }
        let index = *entry.key();
        let (_, waiter) = entry.remove();
        waiter.fail(ProposeError::Overwritten { index });
    }
}
