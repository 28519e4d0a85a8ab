//! Collecting every group's `Ready` into one WAL batch, and finishing each
//! `Ready` once its batch is durable (Ready contract of `quorate_core`):
//! `messages` leave at once (the leader sends before its own fsync);
//! `persisted_messages`, committed entries and `advance` wait for the WAL.

use crate::node::driver::{Driver, WAL_BATCHES_IN_FLIGHT_MAX};
use crate::node::events::ApplyTask;
use crate::node::slot::{GroupSlot, LeaderView};
use crate::node::snapshot;
use crate::status::GroupEvent;
use crate::transport::{Envelope, Transport};
use quorate_core::{Message, MessageBody, NodeId, Ready, Role};
use quorate_wal::WalBatch;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What routing a group's messages needs besides the group itself.
struct Router<'a> {
    outbox: &'a mut BTreeMap<NodeId, Vec<Envelope>>,
    transport: &'a Arc<dyn Transport>,
    internal: &'a mpsc::Sender<crate::node::events::Internal>,
}

impl Router<'_> {
    /// Queues messages per peer; snapshot messages start a stream instead.
    fn route(&mut self, slot: &GroupSlot, messages: Vec<Message>) {
        for message in messages {
            if matches!(message.body, MessageBody::InstallSnapshot(_)) {
                tracing::info!(group = %slot.id, to = %message.to, "streaming a snapshot");
                snapshot::spawn_send(
                    Arc::clone(self.transport),
                    slot.snapshots.clone(),
                    slot.id,
                    message,
                    self.internal.clone(),
                );
                continue;
            }
            self.outbox.entry(message.to).or_default().push(Envelope {
                group: slot.id,
                message,
            });
        }
    }
}

impl Driver {
    /// Takes a `Ready` from every group that has one (and is not waiting
    /// for its previous one) and writes their durable state in as few WAL
    /// batches as the WAL's batch limit allows — one, unless they are large.
    pub(crate) fn collect_ready(&mut self) {
        let mut staging = Staging::new(self.wal.batch_bytes_max());
        let mut router = Router {
            outbox: &mut self.outbox,
            transport: &self.transport,
            internal: &self.internal_tx,
        };
        let backlog_max = self.config.apply_backlog_bytes_max;
        let first_seq = self.batch_seq + 1;
        for slot in self.groups.values_mut() {
            for meta in slot.compactions.drain(..) {
                staging.open.compact(slot.id, meta);
            }
            if self.batches_in_flight + staging.batches() >= WAL_BATCHES_IN_FLIGHT_MAX {
                continue; // compactions still go out; Readies wait a step
            }
            let backlog = slot.shared.apply_backlog_bytes.load(Ordering::Relaxed);
            if slot.in_flight.is_some() || backlog > backlog_max || !slot.raw.has_ready() {
                continue;
            }
            let mut ready = slot.raw.ready();
            publish_changes(slot, &ready);
            answer_reads(slot, &mut ready);
            router.route(slot, std::mem::take(&mut ready.messages));
            if stage(slot, &ready, &mut staging) {
                // Durable once the batch holding its last record is.
                slot.in_flight = Some((first_seq + staging.batches() as u64, ready));
            } else {
                finish(slot, ready, &mut router);
            }
        }
        for batch in staging.into_batches() {
            let seq = self.batch_seq + 1;
            self.submit(seq, batch);
        }
    }

    /// Submits one batch; its durability comes back as an event.
    fn submit(&mut self, seq: u64, batch: WalBatch) {
        let durable = self.durable_tx.clone();
        let submitted_at = std::time::Instant::now();
        self.metrics
            .batch_bytes
            .record(batch.encoded_bytes() as f64);
        let result = self.wal.submit(batch, move |result| match result {
            // A send error means the driver is gone (shutdown).
            Ok(()) => {
                let _ = durable.send((seq, submitted_at));
            }
            // With `disk_full_retry` set the WAL reports a full disk only
            // when it closes: the batch was never acknowledged, so nothing
            // depends on it and the node is stopping anyway.
            Err(quorate_wal::WalWriteError::DiskFull { path }) => {
                tracing::warn!(path = %path.display(), "WAL closed while the disk was full; the last batch was not written");
            }
            Err(error) => fatal_wal(&error),
        });
        if let Err(error) = result {
            fatal_wal(&error);
        }
        self.batch_seq = seq;
        self.batches_in_flight += 1;
    }

