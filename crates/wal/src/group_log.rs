//! [`GroupLog`]: one group's view of the WAL, implementing the core's
//! synchronous [`LogStore`].

use crate::fs::{read_exact_at, WalFile};
use crate::record::SnapshotFileRef;
use crate::shared::{read, Shared};
use crate::state::GroupState;
use bytes::Bytes;
use quorate_core::{
    Entry, EntryKind, GroupId, HardState, Index, LogStore, SnapshotMeta, StorageError, Term,
    ENTRY_OVERHEAD_BYTES,
};
use std::sync::{Arc, RwLock};

/// A cheap, cloneable handle on one group's durable log. Reads see a batch
/// once it is durable (after `fdatasync`, before its callback fires), never
/// earlier, so nothing a read returns can vanish in a crash.
#[derive(Clone)]
pub struct GroupLog {
    shared: Arc<Shared>,
    group: GroupId,
    state: Arc<RwLock<GroupState>>,
}

/// Where to get one entry's payload, decided under the group's lock and
/// fetched after releasing it.
enum Source {
    Cached(Bytes),
    Disk {
        file: Arc<dyn WalFile>,
        offset: u64,
        len: u32,
        crc: u32,
    },
}

impl GroupLog {
    pub(crate) fn new(shared: Arc<Shared>, group: GroupId) -> GroupLog {
        let state = shared.group(group);
        GroupLog {
            shared,
            group,
            state,
        }
    }

    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The durable hard state (default when none was ever written).
    pub fn hard_state(&self) -> HardState {
        read(&self.state).hard_state
    }

    /// The snapshot file recorded with the newest installed snapshot.
    pub fn snapshot_file(&self) -> Option<SnapshotFileRef> {
        read(&self.state).snapshot.file.clone()
    }

    /// Checks `lo..hi` and collects payload sources within `max_bytes` (at
    /// least one entry), all under one lock so a concurrent truncation or
    /// compaction is seen either entirely or not at all.
    #[allow(clippy::type_complexity)]
    fn plan(
        &self,
        lo: Index,
        hi: Index,
        max_bytes: u64,
    ) -> Result<Vec<(Index, Term, EntryKind, Source)>, StorageError> {
        let state = read(&self.state);
        if lo <= state.snapshot_index() {
            return Err(StorageError::Compacted { index: lo });
        }
        if hi > state.last_index().next() {
            return Err(StorageError::Unavailable { index: hi.prev() });
        }
        let segments = self.shared.segments.read().expect("segments lock poisoned");
        let mut plan = Vec::new();
        let mut bytes = 0u64;
        let mut index = lo;
        while index < hi {
            let loc = state
                .entry(index)
                .expect("range checked above under the same lock");
            bytes += u64::from(loc.len) + ENTRY_OVERHEAD_BYTES;
            if !plan.is_empty() && bytes > max_bytes {
                break;
            }
            let source = match &loc.data {
                Some(data) => Source::Cached(data.clone()),
                None => {
                    let file = segments
                        .get(&loc.segment)
                        .expect("live entry's segment is open");
                    Source::Disk {
                        file: Arc::clone(file),
                        offset: loc.offset,
                        len: loc.len,
                        crc: loc.crc,
                    }
                }
            };
            plan.push((index, loc.term, loc.kind, source));
            index = index.next();
        }
        Ok(plan)
    }
}

/// Reads one payload and verifies its CRC: a damaged sector is reported,
/// never returned.
fn fetch(source: Source) -> Result<Bytes, StorageError> {
    match source {
        Source::Cached(data) => Ok(data),
        Source::Disk {
            file,
            offset,
            len,
            crc,
        } => {
            let mut buf = vec![0u8; len as usize];
            if let Err(error) = read_exact_at(file.as_ref(), &mut buf, offset) {
                tracing::error!(offset, %error, "reading a WAL entry failed");
                return Err(StorageError::Io {
                    reason: "reading a WAL entry failed",
                });
            }
            if crc32c::crc32c(&buf) != crc {
                tracing::error!(offset, "WAL entry fails its checksum on read");
                return Err(StorageError::Io {
                    reason: "WAL entry fails its checksum",
                });
            }
            Ok(Bytes::from(buf))
        }
    }
}

impl LogStore for GroupLog {
    fn first_index(&self) -> Index {
        read(&self.state).snapshot_index().next()
    }

    fn last_index(&self) -> Index {
        read(&self.state).last_index()
    }

    fn term(&self, index: Index) -> Result<Term, StorageError> {
        let state = read(&self.state);
        let snapshot = state.snapshot.meta.last;
        if index < snapshot.index {
            return Err(StorageError::Compacted { index });
        }
        if index == snapshot.index {
            return Ok(snapshot.term);
        }
        state
            .entry(index)
            .map(|loc| loc.term)
            .ok_or(StorageError::Unavailable { index })
    }

    fn entries(&self, lo: Index, hi: Index, max_bytes: u64) -> Result<Vec<Entry>, StorageError> {
        let plan = self.plan(lo, hi, max_bytes)?;
        let mut out = Vec::with_capacity(plan.len());
        for (index, term, kind, source) in plan {
            out.push(Entry {
                term,
                index,
                kind,
                data: fetch(source)?,
            });
        }
        Ok(out)
    }

    fn snapshot_meta(&self) -> SnapshotMeta {
        read(&self.state).snapshot.meta.clone()
    }
}
