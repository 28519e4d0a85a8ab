//! One simulated server: a `RawNode` over an in-memory store that models
//! durability, and the replicated KV state machine above it.
//!
//! Durability model: nothing a `Ready` asks to persist reaches the store
//! until its simulated fsync completes; a crash before that loses it. The
//! store, the hard state and the newest snapshot are what survive a crash,
//! and, in runs whose state machine persists itself, the state machine at
//! the index it had applied (ahead of the snapshot record).
//!
//! Each incarnation numbers its forwarded reads from 0, as a runtime that
//! keeps its read counter in memory does.

use crate::command::Command;
use crate::kv_model::KvState;
use crate::seeding;
use quorate_core::{
    Config, Entry, EntryKind, HardState, Index, LogStore, MemStore, Message, NodeId, PlantedBug,
    RawNode, Ready, SnapshotMeta,
};

/// What a crash leaves behind.
#[derive(Clone, Debug)]
pub struct Durable {
    pub store: MemStore,
    pub hard_state: HardState,
    /// The newest snapshot's state-machine image, matching the store's
    /// snapshot metadata.
    pub snapshot_data: KvState,
    /// A self-persisting state machine and the index it had applied.
    pub state_machine: Option<(KvState, Index)>,
}

/// Where a crash interrupts the installation of a received snapshot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InstallCrash {
    /// The image reached disk but the log does not record it yet.
    ImageWritten,
    /// The log records the snapshot; the Ready's entries and hard state
    /// are not yet written.
    SnapshotRecorded,
}

/// How a node's core is seeded and what it is planted with, for every
/// incarnation.
#[derive(Clone, Copy, Debug)]
pub struct Seeding {
    pub run_seed: u64,
    pub bug: Option<PlantedBug>,
    /// The state machine persists itself (restarts ahead of the snapshot).
    pub sm_persists: bool,
}

/// A committed entry applied on this node, for the global safety checks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AppliedEntry {
    pub index: Index,
    pub term: quorate_core::Term,
    /// The command's history record, or `None` for a no-op/config entry.
    pub op_index: Option<u64>,
}

/// The result of finishing a persisted Ready: what to send and what was
/// applied and read.
pub struct Persisted {
    pub messages: Vec<Message>,
    pub applied: Vec<(AppliedEntry, Option<crate::history::Output>)>,
    pub read_states: Vec<quorate_core::ReadState>,
    pub dropped_reads: Vec<u64>,
}

pub struct SimNode {
    pub id: NodeId,
    pub config: Config,
    /// `None` while crashed.
    pub raw: Option<RawNode<MemStore>>,
    /// Durable state while crashed (the live store sits inside `raw`).
    pub durable: Option<Durable>,
    pub hard_state: HardState,
    pub snapshot_data: KvState,
    /// The replica's state machine, rebuilt from the snapshot on restart.
    pub kv: KvState,
    /// Highest index applied to `kv`.
    pub kv_applied: Index,
    /// The Ready handed out and not yet persisted, with its fsync time.
    pub outstanding: Option<(Ready, u64)>,
    /// Snapshot images received and not yet installed, by their metadata.
    pub incoming_snapshots: Vec<(SnapshotMeta, KvState)>,
    pub incarnation: u64,
    pub seeding: Seeding,
    /// The next forwarded-read id of this incarnation.
    next_read_request: u64,
}

impl SimNode {
    pub fn new(mut config: Config, initial: SnapshotMeta, seeding: Seeding) -> Self {
        config.seed = core_seed(&seeding, config.id, 0);
        let store = MemStore::new(initial);
        let mut raw = RawNode::new(config.clone(), store, HardState::default(), Index::ZERO)
            .expect("valid config");
        plant(&mut raw, seeding.bug);
        SimNode {
            id: config.id,
            config,
            raw: Some(raw),
            durable: None,
            hard_state: HardState::default(),
            snapshot_data: KvState::new(),
            kv: KvState::new(),
            kv_applied: Index::ZERO,
            outstanding: None,
            incoming_snapshots: Vec::new(),
            incarnation: 0,
            seeding,
            next_read_request: 0,
        }
    }

    /// A fresh id for a read on this node (0, 1, 2, ... per incarnation).
    pub fn next_read_request(&mut self) -> u64 {
        let request = self.next_read_request;
        self.next_read_request += 1;
        request
    }

    pub fn is_up(&self) -> bool {
        self.raw.is_some()
    }

    /// Loses everything not durable.
    pub fn crash(&mut self) {
        let Some(raw) = self.raw.take() else { return };
        let state_machine = self
            .seeding
            .sm_persists
            .then(|| (self.kv.clone(), self.kv_applied));
        self.durable = Some(Durable {
            store: raw.into_store(),
            hard_state: self.hard_state,
            snapshot_data: self.snapshot_data.clone(),
            state_machine,
        });
        self.outstanding = None;
        self.incoming_snapshots.clear();
        self.kv = KvState::new();
        self.kv_applied = Index::ZERO;
    }

    /// Restarts from durable state with a fresh RNG stream (and the planted
    /// bug, if any, switched on again).
    pub fn restart(&mut self) {
        let Some(durable) = self.durable.take() else {
            return;
        };
        self.incarnation += 1;
        self.next_read_request = 0;
        let mut config = self.config.clone();
        config.seed = core_seed(&self.seeding, self.id, self.incarnation);
        let snapshot_index = durable.store.snapshot_meta().last.index;
        (self.kv, self.kv_applied) = match durable.state_machine {
            Some((kv, applied)) if applied > snapshot_index => (kv, applied),
            _ => (durable.snapshot_data.clone(), snapshot_index),
        };
        self.snapshot_data = durable.snapshot_data;
        self.hard_state = durable.hard_state;
        let mut raw = RawNode::new(config, durable.store, durable.hard_state, self.kv_applied)
            .expect("a durable state the simulator wrote is valid");
        plant(&mut raw, self.seeding.bug);
        self.raw = Some(raw);
    }