    /// WAL batch `seq` is durable: finish every `Ready` it carried.
    pub(crate) fn on_durable(&mut self, seq: u64, submitted_at: std::time::Instant) {
        assert!(
            self.batches_in_flight > 0,
            "durable notice without a batch in flight"
        );
        self.batches_in_flight -= 1;
        self.metrics
            .fsync_seconds
            .record(submitted_at.elapsed().as_secs_f64());
        let mut router = Router {
            outbox: &mut self.outbox,
            transport: &self.transport,
            internal: &self.internal_tx,
        };
        for slot in self.groups.values_mut() {
            if !matches!(slot.in_flight, Some((s, _)) if s == seq) {
                continue;
            }
            let (_, ready) = slot.in_flight.take().expect("matched above");
            finish(slot, ready, &mut router);
        }
    }
}

/// A WAL write failed: the process stops. After a failed fsync the page
/// cache may claim data that never reached the disk; recovery from what is
/// verifiably on disk is the only safe continuation.
fn fatal_wal(error: &quorate_wal::WalWriteError) -> ! {
    tracing::error!(%error, "WAL write failed; aborting");
    eprintln!("quorate: FATAL: WAL write failed: {error}; aborting");
    std::process::abort()
}

/// One driver step's WAL batches, each within the WAL's batch limit. A
/// `Ready` larger than the limit is spread over consecutive batches; the WAL
/// writes them in order, so when the last is durable all of it is, and a
/// crash in between leaves a prefix of its entries that nothing
/// acknowledged yet.
struct Staging {
    bytes_max: u64,
    sealed: Vec<WalBatch>,
    open: WalBatch,
}

impl Staging {
    fn new(bytes_max: u64) -> Staging {
        Staging {
            bytes_max,
            sealed: Vec::new(),
            open: WalBatch::new(),
        }
    }

    /// Batches sealed so far; the open one gets sequence number
    /// `first + batches()`.
    fn batches(&self) -> usize {
        self.sealed.len()
    }

    /// Starts a new batch when `bytes` more would not fit the open one.
    fn make_room(&mut self, bytes: u64) {
        if !self.open.is_empty() && self.open.encoded_bytes() + bytes > self.bytes_max {
            self.sealed.push(std::mem::take(&mut self.open));
        }
    }

    fn append(&mut self, group: quorate_core::GroupId, mut entries: &[quorate_core::Entry]) {
        while !entries.is_empty() {
            let taken = self.open.append_within(group, entries, self.bytes_max);
            entries = &entries[taken..];
            if !entries.is_empty() {
                self.sealed.push(std::mem::take(&mut self.open));
            }
        }
    }

    fn into_batches(mut self) -> Vec<WalBatch> {
        if !self.open.is_empty() {
            self.sealed.push(self.open);
        }
        self.sealed
    }
}

/// Adds the `Ready`'s durable state to `staging`; false if it has none.
fn stage(slot: &GroupSlot, ready: &Ready, staging: &mut Staging) -> bool {
    let mut staged = false;
    if let Some(meta) = &ready.snapshot {
        let mut record = WalBatch::new();
        match slot.received.get(&meta.last) {
            Some(file) => record.install_snapshot_file(slot.id, file),
            None => record.install_snapshot(slot.id, meta.clone()),
        };
        staging.make_room(record.encoded_bytes());
        staging.open.extend(record);
        staged = true;
    }
    if !ready.entries.is_empty() {
        staging.append(slot.id, &ready.entries);
        staged = true;
    }
    if let Some(hard_state) = ready.hard_state {
        let mut record = WalBatch::new();
        record.hard_state(slot.id, hard_state);
        staging.make_room(record.encoded_bytes());
        staging.open.extend(record);
        staged = true;
    }
    staged
}

