//! Shared test helpers: an in-memory model of the log, random workloads
//! interpreted against it, and a comparison of a `Wal` with the model.
#![allow(dead_code)]

use bytes::Bytes;
use quorate_core::{
    ConfState, Entry, EntryId, EntryKind, GroupId, HardState, Index, LogStore, NodeId,
    SnapshotMeta, Term,
};
use quorate_wal::{Wal, WalBatch, WalOptions};
use std::collections::BTreeMap;

/// One group as the model sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelGroup {
    pub snapshot: SnapshotMeta,
    pub entries: Vec<Entry>,
    pub hard_state: HardState,
}

impl ModelGroup {
    pub fn last_index(&self) -> Index {
        self.snapshot.last.index.plus(self.entries.len() as u64)
    }

    pub fn last_term(&self) -> Term {
        self.entries
            .last()
            .map_or(self.snapshot.last.term, |e| e.term)
    }

    fn keep(&self, from: Index) -> usize {
        (self.snapshot.last.index.distance_to(from) - 1) as usize
    }

    pub fn term_at(&self, index: Index) -> Term {
        if index == self.snapshot.last.index {
            return self.snapshot.last.term;
        }
        self.entries[self.keep(index)].term
    }

    pub fn is_empty(&self) -> bool {
        *self == ModelGroup::default()
    }
}

/// An operation, as both the model and a `WalBatch` understand it.
#[derive(Clone, Debug)]
pub enum Op {
    Append(GroupId, Vec<Entry>),
    HardState(GroupId, HardState),
    Truncate(GroupId, Index),
    Compact(GroupId, SnapshotMeta),
    Install(GroupId, SnapshotMeta),
}

/// The expected state of every group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub groups: BTreeMap<GroupId, ModelGroup>,
}

impl Model {
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(g, entries) => {
                let group = self.groups.entry(*g).or_default();
                let keep = group.keep(entries[0].index);
                group.entries.truncate(keep);
                group.entries.extend_from_slice(entries);
            }
            Op::HardState(g, hs) => self.groups.entry(*g).or_default().hard_state = *hs,
            Op::Truncate(g, from) => {
                let group = self.groups.entry(*g).or_default();
                let keep = group.keep(*from);
                group.entries.truncate(keep);
            }
            Op::Compact(g, meta) => {
                let group = self.groups.entry(*g).or_default();
                if meta.last.index > group.snapshot.last.index {
                    let drop = group.snapshot.last.index.distance_to(meta.last.index) as usize;
                    group.entries.drain(..drop);
                    group.snapshot = meta.clone();
                }
            }
            Op::Install(g, meta) => {
                let group = self.groups.entry(*g).or_default();
                group.entries.clear();
                group.snapshot = meta.clone();
            }
        }
    }

    pub fn group(&self, g: GroupId) -> ModelGroup {
        self.groups.get(&g).cloned().unwrap_or_default()
    }

    /// Drops groups with nothing recorded, as the WAL does.
    pub fn normalized(&self) -> Model {
        let groups = self
            .groups
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(g, m)| (*g, m.clone()))
            .collect();
        Model { groups }
    }
}

pub fn to_batch(ops: &[Op]) -> WalBatch {
    let mut batch = WalBatch::new();
    for op in ops {
        match op {
            Op::Append(g, entries) => batch.append(*g, entries),
            Op::HardState(g, hs) => batch.hard_state(*g, *hs),
            Op::Truncate(g, from) => batch.truncate_suffix(*g, *from),
            Op::Compact(g, meta) => batch.compact(*g, meta.clone()),
            Op::Install(g, meta) => batch.install_snapshot(*g, meta.clone()),
        };
    }
    batch
}