    pub fn raw(&mut self) -> &mut RawNode<MemStore> {
        self.raw.as_mut().expect("node is up")
    }

    /// Takes a Ready if one is due and none is outstanding; returns the
    /// messages that may leave at once.
    pub fn take_ready(&mut self, fsync_done_at: u64) -> Option<(Vec<Message>, bool)> {
        if self.outstanding.is_some() {
            return None;
        }
        let raw = self.raw.as_mut()?;
        if !raw.has_ready() {
            return None;
        }
        let mut ready = raw.ready();
        let immediate = std::mem::take(&mut ready.messages);
        let must_sync = ready.must_sync;
        self.outstanding = Some((ready, fsync_done_at));
        Some((immediate, must_sync))
    }

    /// True when the outstanding Ready installs a snapshot.
    pub fn installs_snapshot(&self) -> bool {
        self.outstanding
            .as_ref()
            .is_some_and(|(ready, _)| ready.snapshot.is_some())
    }

    /// A crash in the middle of installing the outstanding Ready's snapshot:
    /// only what reached disk before `point` survives.
    pub fn crash_installing_snapshot(&mut self, point: InstallCrash) {
        if point == InstallCrash::SnapshotRecorded {
            let (ready, _) = self.outstanding.as_ref().expect("a Ready is outstanding");
            let meta = ready
                .snapshot
                .clone()
                .expect("the Ready installs a snapshot");
            let image = self.take_incoming_image(&meta);
            self.raw().store_mut().apply_snapshot(meta);
            self.snapshot_data = image;
        }
        self.crash();
    }

    fn take_incoming_image(&mut self, meta: &SnapshotMeta) -> KvState {
        let position = self
            .incoming_snapshots
            .iter()
            .position(|(incoming, _)| incoming == meta);
        let position =
            position.unwrap_or_else(|| panic!("snapshot {meta:?} installed without its data"));
        let (_, image) = self.incoming_snapshots.swap_remove(position);
        self.incoming_snapshots
            .retain(|(other, _)| other.last.index > meta.last.index);
        image
    }

    /// The simulated fsync of the outstanding Ready completed: make it
    /// durable, apply committed entries, and advance.
    pub fn finish_persist(&mut self) -> Persisted {
        let (mut ready, _) = self.outstanding.take().expect("a Ready is outstanding");
        if let Some(meta) = &ready.snapshot {
            let image = self.take_incoming_image(meta);
            let raw = self.raw.as_mut().expect("node is up");
            raw.store_mut().apply_snapshot(meta.clone());
            self.snapshot_data = image.clone();
            self.kv = image;
            self.kv_applied = meta.last.index;
        }
        let raw = self.raw.as_mut().expect("node is up");
        raw.store_mut().append(&ready.entries);
        if let Some(hs) = ready.hard_state {
            self.hard_state = hs;
        }
        let messages = std::mem::take(&mut ready.persisted_messages);
        let applied = self.apply(&ready.committed_entries);
        let read_states = std::mem::take(&mut ready.read_states);
        let dropped_reads = std::mem::take(&mut ready.dropped_reads);
        self.raw.as_mut().expect("node is up").advance(ready);
        Persisted {
            messages,
            applied,
            read_states,
            dropped_reads,
        }
    }

    fn apply(&mut self, entries: &[Entry]) -> Vec<(AppliedEntry, Option<crate::history::Output>)> {
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            assert_eq!(
                entry.index,
                self.kv_applied.next(),
                "{} applies out of order",
                self.id
            );
            self.kv_applied = entry.index;
            let mut op_index = None;
            let mut output = None;
            if entry.kind == EntryKind::Normal && !entry.data.is_empty() {
                let command = Command::decode(&entry.data);
                output = Some(command.apply(&mut self.kv));
                op_index = Some(command.op_index);
            }
            let applied = AppliedEntry {
                index: entry.index,
                term: entry.term,
                op_index,
            };
            out.push((applied, output));
        }
        out
    }

    /// Takes a snapshot at the applied index and compacts the log when more
    /// than `threshold` entries are held. The snapshot's image and its
    /// record are written together before the log is compacted.
    pub fn maybe_compact(&mut self, threshold: u64) -> bool {
        let kv_applied = self.kv_applied;
        let Some(raw) = self.raw.as_mut() else {
            return false;
        };
        let first = raw.store().snapshot_meta().last.index;
        if first.distance_to(kv_applied) <= threshold {
            return false;
        }
        let Ok(meta) = raw.compact(kv_applied) else {
            return false;
        };
        raw.store_mut().compact(meta);
        self.snapshot_data = self.kv.clone();
        true
    }
}

/// The core seed of `id`'s `incarnation`: its own stream, unless the run
/// plants the lockstep seeding mistake.
fn core_seed(seeding: &Seeding, id: NodeId, incarnation: u64) -> u64 {
    if seeding.bug == Some(PlantedBug::LockstepJitter) {
        seeding::lockstep_seed(seeding.run_seed)
    } else {
        seeding::node_seed(seeding.run_seed, id, 0, incarnation)
    }
}

/// Switches on the planted bug in a freshly started core; the simulator
/// itself plants `lockstep-jitter` (see [`core_seed`]).
fn plant(raw: &mut RawNode<MemStore>, bug: Option<PlantedBug>) {
    if let Some(bug) = bug.filter(|&b| b != PlantedBug::LockstepJitter) {
        raw.plant_bug(bug);
    }
}
