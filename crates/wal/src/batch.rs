//! [`WalBatch`]: what one driver step asks the WAL to make durable, and the
//! checks that keep a wrongly built batch off the disk.

use crate::error::BatchError;
use crate::format::FRAME_HEADER_LEN;
use crate::record::{
    entries_fitting, entries_record_len, meta_record_len_max, SnapshotFileRef, SnapshotRecord,
    SNAPSHOT_NAME_BYTES_MAX,
};
use crate::snapshot::SnapshotFile;
use quorate_core::{Entry, GroupId, HardState, Index, SnapshotMeta};
use std::collections::HashMap;

/// One operation of a batch, applied in the order added.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Append {
        group: GroupId,
        entries: Vec<Entry>,
    },
    HardState {
        group: GroupId,
        hard_state: HardState,
    },
    Truncate {
        group: GroupId,
        from: Index,
    },
    Snapshot {
        install: bool,
        group: GroupId,
        snapshot: SnapshotRecord,
    },
}

/// Entries, hard states, truncations and snapshot records of any number of
/// groups, written with one write and one `fdatasync` together with every
/// other batch queued at the same time (group commit).
#[derive(Clone, Debug, Default)]
pub struct WalBatch {
    pub(crate) ops: Vec<Op>,
    encoded_bytes: u64,
}

impl WalBatch {
    pub fn new() -> Self {
        WalBatch::default()
    }

    /// Appends `entries` (contiguous, ascending) to `group`, first removing
    /// any entries at or after `entries[0].index` — the semantics of
    /// `quorate_core::MemStore::append`. An empty slice does nothing.
    pub fn append(&mut self, group: GroupId, entries: &[Entry]) -> &mut Self {
        if entries.is_empty() {
            return self;
        }
        self.encoded_bytes += entries_record_len(entries) as u64;
        self.ops.push(Op::Append {
            group,
            entries: entries.to_vec(),
        });
        self
    }

    /// Appends the longest prefix of `entries` that keeps this batch within
    /// `bytes_max` encoded bytes (at least one entry into an empty batch);
    /// returns how many were taken. Lets a writer split a long run of
    /// entries over several batches, each within the WAL's batch limit.
    pub fn append_within(&mut self, group: GroupId, entries: &[Entry], bytes_max: u64) -> usize {
        let room = bytes_max.saturating_sub(self.encoded_bytes);
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        let mut count = entries_fitting(entries, room);
        if count == 0 && self.ops.is_empty() {
            count = entries.len().min(1);
        }
        self.append(group, &entries[..count]);
        count
    }

    /// Adds every operation of `other` after this batch's.
    pub fn extend(&mut self, other: WalBatch) {
        self.encoded_bytes += other.encoded_bytes;
        self.ops.extend(other.ops);
    }

    /// Records `group`'s hard state (Figure 2: current_term, voted_for) and
    /// commit index.
    pub fn hard_state(&mut self, group: GroupId, hard_state: HardState) -> &mut Self {
        self.encoded_bytes += meta_record_len_max(None) as u64;
        self.ops.push(Op::HardState { group, hard_state });
        self
    }

    /// Removes `group`'s entries at and after `from` (a conflicting suffix,
    /// §5.3). Refused when it would remove a committed entry.
    pub fn truncate_suffix(&mut self, group: GroupId, from: Index) -> &mut Self {
        self.encoded_bytes += meta_record_len_max(None) as u64;
        self.ops.push(Op::Truncate { group, from });
        self
    }

    /// Drops `group`'s entries up to `meta.last.index`, which becomes the
    /// snapshot the log starts after (§7). An older snapshot does nothing.
    pub fn compact(&mut self, group: GroupId, meta: SnapshotMeta) -> &mut Self {
        self.push_snapshot(false, group, SnapshotRecord { meta, file: None })
    }

    /// Resets `group`'s log to start right after `meta` (a snapshot received
    /// from the leader was installed).
    pub fn install_snapshot(&mut self, group: GroupId, meta: SnapshotMeta) -> &mut Self {
        self.push_snapshot(true, group, SnapshotRecord { meta, file: None })
    }

    /// Like [`WalBatch::install_snapshot`], also recording which snapshot file
    /// holds the data and its checksum.
    pub fn install_snapshot_file(&mut self, group: GroupId, file: &SnapshotFile) -> &mut Self {
        let file_ref = SnapshotFileRef {
            name: file.name.clone(),
            checksum: file.checksum,
        };
        self.push_snapshot(
            true,
            group,
            SnapshotRecord {
                meta: file.meta.clone(),
                file: Some(file_ref),
            },
        )
    }

    fn push_snapshot(
        &mut self,
        install: bool,
        group: GroupId,
        snapshot: SnapshotRecord,
    ) -> &mut Self {
        self.encoded_bytes += meta_record_len_max(Some(&snapshot)) as u64;
        self.ops.push(Op::Snapshot {
            install,
            group,
            snapshot,
        });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes this batch adds to a frame (an upper bound).
    pub fn encoded_bytes(&self) -> u64 {
        self.encoded_bytes + FRAME_HEADER_LEN as u64
    }

    /// Empties the batch, keeping its allocation.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.encoded_bytes = 0;
    }
}