/// The `Ready`'s state is durable: release what waited for it, hand
/// committed entries to the apply worker, acknowledge to the core.
fn finish(slot: &mut GroupSlot, mut ready: Ready, router: &mut Router<'_>) {
    router.route(slot, std::mem::take(&mut ready.persisted_messages));
    if let Some(meta) = &ready.snapshot {
        match slot.received.remove(&meta.last) {
            Some(file) => {
                slot.metrics.snapshots_installed.increment(1);
                slot.received.retain(|id, _| *id > meta.last);
                let _ = slot.apply_tx.send(ApplyTask::Restore(file));
            }
            None => {
                tracing::error!(group = %slot.id, snapshot = %meta.last, "installed a snapshot whose data is missing")
            }
        }
    }
    let committed = std::mem::take(&mut ready.committed_entries);
    if !committed.is_empty() {
        let bytes: u64 = committed.iter().map(quorate_core::Entry::size_bytes).sum();
        slot.metrics.committed.increment(committed.len() as u64);
        slot.shared
            .apply_backlog_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        // The worker ends only when the group is dropped.
        let _ = slot.apply_tx.send(ApplyTask::Entries(committed));
    }
    slot.raw.advance(ready);
    let applied = *slot.shared.applied.borrow();
    let lag = applied.distance_to(slot.raw.commit_index());
    slot.metrics.apply_lag.set(lag as f64);
}

/// Resolves read waiters the core answered (or dropped).
fn answer_reads(slot: &mut GroupSlot, ready: &mut Ready) {
    for state in ready.read_states.drain(..) {
        if let Some(reply) = slot.reads.remove(&state.request) {
            let _ = reply.send(Ok(state.index));
        }
    }
    for request in ready.dropped_reads.drain(..) {
        if let Some(reply) = slot.reads.remove(&request) {
            let _ = reply.send(Err(crate::error::ReadError::LeadershipChanged));
        }
    }
}

/// Announces leader, role and membership changes to watchers and
/// subscribers, and manages the leadership token.
fn publish_changes(slot: &mut GroupSlot, ready: &Ready) {
    let (role, leader) = match ready.soft_state {
        Some(soft) => (soft.role, soft.leader),
        None => {
            let view = *slot.shared.leader.borrow();
            (view.role, view.leader)
        }
    };
    let view = LeaderView {
        term: slot.raw.term(),
        leader,
        role,
    };
    let old = slot.shared.leader.send_replace(view);
    if old.leader != view.leader {
        tracing::info!(group = %slot.id, term = %view.term, leader = ?view.leader, "leader changed");
        slot.metrics.leader_changes.increment(1);
        slot.shared.publish(GroupEvent::LeaderChanged {
            term: view.term,
            leader: view.leader,
        });
    }
    if old.role != view.role {
        on_role_change(slot, old.role, view);
    }
    if slot.raw.conf_state() != &slot.conf_seen {
        slot.conf_seen = slot.raw.conf_state().clone();
        tracing::info!(group = %slot.id, conf = ?slot.conf_seen, "membership changed");
        slot.shared.publish(GroupEvent::MembershipChanged {
            conf_state: slot.conf_seen.clone(),
        });
    }
}

fn on_role_change(slot: &mut GroupSlot, old: Role, view: LeaderView) {
    tracing::info!(group = %slot.id, term = %view.term, role = %view.role, "role changed");
    if view.role == Role::Candidate {
        slot.metrics.elections.increment(1);
    }
    let mut token = slot.shared.leadership();
    if old == Role::Leader {
        if let Some(token) = token.take() {
            token.cancel();
        }
    }
    if view.role == Role::Leader {
        *token = Some(CancellationToken::new());
    }
    drop(token);
    slot.shared.publish(GroupEvent::RoleChanged {
        term: view.term,
        role: view.role,
    });
}
