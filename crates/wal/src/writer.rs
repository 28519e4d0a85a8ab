//! The writer thread: group commit, segment rotation and space reclamation.
//!
//! Each loop takes every queued batch (up to `frame_bytes_max`), encodes them
//! into one frame, writes it with one `pwrite` and one `fdatasync`, then
//! updates the in-memory indexes and fires the callbacks. Readers therefore
//! only ever see durable entries.

use crate::batch::Op;
use crate::error::{fatal_io, is_disk_full, WalWriteError};
use crate::format::{get_u32, FrameHeader, SegmentHeader, FRAME_HEADER_LEN, HEADER_LEN};
use crate::fs::{write_all_at, WalFile};
use crate::record::{
    encode_entries, encode_hard_state, encode_seal, encode_snapshot, encode_truncate,
};
use crate::segment::{checkpoint_frame, prepare_segment, publish_segment, segment_path, NoSpace};
use crate::shared::{count, read, write, Pending, Shared};
use crate::state::{EntryLoc, SegmentUsage, Violation};
use quorate_core::{Entry, GroupId};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) struct Writer {
    pub shared: Arc<Shared>,
    pub active_seq: u64,
    pub active: Arc<dyn WalFile>,
    /// Where the next frame goes in the active segment.
    pub write_offset: u64,
    /// End of the active segment's checkpoint frame.
    pub checkpoint_end: u64,
    pub next_frame_seq: u64,
    pub usage: SegmentUsage,
    /// Reused frame buffer (no allocation per commit once warm).
    pub frame: Vec<u8>,
    /// Offset in `frame` of each append's first payload byte.
    pub data_starts: Vec<usize>,
}

/// Panics when an operation validated at submit breaks a log rule: that is a
/// bug in this crate, and stopping beats corrupting the index.
pub(crate) fn must(result: Result<(), Violation>) {
    if let Err(rule) = result {
        panic!("quorate-wal invariant broken: a validated batch violated '{rule}'");
    }
}

impl Writer {
    pub(crate) fn run(mut self) {
        self.collect_garbage();
        while let Some(pendings) = self.take() {
            self.commit(pendings);
            self.collect_garbage();
        }
    }

    /// Waits for work; `None` once closed and drained.
    fn take(&mut self) -> Option<Vec<Pending>> {
        let mut queue = self.shared.lock_queue();
        while queue.pending.is_empty() && !queue.closed {
            queue = self
                .shared
                .queue_ready
                .wait(queue)
                .expect("queue lock poisoned");
        }
        if queue.pending.is_empty() {
            return None;
        }
        let mut taken = Vec::new();
        let mut bytes = 0u64;
        while let Some(front) = queue.pending.front() {
            if !taken.is_empty() && bytes + front.bytes > self.shared.options.frame_bytes_max {
                break;
            }
            bytes += front.bytes;
            taken.push(queue.pending.pop_front().expect("front exists"));
        }
        queue.pending_bytes -= bytes;
        Some(taken)
    }

    fn commit(&mut self, pendings: Vec<Pending>) {
        self.frame.clear();
        self.frame.resize(FRAME_HEADER_LEN, 0);
        self.data_starts.clear();
        let mut records = 0u32;
        for pending in &pendings {
            for op in &pending.batch.ops {
                records += 1;
                match op {
                    Op::Append { group, entries } => {
                        let start = encode_entries(&mut self.frame, false, *group, entries);
                        self.data_starts.push(start);
                    }
                    Op::HardState { group, hard_state } => {
                        encode_hard_state(&mut self.frame, *group, *hard_state)
                    }
                    Op::Truncate { group, from } => encode_truncate(&mut self.frame, *group, *from),
                    Op::Snapshot {
                        install,
                        group,
                        snapshot,
                    } => {
                        encode_snapshot(&mut self.frame, *install, *group, snapshot);
                    }
                }
            }
        }
        if records > 0 {
            match self.write_frame_waiting_for_space(records) {
                Ok(frame_offset) => self.apply(&pendings, frame_offset),
                Err(NoSpace) => return self.fail_all(pendings),
            }
        }
        count(&self.shared.counters.batches, pendings.len() as u64);
        for pending in pendings {
            (pending.callback)(Ok(()));
        }
    }

