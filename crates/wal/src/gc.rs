//! Space reclamation. A segment is deleted once it holds no live entry (the
//! checkpoint at the start of the next segment carries every group's hard
//! state and snapshot, so nothing else is needed from it). Segments are only
//! deleted oldest first, so a slow group that pins the oldest segment would
//! keep every later one alive; when the files on disk exceed twice the live
//! data, the live entries of the oldest segment are copied to the head
//! ("relocated") and the segment is deleted. Bound (DESIGN.md):
//! disk ≤ 2 × live bytes + 4 × segment_bytes.

use crate::format::FRAME_HEADER_LEN;
use crate::fs::read_exact_at;
use crate::record::encode_entries;
use crate::segment::{delete_segment, segment_path};
use crate::shared::{count, read, write};
use crate::writer::{locations, must, Writer};
use bytes::Bytes;
use quorate_core::{Entry, GroupId};
use std::sync::Arc;

/// Live entries of one group that sit in the segment being emptied.
struct Run {
    group: GroupId,
    entries: Vec<Entry>,
}

impl Writer {
    /// Deletes dead segments and, when space use exceeds the bound's trigger,
    /// relocates the oldest segment's live entries.
    pub(crate) fn collect_garbage(&mut self) {
        let steps_max = self
            .shared
            .segments
            .read()
            .expect("segments lock poisoned")
            .len();
        for _ in 0..steps_max {
            let Some(oldest) = self.oldest_inactive() else {
                return;
            };
            if self.usage.usage(oldest).entries == 0 {
                self.delete(oldest);
                continue;
            }
            if !self.over_space_trigger() || !self.relocate(oldest) {
                return;
            }
        }
    }

    fn oldest_inactive(&self) -> Option<u64> {
        let segments = self.shared.segments.read().expect("segments lock poisoned");
        segments
            .keys()
            .next()
            .copied()
            .filter(|&seq| seq != self.active_seq)
    }

    /// True when inactive segments take more than twice their live bytes
    /// plus two segments of slack.
    fn over_space_trigger(&self) -> bool {
        let segments = self.shared.segments.read().expect("segments lock poisoned");
        let inactive: Vec<u64> = segments
            .keys()
            .copied()
            .filter(|&s| s != self.active_seq)
            .collect();
        let live: u64 = inactive.iter().map(|&s| self.usage.usage(s).bytes).sum();
        let segment_bytes = self.shared.options.segment_bytes;
        (inactive.len() as u64) * segment_bytes > 2 * live + 2 * segment_bytes
    }

    fn delete(&mut self, seq: u64) {
        assert_ne!(seq, self.active_seq, "deleting the active segment");
        assert_eq!(
            self.usage.usage(seq).entries,
            0,
            "deleting a segment with live entries"
        );
        self.shared
            .segments
            .write()
            .expect("segments lock poisoned")
            .remove(&seq);
        self.usage.by_segment.remove(&seq);
        delete_segment(self.shared.fs.as_ref(), &self.shared.dir, seq);
        count(&self.shared.counters.syncs, 1);
        count(&self.shared.counters.segments_deleted, 1);
        tracing::debug!(segment = seq, "deleted a WAL segment with no live entries");
    }

    /// Copies `seq`'s live entries to the head in one durable frame and
    /// repoints the index; false when that could not be done now.
    fn relocate(&mut self, seq: u64) -> bool {
        let Some(runs) = self.live_runs(seq) else {
            return false;
        };
        self.frame.clear();
        self.frame.resize(FRAME_HEADER_LEN, 0);
        self.data_starts.clear();
        for run in &runs {
            let start = encode_entries(&mut self.frame, true, run.group, &run.entries);
            self.data_starts.push(start);
        }
        let records = u32::try_from(runs.len()).expect("run count fits u32");
        let Ok(frame_offset) = self.write_frame(records) else {
            return false;
        };
        for (run, &start) in runs.iter().zip(&self.data_starts) {
            let state = self.shared.group(run.group);
            let mut state = write(&state);
            let locs = locations(
                &self.frame,
                self.active_seq,
                &run.entries,
                start,
                frame_offset,
            );
            must(state.relocate(run.entries[0].index, locs, &mut self.usage));
        }
        assert_eq!(
            self.usage.usage(seq).entries,
            0,
            "relocation left live entries behind"
        );
        let moved: usize = runs.iter().map(|run| run.entries.len()).sum();
        count(&self.shared.counters.relocated_entries, moved as u64);
        tracing::info!(
            segment = seq,
            runs = runs.len(),
            "relocated live entries out of an old WAL segment"
        );
        true
    }

    /// Every maximal run of consecutive live entries stored in `seq`, with
    /// payloads (from the cache or read and verified from disk).
    fn live_runs(&self, seq: u64) -> Option<Vec<Run>> {
        let file = Arc::clone(
            self.shared
                .segments
                .read()
                .expect("segments lock poisoned")
                .get(&seq)?,
        );
        let groups: Vec<_> = {
            let map = self.shared.groups.read().expect("groups lock poisoned");
            let mut groups: Vec<_> = map.iter().map(|(&g, s)| (g, Arc::clone(s))).collect();
            groups.sort_unstable_by_key(|(g, _)| *g);
            groups
        };
        let mut runs = Vec::new();
        for (group, state) in groups {
            let state = read(&state);
            let mut current: Option<Run> = None;
            for (k, loc) in state.entries.iter().enumerate() {
                if loc.segment != seq {
                    runs.extend(current.take());
                    continue;
                }
                let data = match &loc.data {
                    Some(data) => data.clone(),
                    None => {
                        let mut buf = vec![0u8; loc.len as usize];
                        if let Err(error) = read_exact_at(file.as_ref(), &mut buf, loc.offset) {
                            let path = segment_path(&self.shared.dir, seq);
                            tracing::error!(path = %path.display(), %error, "cannot read entries to relocate");
                            return None;
                        }
                        if crc32c::crc32c(&buf) != loc.crc {
                            tracing::error!(
                                segment = seq,
                                offset = loc.offset,
                                "entry fails its checksum; not relocating"
                            );
                            return None;
                        }
                        Bytes::from(buf)
                    }
                };
                let index = state.snapshot_index().plus(k as u64 + 1);
                let entry = Entry {
                    term: loc.term,
                    index,
                    kind: loc.kind,
                    data,
                };
                current
                    .get_or_insert_with(|| Run {
                        group,
                        entries: Vec::new(),
                    })
                    .entries
                    .push(entry);
            }
            runs.extend(current);
        }
        Some(runs)
    }
}
