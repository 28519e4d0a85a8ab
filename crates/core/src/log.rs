//! The Raft log as the protocol sees it: durable entries in the `LogStore`
//! plus an in-memory tail not yet persisted (`unstable`), with the commit
//! and applied positions.
//!
//! Invariant: applied_index <= commit_index <= last_index().

use crate::error::StorageError;
use crate::membership::SnapshotMeta;
use crate::storage::LogStore;
use crate::types::{Entry, EntryId, Index, Term};

/// Entries and a snapshot accepted but not yet reported persisted. Entries
/// here shadow the store from `offset` on.
#[derive(Debug)]
struct Unstable {
    snapshot: Option<SnapshotMeta>,
    /// Index of `entries[0]`.
    offset: Index,
    entries: Vec<Entry>,
}

pub(crate) struct RaftLog<S> {
    store: S,
    unstable: Unstable,
    /// Highest index known committed (§5.3). Never decreases.
    commit_index: Index,
    /// Highest index handed to the application. Never decreases.
    applied_index: Index,
}

impl<S: LogStore> RaftLog<S> {
    /// Opens the log over `store`; `applied` is what the application already
    /// holds (at least the snapshot's index). Only committed entries are
    /// applied, so `applied` also proves a commit index the durable hard
    /// state may not have caught up with (it is written without an fsync).
    pub(crate) fn new(store: S, commit: Index, applied: Index) -> Self {
        let snapshot_index = store.snapshot_meta().last.index;
        let last = store.last_index();
        let commit_index = commit.max(snapshot_index).max(applied).min(last);
        let applied_index = applied.max(snapshot_index).min(commit_index);
        RaftLog {
            unstable: Unstable {
                snapshot: None,
                offset: last.next(),
                entries: Vec::new(),
            },
            store,
            commit_index,
            applied_index,
        }
    }

    pub(crate) fn store(&self) -> &S {
        &self.store
    }

    pub(crate) fn into_store(self) -> S {
        self.store
    }

    pub(crate) fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    pub(crate) fn commit_index(&self) -> Index {
        self.commit_index
    }

    pub(crate) fn applied_index(&self) -> Index {
        self.applied_index
    }

    /// The snapshot the log currently starts from (pending install first).
    pub(crate) fn snapshot_meta(&self) -> SnapshotMeta {
        match &self.unstable.snapshot {
            Some(meta) => meta.clone(),
            None => self.store.snapshot_meta(),
        }
    }

    pub(crate) fn first_index(&self) -> Index {
        match &self.unstable.snapshot {
            Some(meta) => meta.last.index.next(),
            None => self.store.first_index(),
        }
    }

    pub(crate) fn last_index(&self) -> Index {
        match self.unstable.entries.last() {
            Some(entry) => entry.index,
            None => match &self.unstable.snapshot {
                Some(meta) => meta.last.index,
                None => self.store.last_index(),
            },
        }
    }

    pub(crate) fn last_entry_id(&self) -> EntryId {
        let last = self.last_index();
        let term = self
            .term(last)
            .expect("the last entry's term is always known");
        EntryId::new(term, last)
    }

    /// The last index that is durable (persisted and acknowledged).
    pub(crate) fn stable_last_index(&self) -> Index {
        self.unstable.offset.prev()
    }

    pub(crate) fn term(&self, index: Index) -> Result<Term, StorageError> {
        if index >= self.unstable.offset {
            let k = self.unstable.offset.distance_to(index) as usize;
            return match self.unstable.entries.get(k) {
                Some(entry) => Ok(entry.term),
                None => Err(StorageError::Unavailable { index }),
            };
        }
        if let Some(meta) = &self.unstable.snapshot {
            if index == meta.last.index {
                return Ok(meta.last.term);
            }
            return Err(StorageError::Compacted { index });
        }
        self.store.term(index)
    }

    /// True if the log holds `id` (§5.3's consistency check).
    pub(crate) fn matches(&self, id: EntryId) -> bool {
        self.term(id.index).ok() == Some(id.term)
    }

    /// §5.4.1: a candidate's log is at least as up to date as ours.
    pub(crate) fn is_up_to_date(&self, candidate_last: EntryId) -> bool {
        let ours = self.last_entry_id();
        (candidate_last.term, candidate_last.index) >= (ours.term, ours.index)
    }

    /// Entries in `lo..=last_index()`, stopping after `max_bytes`.
    pub(crate) fn entries_from(
        &self,
        lo: Index,
        max_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        self.slice(lo, self.last_index().next(), max_bytes)
    }

    /// Entries in `lo..hi` (always at least one when the range is not empty).
    pub(crate) fn slice(
        &self,
        lo: Index,
        hi: Index,
        max_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        if lo >= hi {
            return Ok(Vec::new());
        }
        if lo < self.first_index() {
            return Err(StorageError::Compacted { index: lo });
        }
        let mut out = if lo < self.unstable.offset {
            let store_hi = hi.min(self.unstable.offset);
            self.store.entries(lo, store_hi, max_bytes)?
        } else {
            Vec::new()
        };
        let mut bytes: u64 = out.iter().map(Entry::size_bytes).sum();
        let mut index = lo.plus(out.len() as u64);
        if index < self.unstable.offset && !out.is_empty() {
            return Ok(out); // the store stopped at the byte budget
        }
        while index < hi {
            let k = self.unstable.offset.distance_to(index) as usize;
            let Some(entry) = self.unstable.entries.get(k) else {
                break;
            };
            bytes += entry.size_bytes();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(entry.clone());
            index = index.next();
        }
        Ok(out)
    }

