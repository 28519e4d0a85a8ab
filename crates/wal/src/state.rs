//! The in-memory index of one group's log: where each live entry's payload
//! lives, a cache of recent payloads, hard state and snapshot metadata.
//!
//! Replay on open and the writer after each `fdatasync` change it through the
//! same methods, so what a read sees after a restart is what it saw before.

use crate::record::{EntryMeta, SnapshotRecord};
use bytes::Bytes;
use quorate_core::{EntryKind, HardState, Index, Term};
use std::collections::{BTreeMap, VecDeque};

/// Segment number of an entry whose location is not known yet: recovery
/// learned from a checkpoint that it exists, and a later relocation record or
/// compaction must resolve it. None may remain once recovery ends.
pub(crate) const PHANTOM_SEGMENT: u64 = 0;

/// One live entry.
#[derive(Clone, Debug)]
pub(crate) struct EntryLoc {
    pub term: Term,
    pub kind: EntryKind,
    /// Sequence number of the segment holding the payload.
    pub segment: u64,
    /// Offset of the payload in that segment.
    pub offset: u64,
    pub len: u32,
    /// CRC32C of the payload, checked on every read from disk.
    pub crc: u32,
    /// The payload when cached.
    pub data: Option<Bytes>,
}

impl EntryLoc {
    pub(crate) fn from_meta(meta: &EntryMeta, segment: u64, data: Option<Bytes>) -> EntryLoc {
        EntryLoc {
            term: meta.term,
            kind: meta.kind,
            segment,
            offset: meta.offset,
            len: meta.len,
            crc: meta.crc,
            data,
        }
    }

    fn phantom() -> EntryLoc {
        EntryLoc {
            term: Term::ZERO,
            kind: EntryKind::Normal,
            segment: PHANTOM_SEGMENT,
            offset: 0,
            len: 0,
            crc: 0,
            data: None,
        }
    }

    /// Bytes this entry costs while live: payload plus descriptor.
    pub(crate) fn live_bytes(&self) -> u64 {
        u64::from(self.len) + 24
    }
}

/// Live entries and bytes per segment, so the collector knows which
/// segments still matter without scanning every group.
#[derive(Clone, Debug, Default)]
pub(crate) struct SegmentUsage {
    pub by_segment: BTreeMap<u64, Usage>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub entries: u64,
    pub bytes: u64,
}

impl SegmentUsage {
    fn add(&mut self, loc: &EntryLoc) {
        if loc.segment == PHANTOM_SEGMENT {
            return;
        }
        let usage = self.by_segment.entry(loc.segment).or_default();
        usage.entries += 1;
        usage.bytes += loc.live_bytes();
    }

    fn remove(&mut self, loc: &EntryLoc) {
        if loc.segment == PHANTOM_SEGMENT {
            return;
        }
        let usage = self
            .by_segment
            .get_mut(&loc.segment)
            .expect("usage tracked for every live segment");
        assert!(usage.entries > 0, "segment usage underflow");
        usage.entries -= 1;
        usage.bytes -= loc.live_bytes();
    }

    pub(crate) fn usage(&self, segment: u64) -> Usage {
        self.by_segment.get(&segment).copied().unwrap_or_default()
    }
}

/// A group's durable state. Invariant: `entries[k]` has index
/// `snapshot.meta.last.index + 1 + k`; payloads are cached exactly for
/// `entries[cache_start..]`, and `cache_bytes` is their sum.
#[derive(Clone, Debug, Default)]
pub(crate) struct GroupState {
    pub snapshot: SnapshotRecord,
    pub hard_state: HardState,
    pub entries: VecDeque<EntryLoc>,
    cache_start: usize,
    cache_bytes: u64,
}

/// Which rule a record broke; recovery turns it into a corruption error and
/// the writer treats it as a bug (batches are validated at submit).
pub(crate) type Violation = &'static str;

impl GroupState {
    pub(crate) fn snapshot_index(&self) -> Index {
        self.snapshot.meta.last.index
    }

    pub(crate) fn last_index(&self) -> Index {
        self.snapshot_index().plus(self.entries.len() as u64)
    }

