//! The crash harness's workload, shared by the child (which writes it) and
//! the parent test (which replays it into a model): operations as text
//! lines, deterministic payloads, and a model of every group's log.
// Each of the two users needs a different subset of these helpers.
#![allow(dead_code)]

use bytes::Bytes;
use quorate_core::{
    ConfState, Entry, EntryId, EntryKind, GroupId, HardState, Index, NodeId, SnapshotMeta, Term,
};
use quorate_wal::WalBatch;
use std::collections::BTreeMap;

/// One operation of a batch, printable as one token group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Append {
        group: u64,
        first: u64,
        count: u64,
        term: u64,
        len: u64,
    },
    HardState {
        group: u64,
        term: u64,
        vote: u64,
        commit: u64,
    },
    Truncate {
        group: u64,
        from: u64,
    },
    Compact {
        group: u64,
        index: u64,
        term: u64,
    },
    Install {
        group: u64,
        index: u64,
        term: u64,
    },
}

impl Op {
    pub fn encode(&self) -> String {
        match *self {
            Op::Append {
                group,
                first,
                count,
                term,
                len,
            } => format!("a {group} {first} {count} {term} {len}"),
            Op::HardState {
                group,
                term,
                vote,
                commit,
            } => format!("h {group} {term} {vote} {commit}"),
            Op::Truncate { group, from } => format!("t {group} {from}"),
            Op::Compact { group, index, term } => format!("c {group} {index} {term}"),
            Op::Install { group, index, term } => format!("i {group} {index} {term}"),
        }
    }

    /// Parses ops separated by `;`; `None` for a malformed line.
    pub fn decode_all(text: &str) -> Option<Vec<Op>> {
        text.split(';')
            .map(|part| Op::decode(part.trim()))
            .collect()
    }

    fn decode(text: &str) -> Option<Op> {
        let mut words = text.split_whitespace();
        let tag = words.next()?;
        let n: Vec<u64> = words.map(|w| w.parse().ok()).collect::<Option<_>>()?;
        Some(match (tag, n.as_slice()) {
            ("a", &[group, first, count, term, len]) => Op::Append {
                group,
                first,
                count,
                term,
                len,
            },
            ("h", &[group, term, vote, commit]) => Op::HardState {
                group,
                term,
                vote,
                commit,
            },
            ("t", &[group, from]) => Op::Truncate { group, from },
            ("c", &[group, index, term]) => Op::Compact { group, index, term },
            ("i", &[group, index, term]) => Op::Install { group, index, term },
            _ => return None,
        })
    }

    pub fn add_to(&self, batch: &mut WalBatch) {
        match *self {
            Op::Append { group, .. } => {
                batch.append(GroupId::new(group), &self.entries());
            }
            Op::HardState {
                group,
                term,
                vote,
                commit,
            } => {
                let hs = HardState {
                    current_term: Term::new(term),
                    voted_for: NodeId::new(vote),
                    commit_index: Index::new(commit),
                };
                batch.hard_state(GroupId::new(group), hs);
            }
            Op::Truncate { group, from } => {
                batch.truncate_suffix(GroupId::new(group), Index::new(from));
            }
            Op::Compact { group, index, term } => {
                batch.compact(GroupId::new(group), snapshot_meta(index, term));
            }
            Op::Install { group, index, term } => {
                batch.install_snapshot(GroupId::new(group), snapshot_meta(index, term));
            }
        }
    }

    fn entries(&self) -> Vec<Entry> {
        let Op::Append {
            group,
            first,
            count,
            term,
            len,
        } = *self
        else {
            return Vec::new();
        };
        (first..first + count)
            .map(|index| entry(group, index, term, len))
            .collect()
    }
}

pub fn snapshot_meta(index: u64, term: u64) -> SnapshotMeta {
    SnapshotMeta {
        last: EntryId::new(Term::new(term), Index::new(index)),
        conf_state: ConfState::with_voters([NodeId::new(1), NodeId::new(2), NodeId::new(3)]),
    }
}