    /// Appends entries the leader created; returns the new last index.
    pub(crate) fn append(&mut self, entries: &[Entry]) -> Index {
        let Some(first) = entries.first() else {
            return self.last_index();
        };
        assert_eq!(
            first.index,
            self.last_index().next(),
            "leader append leaves a gap"
        );
        self.unstable.entries.extend_from_slice(entries);
        self.last_index()
    }

    /// The follower side of AppendEntries (§5.3): if `prev` matches, append
    /// `entries`, truncating any conflicting suffix, and return the index of
    /// the last new entry; `None` if `prev` does not match.
    pub(crate) fn maybe_append(&mut self, prev: EntryId, entries: &[Entry]) -> Option<Index> {
        if !self.matches(prev) {
            return None;
        }
        let last_new = prev.index.plus(entries.len() as u64);
        let conflict = entries.iter().find(|e| !self.matches(e.id()));
        if let Some(conflict) = conflict {
            assert!(
                conflict.index > self.commit_index,
                "entry {} conflicts with committed log (commit {})",
                conflict.index,
                self.commit_index
            );
            let k = prev.index.distance_to(conflict.index) as usize - 1;
            self.truncate_and_append(&entries[k..]);
        }
        Some(last_new)
    }

    fn truncate_and_append(&mut self, entries: &[Entry]) {
        let first = entries[0].index;
        assert!(
            first > self.commit_index,
            "truncating committed entry {first}"
        );
        if first
            == self
                .unstable
                .offset
                .plus(self.unstable.entries.len() as u64)
        {
            self.unstable.entries.extend_from_slice(entries);
        } else if first <= self.unstable.offset {
            self.unstable.offset = first;
            self.unstable.entries.clear();
            self.unstable.entries.extend_from_slice(entries);
        } else {
            let keep = self.unstable.offset.distance_to(first) as usize;
            self.unstable.entries.truncate(keep);
            self.unstable.entries.extend_from_slice(entries);
        }
    }

    /// The follower's fast-backtracking hint: the last index at or below
    /// `index` whose term is at most `term`, with that term.
    pub(crate) fn find_conflict_by_term(&self, index: Index, term: Term) -> EntryId {
        let mut at = index.min(self.last_index());
        loop {
            match self.term(at) {
                Ok(t) if t <= term => return EntryId::new(t, at),
                Ok(_) if at > Index::ZERO => at = at.prev(),
                _ => return EntryId::new(Term::ZERO, at),
            }
        }
    }

    /// Advances the commit index. Callers guarantee the entries exist.
    pub(crate) fn commit_to(&mut self, index: Index) {
        if index <= self.commit_index {
            return;
        }
        assert!(
            index <= self.last_index(),
            "commit past log end: {} > {}",
            index,
            self.last_index()
        );
        self.commit_index = index;
    }

    /// Committed entries not yet handed to the application that are durable
    /// locally, up to `max_bytes`.
    pub(crate) fn next_committed_entries(&self, max_bytes: u64) -> Vec<Entry> {
        let hi = self.commit_index.min(self.stable_last_index());
        if hi <= self.applied_index || self.unstable.snapshot.is_some() {
            return Vec::new();
        }
        self.slice(self.applied_index.next(), hi.next(), max_bytes)
            .expect("committed, durable entries are readable")
    }

    pub(crate) fn has_next_committed_entries(&self) -> bool {
        let hi = self.commit_index.min(self.stable_last_index());
        hi > self.applied_index && self.unstable.snapshot.is_none()
    }

    pub(crate) fn applied_to(&mut self, index: Index) {
        assert!(
            index >= self.applied_index,
            "applied regressed: {} -> {index}",
            self.applied_index
        );
        assert!(
            index <= self.commit_index,
            "applied {index} past commit {}",
            self.commit_index
        );
        self.applied_index = index;
    }

    pub(crate) fn unstable_entries(&self) -> &[Entry] {
        &self.unstable.entries
    }

    pub(crate) fn unstable_snapshot(&self) -> Option<&SnapshotMeta> {
        self.unstable.snapshot.as_ref()
    }

    /// The runtime persisted `entries` (as handed out in a `Ready`): drop
    /// the prefix of the unstable tail that still matches them.
    pub(crate) fn stable_entries(&mut self, persisted: &[Entry]) {
        let mut stable = 0usize;
        for entry in persisted {
            if entry.index < self.unstable.offset {
                continue;
            }
            let k = self.unstable.offset.distance_to(entry.index) as usize;
            if k != stable || self.unstable.entries.get(k).map(Entry::id) != Some(entry.id()) {
                break;
            }
            stable += 1;
        }
        self.unstable.entries.drain(..stable);
        self.unstable.offset = self.unstable.offset.plus(stable as u64);
    }

    /// The runtime installed the pending snapshot `meta`.
    pub(crate) fn stable_snapshot(&mut self, meta: &SnapshotMeta) {
        if self.unstable.snapshot.as_ref() == Some(meta) {
            self.unstable.snapshot = None;
        }
    }

    /// Replaces the log with `meta` (§7): everything up to it is committed.
    pub(crate) fn restore(&mut self, meta: SnapshotMeta) {
        assert!(
            meta.last.index >= self.commit_index,
            "snapshot behind commit"
        );
        self.commit_index = meta.last.index;
        self.applied_index = meta.last.index;
        self.unstable.offset = meta.last.index.next();
        self.unstable.entries.clear();
        self.unstable.snapshot = Some(meta);
    }
}
