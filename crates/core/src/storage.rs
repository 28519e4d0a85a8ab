//! The read side of durable log storage, as the core sees it.

use crate::error::StorageError;
use crate::membership::SnapshotMeta;
use crate::types::{Entry, Index, Term};

/// Durable entries the core may read synchronously. The runtime (or
/// `quorate-wal`) writes to it; the core only reads.
///
/// Invariants: entries are contiguous in `first_index()..=last_index()`;
/// `first_index() == snapshot_meta().last.index + 1`; `term(i)` is defined
/// for `snapshot_meta().last.index <= i <= last_index()`.
pub trait LogStore {
    /// Index of the first entry still held (one past the snapshot).
    fn first_index(&self) -> Index;
    /// Index of the last durable entry (the snapshot's index when empty).
    fn last_index(&self) -> Index;
    /// Term of the entry at `index`; `Compacted` below the snapshot.
    fn term(&self, index: Index) -> Result<Term, StorageError>;
    /// Entries in `lo..hi`, stopping once `max_bytes` is exceeded but always
    /// returning at least one entry when the range is not empty.
    fn entries(&self, lo: Index, hi: Index, max_bytes: u64) -> Result<Vec<Entry>, StorageError>;
    /// The newest durable snapshot's metadata.
    fn snapshot_meta(&self) -> SnapshotMeta;
}

/// A `Vec`-backed [`LogStore`] for tests, the simulator and examples.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    snapshot: SnapshotMeta,
    /// `entries[k]` has index `snapshot.last.index + 1 + k`.
    entries: Vec<Entry>,
}

impl MemStore {
    /// An empty log starting from `snapshot` (default: the empty prefix).
    pub fn new(snapshot: SnapshotMeta) -> Self {
        MemStore {
            snapshot,
            entries: Vec::new(),
        }
    }

    /// Appends `entries`, first truncating any suffix they overwrite.
    /// Panics if they leave a gap: the runtime must append contiguously.
    pub fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        assert!(
            first.index > self.snapshot.last.index,
            "append at {} below snapshot {}",
            first.index,
            self.snapshot.last.index
        );
        assert!(
            first.index <= self.last_index().next(),
            "append at {} leaves a gap after {}",
            first.index,
            self.last_index()
        );
        let keep = self.snapshot.last.index.distance_to(first.index) - 1;
        self.entries.truncate(keep as usize);
        self.entries.extend_from_slice(entries);
    }

    /// Replaces the whole log with a snapshot, keeping entries after it
    /// only if they match (§7: "retain log entries following it").
    pub fn apply_snapshot(&mut self, meta: SnapshotMeta) {
        let matches = self.term(meta.last.index).ok() == Some(meta.last.term);
        if matches && meta.last.index <= self.last_index() {
            let drop = self.snapshot.last.index.distance_to(meta.last.index);
            self.entries.drain(..drop as usize);
        } else {
            self.entries.clear();
        }
        self.snapshot = meta;
    }

    /// Drops entries up to and including `meta.last`, which must be held;
    /// `meta` becomes the snapshot the log starts from.
    pub fn compact(&mut self, meta: SnapshotMeta) {
        assert!(meta.last.index <= self.last_index(), "compact past log end");
        if meta.last.index <= self.snapshot.last.index {
            return;
        }
        let drop = self.snapshot.last.index.distance_to(meta.last.index);
        self.entries.drain(..drop as usize);
        self.snapshot = meta;
    }

    /// Entries currently held (after the snapshot).
    pub fn all_entries(&self) -> &[Entry] {
        &self.entries
    }

    fn offset(&self, index: Index) -> usize {
        (self.snapshot.last.index.distance_to(index) - 1) as usize
    }
}

impl LogStore for MemStore {
    fn first_index(&self) -> Index {
        self.snapshot.last.index.next()
    }

    fn last_index(&self) -> Index {
        self.snapshot.last.index.plus(self.entries.len() as u64)
    }

    fn term(&self, index: Index) -> Result<Term, StorageError> {
        if index < self.snapshot.last.index {
            return Err(StorageError::Compacted { index });
        }
        if index == self.snapshot.last.index {
            return Ok(self.snapshot.last.term);
        }
        if index > self.last_index() {
            return Err(StorageError::Unavailable { index });
        }
        Ok(self.entries[self.offset(index)].term)
    }

    fn entries(&self, lo: Index, hi: Index, max_bytes: u64) -> Result<Vec<Entry>, StorageError> {
        if lo <= self.snapshot.last.index {
            return Err(StorageError::Compacted { index: lo });
        }
        if hi > self.last_index().next() {
            return Err(StorageError::Unavailable { index: hi.prev() });
        }
        let mut out = Vec::new();
        let mut bytes = 0u64;
        let mut index = lo;
        while index < hi {
            let entry = &self.entries[self.offset(index)];
            bytes += entry.size_bytes();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(entry.clone());
            index = index.next();
        }
        Ok(out)
    }

    fn snapshot_meta(&self) -> SnapshotMeta {
        self.snapshot.clone()
    }
}
