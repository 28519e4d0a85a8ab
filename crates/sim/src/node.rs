//! One simulated server: a `RawNode` over an in-memory store that models
//! durability, and the replicated KV state machine above it.
//!
//! Durability model: nothing a `Ready` asks to persist reaches the store
//! until its simulated fsync completes; a crash before that loses it. The
//! store, the hard state and the newest snapshot are what survive a crash.

use crate::command::Command;
use crate::kv_model::KvState;
use quorate_core::{
    Config, Entry, EntryKind, HardState, Index, LogStore, MemStore, Message, NodeId, RawNode,
    Ready, SnapshotMeta,
};

/// What a crash leaves behind.
#[derive(Clone, Debug)]
pub struct Durable {
    pub store: MemStore,
    pub hard_state: HardState,
    /// The newest snapshot's state-machine image, matching the store's
    /// snapshot metadata.
    pub snapshot_data: KvState,
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
}

impl SimNode {
    pub fn new(config: Config, initial: SnapshotMeta) -> Self {
        let store = MemStore::new(initial);
        let raw = RawNode::new(config.clone(), store, HardState::default(), Index::ZERO)
            .expect("valid config");
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
        }
    }

    pub fn is_up(&self) -> bool {
        self.raw.is_some()
    }

    /// Loses everything not durable.
    pub fn crash(&mut self) {
        let Some(raw) = self.raw.take() else { return };
        self.durable = Some(Durable {
            store: raw.into_store(),
            hard_state: self.hard_state,
            snapshot_data: self.snapshot_data.clone(),
        });
        self.outstanding = None;
        self.incoming_snapshots.clear();
        self.kv = KvState::new();
        self.kv_applied = Index::ZERO;
    }

    /// Restarts from durable state with a fresh RNG stream.
    pub fn restart(&mut self) {
        let Some(durable) = self.durable.take() else {
            return;
        };
        self.incarnation += 1;
        let mut config = self.config.clone();
        config.seed = config
            .seed
            .wrapping_add(self.incarnation.wrapping_mul(0x9e37_79b9));
        let applied = durable.store.snapshot_meta().last.index;
        self.kv = durable.snapshot_data.clone();
        self.kv_applied = applied;
        self.snapshot_data = durable.snapshot_data;
        self.hard_state = durable.hard_state;
        let raw =
            RawNode::new(config, durable.store, durable.hard_state, applied).expect("valid config");
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

    /// The simulated fsync of the outstanding Ready completed: make it
    /// durable, apply committed entries, and advance.
    pub fn finish_persist(&mut self) -> Persisted {
        let (mut ready, _) = self.outstanding.take().expect("a Ready is outstanding");
        let raw = self.raw.as_mut().expect("node is up");
        if let Some(meta) = &ready.snapshot {
            let position = self
                .incoming_snapshots
                .iter()
                .position(|(incoming, _)| incoming == meta);
            let position =
                position.unwrap_or_else(|| panic!("snapshot {meta:?} installed without its data"));
            let (_, image) = self.incoming_snapshots.swap_remove(position);
            self.incoming_snapshots
                .retain(|(other, _)| other.last.index > meta.last.index);
            raw.store_mut().apply_snapshot(meta.clone());
            self.snapshot_data = image.clone();
            self.kv = image;
            self.kv_applied = meta.last.index;
        }
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
    /// than `threshold` entries are held.
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