    /// True when nothing was ever recorded for this group.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.snapshot == SnapshotRecord::default()
            && self.hard_state == HardState::default()
    }

    /// The entry at `index`, if live.
    pub(crate) fn entry(&self, index: Index) -> Option<&EntryLoc> {
        if index <= self.snapshot_index() {
            return None;
        }
        let k = usize::try_from(self.snapshot_index().distance_to(index) - 1).ok()?;
        self.entries.get(k)
    }

    /// Appends entries at `first`, truncating any suffix from `first` (the
    /// semantics of `quorate_core::MemStore::append`).
    pub(crate) fn append(
        &mut self,
        first: Index,
        locs: impl IntoIterator<Item = EntryLoc>,
        usage: &mut SegmentUsage,
        cache_bytes_max: u64,
    ) -> Result<(), Violation> {
        if first <= self.snapshot_index() {
            return Err("entries start at or below the snapshot");
        }
        if first > self.last_index().next() {
            return Err("entries leave a gap");
        }
        self.truncate(first, usage)?;
        for loc in locs {
            usage.add(&loc);
            self.push(loc, cache_bytes_max);
        }
        Ok(())
    }

    fn push(&mut self, loc: EntryLoc, cache_bytes_max: u64) {
        match &loc.data {
            Some(data) => self.cache_bytes += data.len() as u64,
            None => self.drop_cache_before(self.entries.len() + 1),
        }
        self.entries.push_back(loc);
        while self.cache_bytes > cache_bytes_max && self.cache_start < self.entries.len() {
            self.drop_cache_before(self.cache_start + 1);
        }
    }

    /// Un-caches every entry before position `end`.
    fn drop_cache_before(&mut self, end: usize) {
        while self.cache_start < end {
            if let Some(loc) = self.entries.get_mut(self.cache_start) {
                if let Some(data) = loc.data.take() {
                    self.cache_bytes -= data.len() as u64;
                }
            }
            self.cache_start += 1;
        }
    }

    /// Removes entries `from..`.
    pub(crate) fn truncate(
        &mut self,
        from: Index,
        usage: &mut SegmentUsage,
    ) -> Result<(), Violation> {
        if from <= self.snapshot_index() {
            return Err("truncation reaches into the snapshot");
        }
        if from > self.last_index().next() {
            return Err("truncation starts past the end");
        }
        let keep = usize::try_from(self.snapshot_index().distance_to(from) - 1)
            .map_err(|_| "index overflow")?;
        while self.entries.len() > keep {
            let loc = self.entries.pop_back().expect("len > keep");
            usage.remove(&loc);
            if let Some(data) = &loc.data {
                self.cache_bytes -= data.len() as u64;
            }
        }
        self.cache_start = self.cache_start.min(self.entries.len());
        Ok(())
    }

    /// Drops entries up to the snapshot's index; an older snapshot is a no-op.
    pub(crate) fn compact(
        &mut self,
        snapshot: SnapshotRecord,
        usage: &mut SegmentUsage,
    ) -> Result<(), Violation> {
        let index = snapshot.meta.last.index;
        if index <= self.snapshot_index() {
            return Ok(());
        }
        if index > self.last_index() {
            return Err("compaction past the end of the log");
        }
        let drop = usize::try_from(self.snapshot_index().distance_to(index))
            .map_err(|_| "index overflow")?;
        for loc in self.entries.drain(..drop) {
            usage.remove(&loc);
            if let Some(data) = &loc.data {
                self.cache_bytes -= data.len() as u64;
            }
        }
        self.cache_start = self.cache_start.saturating_sub(drop);
        self.snapshot = snapshot;
        Ok(())
    }

    /// Resets the log to start right after the snapshot.
    pub(crate) fn install(&mut self, snapshot: SnapshotRecord, usage: &mut SegmentUsage) {
        for loc in self.entries.drain(..) {
            usage.remove(&loc);
        }
        self.cache_start = 0;
        self.cache_bytes = 0;
        self.snapshot = snapshot;
    }

    /// Points live entries `first..` at a new copy of their payloads.
    pub(crate) fn relocate(
        &mut self,
        first: Index,
        locs: impl IntoIterator<Item = EntryLoc>,
        usage: &mut SegmentUsage,
    ) -> Result<(), Violation> {
        if first <= self.snapshot_index() {
            return Err("relocated entry is below the snapshot");
        }
        let start = usize::try_from(self.snapshot_index().distance_to(first) - 1)
            .map_err(|_| "index overflow")?;
        for (k, new) in (start..).zip(locs) {
            let old = self
                .entries
                .get_mut(k)
                .ok_or("relocated entry is past the end")?;
            if old.segment != PHANTOM_SEGMENT && (old.term != new.term || old.crc != new.crc) {
                return Err("relocated entry differs from the live one");
            }
            usage.remove(old);
            usage.add(&new);
            let data = old.data.take();
            *old = EntryLoc { data, ..new };
        }
        Ok(())
    }

    /// Starts the group from a checkpoint: entries up to `last_index` exist
    /// but their locations are unknown until relocated or compacted away.
    pub(crate) fn start_from_checkpoint(
        &mut self,
        snapshot: SnapshotRecord,
        last_index: Index,
        hard_state: HardState,
    ) {
        assert!(self.is_empty(), "checkpoint start on a non-empty group");
        let count = snapshot.meta.last.index.distance_to(last_index);
        self.snapshot = snapshot;
        self.hard_state = hard_state;
        for _ in 0..count {
            self.entries.push_back(EntryLoc::phantom());
        }
        self.cache_start = self.entries.len();
    }

    /// True when a checkpoint describes this state.
    pub(crate) fn matches_checkpoint(
        &self,
        snapshot: &SnapshotRecord,
        last_index: Index,
        hard_state: HardState,
    ) -> bool {
        self.snapshot.meta.last == snapshot.meta.last
            && self.last_index() == last_index
            && self.hard_state == hard_state
    }

    /// The first entry whose location recovery could not resolve.
    pub(crate) fn first_phantom(&self) -> Option<Index> {
        let k = self
            .entries
            .iter()
            .position(|loc| loc.segment == PHANTOM_SEGMENT)?;
        Some(self.snapshot_index().plus(k as u64 + 1))
    }

    /// Checks the cache bookkeeping (run by tests and debug builds).
    pub(crate) fn check_invariants(&self) {
        let cached: u64 = self
            .entries
            .iter()
            .filter_map(|l| l.data.as_ref())
            .map(|d| d.len() as u64)
            .sum();
        assert_eq!(
            cached, self.cache_bytes,
            "cache_bytes disagrees with cached payloads"
        );
        for (k, loc) in self.entries.iter().enumerate() {
            assert_eq!(
                loc.data.is_some(),
                k >= self.cache_start,
                "cache is not a suffix at {k}"
            );
        }
    }
}