/// Deterministic payload of an entry, so any returned payload can be checked.
pub fn payload(group: GroupId, index: Index, term: Term, len: usize) -> Bytes {
    let mut x = group.get()
        ^ index.get().rotate_left(20)
        ^ term.get().rotate_left(40)
        ^ 0x5DEE_CE66_D1CE_4E5B;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

pub fn entry(group: GroupId, index: u64, term: u64, len: usize) -> Entry {
    let (index, term) = (Index::new(index), Term::new(term));
    let kind = if index.get() % 17 == 0 {
        EntryKind::ConfChange
    } else {
        EntryKind::Normal
    };
    Entry {
        term,
        index,
        kind,
        data: payload(group, index, term, len),
    }
}

pub fn meta(index: Index, term: Term) -> SnapshotMeta {
    SnapshotMeta {
        last: EntryId::new(term, index),
        conf_state: ConfState::with_voters([NodeId::new(1), NodeId::new(2), NodeId::new(3)]),
    }
}

pub fn options(segment_bytes: u64) -> WalOptions {
    let mut options = WalOptions::new(NodeId::new(1), 42);
    options.segment_bytes = segment_bytes;
    options.cache_bytes_per_group_max = 2048;
    options
}

/// Reads every group back from the WAL as a model.
pub fn read_back(wal: &Wal) -> Model {
    let mut model = Model::default();
    for g in wal.groups() {
        let log = wal.group_log(g);
        let first = log.first_index();
        let last = log.last_index();
        let mut entries = Vec::new();
        let mut lo = first;
        while lo <= last {
            let chunk = log
                .entries(lo, last.next(), 4096)
                .expect("entries readable");
            assert!(
                !chunk.is_empty(),
                "entries returned nothing for a non-empty range"
            );
            lo = lo.plus(chunk.len() as u64);
            entries.extend(chunk);
        }
        for e in &entries {
            assert_eq!(
                log.term(e.index),
                Ok(e.term),
                "term() disagrees with entries()"
            );
        }
        let group = ModelGroup {
            snapshot: log.snapshot_meta(),
            entries,
            hard_state: log.hard_state(),
        };
        model.groups.insert(g, group);
    }
    model
}

/// Asserts the WAL holds exactly the model.
pub fn assert_matches(wal: &Wal, model: &Model) {
    let actual = read_back(wal);
    let expected = model.normalized();
    for (g, want) in &expected.groups {
        let got = actual.groups.get(g).cloned().unwrap_or_default();
        assert_eq!(got.snapshot, want.snapshot, "{g}: snapshot");
        assert_eq!(got.hard_state, want.hard_state, "{g}: hard state");
        assert_eq!(got.entries.len(), want.entries.len(), "{g}: entry count");
        assert_eq!(got.entries, want.entries, "{g}: entries");
    }
    assert_eq!(
        actual.groups.len(),
        expected.groups.len(),
        "group sets differ"
    );
}

/// A tiny deterministic generator for workloads.
pub struct SeqRng(pub u64);

impl SeqRng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// Turns a random choice into a valid operation against `model`.
pub fn random_op(rng: &mut SeqRng, model: &Model, groups: u64, payload_max: usize) -> Op {
    let g = GroupId::new(1 + rng.below(groups));
    let m = model.group(g);
    let last = m.last_index();
    let first = m.snapshot.last.index.next();
    match rng.below(20) {
        0..=11 => {
            // Append, sometimes overwriting a suffix above commit with a higher term.
            let overwrite =
                rng.below(4) == 0 && last > m.hard_state.commit_index.max(m.snapshot.last.index);
            let low = m.hard_state.commit_index.max(m.snapshot.last.index).next();
            let start = if overwrite {
                low.plus(rng.below(low.distance_to(last) + 1))
            } else {
                last.next()
            };
            let term = if overwrite {
                m.last_term().get() + 1
            } else {
                m.last_term().get().max(1)
            };
            let count = 1 + rng.below(5);
            let len = rng.below(payload_max as u64 + 1) as usize;
            let entries = (0..count)
                .map(|k| entry(g, start.get() + k, term, len))
                .collect();
            Op::Append(g, entries)
        }
        12..=14 => {
            let term = m.hard_state.current_term.get().max(m.last_term().get()) + rng.below(2);
            let commit = m
                .hard_state
                .commit_index
                .plus(rng.below(m.hard_state.commit_index.distance_to(last) + 1));
            let voted_for = if term == m.hard_state.current_term.get() {
                m.hard_state.voted_for
            } else {
                NodeId::new(1 + rng.below(3))
            };
            Op::HardState(
                g,
                HardState {
                    current_term: Term::new(term),
                    voted_for,
                    commit_index: commit,
                },
            )
        }
        15..=16 if last > m.hard_state.commit_index.max(m.snapshot.last.index) => {
            let low = m.hard_state.commit_index.max(m.snapshot.last.index).next();
            Op::Truncate(g, low.plus(rng.below(low.distance_to(last) + 1)))
        }
        17..=18 if last >= first => {
            let index = first.plus(rng.below(first.distance_to(last) + 1));
            Op::Compact(g, meta(index, m.term_at(index)))
        }
        19 => {
            let index = last.plus(rng.below(10));
            let term = Term::new(m.last_term().get().max(1) + 1);
            Op::Install(g, meta(index, term))
        }
        _ => Op::HardState(g, m.hard_state),
    }
}