/// The payload of (group, index, term): any served byte can be checked.
pub fn entry(group: u64, index: u64, term: u64, len: u64) -> Entry {
    let mut x = group ^ index.rotate_left(20) ^ term.rotate_left(40) ^ 0x2545_F491_4F6C_DD1D;
    let mut data = Vec::with_capacity(len as usize);
    while (data.len() as u64) < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len as usize);
    Entry {
        term: Term::new(term),
        index: Index::new(index),
        kind: EntryKind::Normal,
        data: Bytes::from(data),
    }
}

/// One group: snapshot (index, term), entry terms and payload lengths after
/// it, hard state (term, vote, commit).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub snapshot: (u64, u64),
    pub entries: Vec<(u64, u64)>,
    pub hard_state: (u64, u64, u64),
}

impl Group {
    pub fn last_index(&self) -> u64 {
        self.snapshot.0 + self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot.1, |e| e.0)
    }

    fn term_at(&self, index: u64) -> u64 {
        if index == self.snapshot.0 {
            self.snapshot.1
        } else {
            self.entries[(index - self.snapshot.0 - 1) as usize].0
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Group::default()
    }
}

/// Every group's log.
pub type Model = BTreeMap<u64, Group>;

pub fn apply(model: &mut Model, op: &Op) {
    match *op {
        Op::Append {
            group,
            first,
            count,
            term,
            len,
        } => {
            let g = model.entry(group).or_default();
            g.entries.truncate((first - g.snapshot.0 - 1) as usize);
            g.entries.extend((0..count).map(|_| (term, len)));
        }
        Op::HardState {
            group,
            term,
            vote,
            commit,
        } => model.entry(group).or_default().hard_state = (term, vote, commit),
        Op::Truncate { group, from } => {
            let g = model.entry(group).or_default();
            g.entries.truncate((from - g.snapshot.0 - 1) as usize);
        }
        Op::Compact { group, index, term } => {
            let g = model.entry(group).or_default();
            if index > g.snapshot.0 {
                g.entries.drain(..(index - g.snapshot.0) as usize);
                g.snapshot = (index, term);
            }
        }
        Op::Install { group, index, term } => {
            let g = model.entry(group).or_default();
            g.entries.clear();
            g.snapshot = (index, term);
        }
    }
}

/// A small deterministic generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// A random operation valid against `model`.
pub fn random_op(rng: &mut Rng, model: &Model, groups: u64) -> Op {
    let group = 1 + rng.below(groups);
    let g = model.get(&group).cloned().unwrap_or_default();
    let (last, commit, snap) = (g.last_index(), g.hard_state.2, g.snapshot.0);
    let floor = commit.max(snap);
    match rng.below(24) {
        0..=15 => {
            let overwrite = rng.below(6) == 0 && last > floor;
            let first = if overwrite {
                floor + 1 + rng.below(last - floor)
            } else {
                last + 1
            };
            let term = if overwrite {
                g.last_term() + 1
            } else {
                g.last_term().max(1)
            };
            Op::Append {
                group,
                first,
                count: 1 + rng.below(8),
                term,
                len: rng.below(2048),
            }
        }
        16..=19 => {
            let term = g.hard_state.0.max(g.last_term());
            let vote = if term == g.hard_state.0 {
                g.hard_state.1
            } else {
                1
            };
            Op::HardState {
                group,
                term,
                vote,
                commit: commit + rng.below(last.saturating_sub(commit) + 1),
            }
        }
        20 if last > floor => Op::Truncate {
            group,
            from: floor + 1 + rng.below(last - floor),
        },
        21..=22 if last > snap => {
            let index = snap + 1 + rng.below(last - snap);
            Op::Compact {
                group,
                index,
                term: g.term_at(index),
            }
        }
        23 => Op::Install {
            group,
            index: last + 1 + rng.below(5),
            term: g.last_term() + 1,
        },
        _ => Op::HardState {
            group,
            term: g.hard_state.0,
            vote: g.hard_state.1,
            commit,
        },
    }
}