    /// Writes the frame; on a full disk, with `disk_full_retry` set, waits
    /// and retries (the frame and its batches stay as they are, so nothing
    /// is acknowledged until it is durable) until space returns or the WAL
    /// closes.
    fn write_frame_waiting_for_space(&mut self, records: u32) -> Result<u64, NoSpace> {
        let mut result = self.write_frame(records);
        let Some(wait) = self.shared.options.disk_full_retry else {
            return result;
        };
        while result.is_err() {
            let queue = self.shared.lock_queue();
            if queue.closed {
                break;
            }
            if !self.shared.disk_full.swap(true, Ordering::Relaxed) {
                tracing::error!(dir = %self.shared.dir.display(), "disk full: no longer acknowledging writes; retrying until space is freed");
            }
            // Wakes early when the WAL closes (or a batch is queued).
            drop(self.shared.queue_ready.wait_timeout(queue, wait));
            result = self.write_frame(records);
        }
        if result.is_ok() && self.shared.disk_full.swap(false, Ordering::Relaxed) {
            tracing::warn!(dir = %self.shared.dir.display(), "disk space is back: acknowledging writes again");
        }
        result
    }

    /// Disk full: refuse these batches and everything queued behind them
    /// (they were validated against state that will now not exist).
    fn fail_all(&mut self, pendings: Vec<Pending>) {
        let path = segment_path(&self.shared.dir, self.active_seq);
        let drained: Vec<Pending> = {
            let mut queue = self.shared.lock_queue();
            queue.pending_bytes = 0;
            let drained = queue.pending.drain(..).collect();
            queue.views = self.shared.durable_views();
            drained
        };
        for pending in pendings.into_iter().chain(drained) {
            (pending.callback)(Err(WalWriteError::DiskFull { path: path.clone() }));
        }
    }

    /// Writes `self.frame` (whose records are encoded) durably; returns the
    /// frame's offset in the active segment.
    pub(crate) fn write_frame(&mut self, records: u32) -> Result<u64, NoSpace> {
        let len = self.frame.len() as u64;
        let capacity = self.shared.options.segment_bytes;
        if self.write_offset + len > capacity && self.write_offset > self.checkpoint_end {
            self.rotate()?;
        }
        let header = FrameHeader {
            payload_len: u32::try_from(len - FRAME_HEADER_LEN as u64).expect("frame fits u32"),
            seq: self.next_frame_seq,
            record_count: records,
        };
        header.write_into(&mut self.frame);
        let offset = self.write_offset;
        self.write_active(offset)?;
        self.write_offset += len;
        self.next_frame_seq += 1;
        count(&self.shared.counters.frames, 1);
        Ok(offset)
    }

    /// Writes and syncs `self.frame` at `offset` of the active segment.
    fn write_active(&self, offset: u64) -> Result<(), NoSpace> {
        let path = || segment_path(&self.shared.dir, self.active_seq);
        if let Err(error) = write_all_at(self.active.as_ref(), &self.frame, offset) {
            if is_disk_full(&error) {
                tracing::warn!(path = %path().display(), "disk full while appending to the WAL");
                return Err(NoSpace);
            }
            fatal_io("writing a WAL frame", &path(), &error);
        }
        if let Err(error) = self.active.sync_data() {
            fatal_io("fdatasync of a WAL segment", &path(), &error);
        }
        count(&self.shared.counters.bytes, self.frame.len() as u64);
        count(&self.shared.counters.syncs, 1);
        Ok(())
    }