/// The log bounds and hard state of one group as they will be once every
/// submitted batch is durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupView {
    pub snapshot_index: Index,
    pub last_index: Index,
    pub hard_state: HardState,
}

/// Checks `batch` against `views` and, when it passes, advances them. A
/// refused batch leaves `views` unchanged.
pub(crate) fn validate(
    views: &mut HashMap<GroupId, GroupView>,
    batch: &WalBatch,
) -> Result<(), BatchError> {
    let mut overlay: HashMap<GroupId, GroupView> = HashMap::new();
    for op in &batch.ops {
        let group = match op {
            Op::Append { group, .. } | Op::HardState { group, .. } | Op::Truncate { group, .. } => {
                *group
            }
            Op::Snapshot { group, .. } => *group,
        };
        let view = overlay
            .entry(group)
            .or_insert_with(|| views.get(&group).copied().unwrap_or_default());
        check_op(view, group, op)?;
    }
    views.extend(overlay);
    Ok(())
}

fn check_op(view: &mut GroupView, group: GroupId, op: &Op) -> Result<(), BatchError> {
    match op {
        Op::Append { entries, .. } => check_append(view, group, entries),
        Op::HardState { hard_state, .. } => check_hard_state(view, group, *hard_state),
        Op::Truncate { from, .. } => check_truncate(view, group, *from),
        Op::Snapshot {
            install, snapshot, ..
        } => check_snapshot(view, group, *install, snapshot),
    }
}

fn check_append(view: &mut GroupView, group: GroupId, entries: &[Entry]) -> Result<(), BatchError> {
    let first = entries[0].index;
    if first <= view.snapshot_index {
        let snapshot = view.snapshot_index;
        return Err(BatchError::BelowSnapshot {
            group,
            index: first,
            snapshot,
        });
    }
    if first > view.last_index.next() {
        return Err(BatchError::Gap {
            group,
            first,
            last: view.last_index,
        });
    }
    for pair in entries.windows(2) {
        let index = pair[1].index;
        if index != pair[0].index.next() {
            return Err(BatchError::NotContiguous { group, index });
        }
        if pair[1].term < pair[0].term {
            return Err(BatchError::TermRegressed {
                group,
                index,
                term: pair[1].term,
            });
        }
    }
    view.last_index = entries[entries.len() - 1].index;
    Ok(())
}

/// Term and commit_index never go back, and a vote once cast in a term
/// never changes (Figure 2; two votes in one term could elect two leaders).
fn check_hard_state(
    view: &mut GroupView,
    group: GroupId,
    hard_state: HardState,
) -> Result<(), BatchError> {
    let old = view.hard_state;
    let same_term = hard_state.current_term == old.current_term;
    let vote_changed =
        same_term && !old.voted_for.is_none() && hard_state.voted_for != old.voted_for;
    if hard_state.current_term < old.current_term
        || hard_state.commit_index < old.commit_index
        || vote_changed
    {
        return Err(BatchError::HardStateRegressed { group });
    }
    view.hard_state = hard_state;
    Ok(())
}

/// A committed entry is never removed (§5.4: leader completeness).
fn check_truncate(view: &mut GroupView, group: GroupId, from: Index) -> Result<(), BatchError> {
    if from <= view.snapshot_index {
        let snapshot = view.snapshot_index;
        return Err(BatchError::BelowSnapshot {
            group,
            index: from,
            snapshot,
        });
    }
    if from > view.last_index.next() {
        return Err(BatchError::PastEnd {
            group,
            index: from,
            last: view.last_index,
        });
    }
    if from <= view.hard_state.commit_index {
        let commit_index = view.hard_state.commit_index;
        return Err(BatchError::TruncateCommitted {
            group,
            from,
            commit_index,
        });
    }
    view.last_index = from.prev();
    Ok(())
}

fn check_snapshot(
    view: &mut GroupView,
    group: GroupId,
    install: bool,
    snapshot: &SnapshotRecord,
) -> Result<(), BatchError> {
    if snapshot
        .file
        .as_ref()
        .is_some_and(|f| f.name.len() > SNAPSHOT_NAME_BYTES_MAX)
    {
        return Err(BatchError::SnapshotNameTooLong {
            limit: SNAPSHOT_NAME_BYTES_MAX,
        });
    }
    let index = snapshot.meta.last.index;
    if install {
        view.snapshot_index = index;
        view.last_index = index;
    } else if index > view.snapshot_index {
        if index > view.last_index {
            return Err(BatchError::PastEnd {
                group,
                index,
                last: view.last_index,
            });
        }
        view.snapshot_index = index;
    }
    Ok(())
}