    /// Seals the active segment and switches to a new one that starts with a
    /// checkpoint of every group. The new file is fully prepared first, so
    /// running out of space changes nothing.
    fn rotate(&mut self) -> Result<(), NoSpace> {
        let new_seq = self.active_seq + 1;
        let checkpoint = self.checkpoint(self.next_frame_seq + 1);
        let file = prepare_segment(
            self.shared.fs.as_ref(),
            &self.shared.dir,
            &self.header(new_seq),
            &checkpoint,
        )?;
        count(&self.shared.counters.syncs, 1);
        let mut seal = vec![0u8; FRAME_HEADER_LEN];
        encode_seal(&mut seal, new_seq);
        let header = FrameHeader {
            payload_len: u32::try_from(seal.len() - FRAME_HEADER_LEN).expect("seal fits u32"),
            seq: self.next_frame_seq,
            record_count: 1,
        };
        header.write_into(&mut seal);
        let pending_frame = std::mem::replace(&mut self.frame, seal);
        let sealed = self.write_active(self.write_offset);
        self.frame = pending_frame;
        if let Err(NoSpace) = sealed {
            let temp = self.shared.dir.join(format!("{new_seq:020}.wal.tmp"));
            let _ = self.shared.fs.remove_file(&temp);
            return Err(NoSpace);
        }
        publish_segment(self.shared.fs.as_ref(), &self.shared.dir, new_seq);
        count(&self.shared.counters.syncs, 1);
        self.shared
            .segments
            .write()
            .expect("segments lock poisoned")
            .insert(new_seq, Arc::clone(&file));
        self.active = file;
        self.active_seq = new_seq;
        self.write_offset = (HEADER_LEN + checkpoint.len()) as u64;
        self.checkpoint_end = self.write_offset;
        self.next_frame_seq += 2;
        tracing::debug!(segment = new_seq, "rotated to a new WAL segment");
        Ok(())
    }

    pub(crate) fn header(&self, seq: u64) -> SegmentHeader {
        let options = &self.shared.options;
        SegmentHeader {
            node_id: options.node_id,
            cluster_id: options.cluster_id,
            segment_seq: seq,
            segment_bytes: options.segment_bytes,
        }
    }

    /// A checkpoint frame of every group's durable state, in group order.
    pub(crate) fn checkpoint(&self, frame_seq: u64) -> Vec<u8> {
        let groups = self.shared.groups.read().expect("groups lock poisoned");
        let mut ids: Vec<GroupId> = groups.keys().copied().collect();
        ids.sort_unstable();
        let guards: Vec<_> = ids.iter().map(|id| read(&groups[id])).collect();
        checkpoint_frame(
            frame_seq,
            ids.iter().copied().zip(guards.iter().map(|g| &**g)),
        )
    }

    /// Makes a durable frame visible: updates indexes, then caches payloads.
    fn apply(&mut self, pendings: &[Pending], frame_offset: u64) {
        let cache_max = self.shared.options.cache_bytes_per_group_max;
        let mut starts = self.data_starts.iter();
        for op in pendings.iter().flat_map(|p| &p.batch.ops) {
            let group = match op {
                Op::Append { group, .. }
                | Op::HardState { group, .. }
                | Op::Truncate { group, .. } => *group,
                Op::Snapshot { group, .. } => *group,
            };
            let state = self.shared.group(group);
            let mut state = write(&state);
            match op {
                Op::Append { entries, .. } => {
                    let start = *starts.next().expect("one start per append");
                    let locs =
                        locations(&self.frame, self.active_seq, entries, start, frame_offset);
                    must(state.append(entries[0].index, locs, &mut self.usage, cache_max));
                }
                Op::HardState { hard_state, .. } => state.hard_state = *hard_state,
                Op::Truncate { from, .. } => must(state.truncate(*from, &mut self.usage)),
                Op::Snapshot {
                    install: false,
                    snapshot,
                    ..
                } => {
                    must(state.compact(snapshot.clone(), &mut self.usage));
                }
                Op::Snapshot {
                    install: true,
                    snapshot,
                    ..
                } => state.install(snapshot.clone(), &mut self.usage),
            }
            if cfg!(debug_assertions) {
                state.check_invariants();
            }
        }
    }
}

/// Index entries for `entries`, whose payloads start at `frame[start]` and
/// whose descriptors (24 bytes each, CRC at byte 12) precede them.
pub(crate) fn locations<'a>(
    frame: &'a [u8],
    segment: u64,
    entries: &'a [Entry],
    start: usize,
    frame_offset: u64,
) -> impl Iterator<Item = EntryLoc> + 'a {
    let descriptors = start - 24 * entries.len();
    let mut offset = frame_offset + start as u64;
    entries.iter().enumerate().map(move |(k, entry)| {
        let loc = EntryLoc {
            term: entry.term,
            kind: entry.kind,
            segment,
            offset,
            len: u32::try_from(entry.data.len()).expect("entry fits u32"),
            crc: get_u32(frame, descriptors + 24 * k + 12),
            data: Some(entry.data.clone()),
        };
        offset += entry.data.len() as u64;
        loc
    })
}
