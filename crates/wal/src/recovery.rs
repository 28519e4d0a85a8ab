//! Open-time recovery: verify every frame of every segment, replay records
//! into per-group indexes, and decide what a damaged region means.
//!
//! Damage at the tail of the newest segment, with no valid frame after it, is
//! a write that was torn by a crash: it was never acknowledged, so it is cut
//! off (with a warning). Damage anywhere else refuses to open.

use crate::error::{CorruptReason, WalOpenError};
use crate::format::{
    FrameHeader, HeaderError, SegmentHeader, ALIGN, FORMAT_VERSION, FRAME_HEADER_LEN, HEADER_LEN,
};
use crate::fs::{read_all, FileSystem, WalFile};
use crate::record::{decode_record, Record};
use crate::segment::{classify, segment_path, DirEntry};
use crate::state::{EntryLoc, GroupState, SegmentUsage};
use crate::WalOptions;
use quorate_core::GroupId;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What recovery found; [`crate::Wal::recovery_report`] returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    pub segments: u64,
    pub frames: u64,
    pub groups: u64,
    /// A torn write cut off the newest segment, if there was one.
    pub truncated_tail: Option<TruncatedTail>,
}

/// Bytes of a torn, never-acknowledged write that recovery discarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncatedTail {
    pub file: PathBuf,
    pub offset: u64,
    pub bytes: u64,
}

/// Where the writer resumes.
pub(crate) struct Tail {
    pub seq: u64,
    pub write_offset: u64,
    pub sealed: bool,
    /// Bytes `write_offset..dirty_end` hold a discarded torn write and are
    /// zeroed before the first new frame.
    pub dirty_end: u64,
}

pub(crate) struct Recovered {
    pub groups: HashMap<GroupId, GroupState>,
    pub usage: SegmentUsage,
    pub segments: BTreeMap<u64, Arc<dyn WalFile>>,
    pub tail: Option<Tail>,
    pub next_frame_seq: u64,
    pub report: RecoveryReport,
}

/// How a segment's scan ended.
enum ScanEnd {
    Sealed {
        end: u64,
    },
    /// Frames stop at `pos`; `reason` says why the bytes there are not a frame.
    Stopped {
        pos: usize,
        reason: CorruptReason,
    },
}

struct Replay<'a> {
    options: &'a WalOptions,
    groups: HashMap<GroupId, GroupState>,
    usage: SegmentUsage,
    next_frame_seq: Option<u64>,
    frames: u64,
}

/// Lists the directory, deletes leftover temporary files and replays every
/// segment in order.
pub(crate) fn recover(
    fs: &dyn FileSystem,
    dir: &Path,
    options: &WalOptions,
) -> Result<Recovered, WalOpenError> {
    let seqs = list_segments(fs, dir)?;
    let mut replay = Replay {
        options,
        groups: HashMap::new(),
        usage: SegmentUsage::default(),
        next_frame_seq: None,
        frames: 0,
    };
    let mut segments = BTreeMap::new();
    let mut tail = None;
    let mut report = RecoveryReport::default();
    for (k, &seq) in seqs.iter().enumerate() {
        let path = segment_path(dir, seq);
        if k > 0 && seqs[k - 1] + 1 != seq {
            let reason = CorruptReason::SegmentMissing {
                expected: seqs[k - 1] + 1,
                found: seq,
            };
            return Err(corrupt(&path, 0, reason));
        }
        let file = fs.open(&path).map_err(|source| WalOpenError::Io {
            path: path.clone(),
            source,
        })?;
        let buf = read_all(file.as_ref()).map_err(|source| WalOpenError::Io {
            path: path.clone(),
            source,
        })?;
        check_header(&path, &buf, seq, options)?;
        let newest = k + 1 == seqs.len();
        let end = replay.scan(&path, seq, &buf, k == 0)?;
        tail = Some(resolve_end(&path, seq, &buf, end, newest, &mut report)?);
        segments.insert(seq, file);
    }
    for (&group, state) in &replay.groups {
        if let Some(index) = state.first_phantom() {
            let oldest = segment_path(dir, seqs[0]);
            return Err(corrupt(
                &oldest,
                0,
                CorruptReason::EntryLost { group, index },
            ));
        }
    }
    report.segments = seqs.len() as u64;
    report.frames = replay.frames;
    report.groups = replay.groups.values().filter(|s| !s.is_empty()).count() as u64;
    Ok(Recovered {
        groups: replay.groups,
        usage: replay.usage,
        segments,
        tail,
        next_frame_seq: replay.next_frame_seq.unwrap_or(1),
        report,
    })
}

/// Segment numbers in `dir`, ascending; leftover temporary files (a segment
/// being created at a crash) are deleted.
fn list_segments(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u64>, WalOpenError> {
    let io_err = |source| WalOpenError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut seqs = Vec::new();
    for name in fs.list_dir(dir).map_err(io_err)? {
        match classify(&name) {
            DirEntry::Segment(seq) => seqs.push(seq),
            DirEntry::Temporary => {
                let path = dir.join(&name);
                tracing::info!(path = %path.display(), "removing a segment that was being created at a crash");
                fs.remove_file(&path)
                    .map_err(|source| WalOpenError::Io { path, source })?;
            }
            DirEntry::Other => {}
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

fn corrupt(path: &Path, offset: u64, reason: CorruptReason) -> WalOpenError {
    WalOpenError::Corrupt {
        file: path.to_path_buf(),
        offset,
        reason,
    }
}

fn check_header(
    path: &Path,
    buf: &[u8],
    seq: u64,
    options: &WalOptions,
) -> Result<(), WalOpenError> {
    check_identity(path, buf, seq, options).and_then(|header| {
        // Segments are preallocated and their size fsynced before they get
        // a name, so neither a crash nor a torn write can shorten one.
        if (buf.len() as u64) < header.segment_bytes {
            return Err(corrupt(
                path,
                buf.len() as u64,
                CorruptReason::FileShortened,
            ));
        }
        Ok(())
    })
}

fn check_identity(
    path: &Path,
    buf: &[u8],
    seq: u64,
    options: &WalOptions,
) -> Result<SegmentHeader, WalOpenError> {
    let header = match SegmentHeader::decode(buf) {
        Ok(header) => header,
        Err(HeaderError::Corrupt(reason)) => return Err(corrupt(path, 0, reason)),
        Err(HeaderError::Version(version)) => {
            return Err(WalOpenError::UnsupportedVersion {
                file: path.to_path_buf(),
                version,
                supported: FORMAT_VERSION,
            })
        }
    };
    if header.segment_seq != seq {
        let reason = CorruptReason::HeaderSequence {
            expected: seq,
            found: header.segment_seq,
        };
        return Err(corrupt(path, 0, reason));
    }
    if header.node_id != options.node_id {
        return Err(WalOpenError::NodeIdMismatch {
            file: path.to_path_buf(),
            expected: options.node_id,
            found: header.node_id,
        });
    }
    if header.cluster_id != options.cluster_id {
        return Err(WalOpenError::ClusterIdMismatch {
            file: path.to_path_buf(),
            expected: options.cluster_id,
            found: header.cluster_id,
        });
    }
    Ok(header)
}

/// Parses and fully verifies the frame at `pos` without applying it.
pub(crate) fn parse_frame(
    buf: &[u8],
    pos: usize,
) -> Result<(FrameHeader, Vec<Record>, usize), CorruptReason> {
    let header = FrameHeader::decode(buf.get(pos..).unwrap_or_default())
        .ok_or(CorruptReason::FrameHeader)?;
    let end = pos + FRAME_HEADER_LEN + header.payload_len as usize;
    if end > buf.len() {
        return Err(CorruptReason::FrameTruncated);
    }
    let mut records = Vec::with_capacity(header.record_count.min(1024) as usize);
    let mut at = pos + FRAME_HEADER_LEN;
    for _ in 0..header.record_count {
        let (record, next) = decode_record(buf, at, end, 0, true)?;
        records.push(record);
        at = next;
    }
    if at != end {
        return Err(CorruptReason::Record);
    }
    Ok((header, records, end))
}

/// Decides what the end of a segment's frames means.
fn resolve_end(
    path: &Path,
    seq: u64,
    buf: &[u8],
    end: ScanEnd,
    newest: bool,
    report: &mut RecoveryReport,
) -> Result<Tail, WalOpenError> {
    let (pos, reason) = match end {
        ScanEnd::Sealed { end } => {
            return Ok(Tail {
                seq,
                write_offset: end,
                sealed: true,
                dirty_end: end,
            })
        }
        ScanEnd::Stopped { pos, reason } => (pos, reason),
    };
    let rest_is_zero = buf[pos..].iter().all(|&b| b == 0);
    // The checkpoint frame is written before the segment gets its name, so
    // damage there is never a torn write.
    if !newest || pos == HEADER_LEN {
        let reason = if rest_is_zero {
            CorruptReason::MissingSeal
        } else {
            reason
        };
        return Err(corrupt(path, pos as u64, reason));
    }
    // A valid frame after the damage means acknowledged data follows it:
    // this is not a torn tail, and cutting it would lose that data.
    let mut probe = pos + ALIGN;
    while probe + FRAME_HEADER_LEN <= buf.len() {
        if FrameHeader::decode(&buf[probe..]).is_some() && parse_frame(buf, probe).is_ok() {
            return Err(corrupt(
                path,
                pos as u64,
                CorruptReason::DamageBeforeValidData,
            ));
        }
        probe += ALIGN;
    }
    let dirty_end = buf
        .iter()
        .rposition(|&b| b != 0)
        .map_or(pos, |last| (last + 1).max(pos));
    if !rest_is_zero {
        tracing::warn!(
            path = %path.display(),
            offset = pos,
            bytes = dirty_end - pos,
            %reason,
            "discarding a torn write at the tail of the newest WAL segment"
        );
        report.truncated_tail = Some(TruncatedTail {
            file: path.to_path_buf(),
            offset: pos as u64,
            bytes: (dirty_end - pos) as u64,
        });
    }
    Ok(Tail {
        seq,
        write_offset: pos as u64,
        sealed: false,
        dirty_end: dirty_end as u64,
    })
}

impl Replay<'_> {
    fn scan(
        &mut self,
        path: &Path,
        seq: u64,
        buf: &[u8],
        oldest: bool,
    ) -> Result<ScanEnd, WalOpenError> {
        let mut pos = HEADER_LEN;
        let mut first = true;
        loop {
            let (header, records, next) = match parse_frame(buf, pos) {
                Ok(frame) => frame,
                Err(reason) => return Ok(ScanEnd::Stopped { pos, reason }),
            };
            if let Some(expected) = self.next_frame_seq {
                if header.seq != expected {
                    let reason = CorruptReason::FrameSequence {
                        expected,
                        found: header.seq,
                    };
                    return Err(corrupt(path, pos as u64, reason));
                }
            }
            self.next_frame_seq = Some(header.seq + 1);
            self.frames += 1;
            let at = |reason| corrupt(path, pos as u64, reason);
            if first {
                self.apply_checkpoint(records, oldest).map_err(at)?;
                first = false;
            } else if let Some(Record::Seal { next_segment }) = records.last() {
                if records.len() != 1 || *next_segment != seq + 1 {
                    return Err(at(CorruptReason::BadSeal));
                }
                return Ok(ScanEnd::Sealed { end: next as u64 });
            } else {
                for record in records {
                    self.apply(seq, record).map_err(at)?;
                }
            }
            pos = next;
        }
    }

    fn apply_checkpoint(
        &mut self,
        records: Vec<Record>,
        oldest: bool,
    ) -> Result<(), CorruptReason> {
        let mut listed = 0usize;
        for record in records {
            let Record::Checkpoint {
                group,
                snapshot,
                last_index,
                hard_state,
            } = record
            else {
                return Err(CorruptReason::Checkpoint);
            };
            if snapshot.meta.last.index > last_index {
                return Err(CorruptReason::CheckpointMismatch { group });
            }
            let state = self.groups.entry(group).or_default();
            if oldest {
                if !state.is_empty() {
                    return Err(CorruptReason::CheckpointMismatch { group });
                }
                state.start_from_checkpoint(snapshot, last_index, hard_state);
            } else if !state.matches_checkpoint(&snapshot, last_index, hard_state) {
                return Err(CorruptReason::CheckpointMismatch { group });
            }
            listed += 1;
        }
        let non_empty = self.groups.values().filter(|s| !s.is_empty()).count();
        if !oldest && non_empty != listed {
            return Err(CorruptReason::Checkpoint);
        }
        Ok(())
    }

    fn apply(&mut self, seq: u64, record: Record) -> Result<(), CorruptReason> {
        let cache_max = self.options.cache_bytes_per_group_max;
        let usage = &mut self.usage;
        let (group, result) = match record {
            Record::Entries {
                relocate,
                group,
                first,
                entries,
            } => {
                let state = self.groups.entry(group).or_default();
                let locs = entries.iter().map(|m| EntryLoc::from_meta(m, seq, None));
                let result = if relocate {
                    state.relocate(first, locs, usage)
                } else {
                    state.append(first, locs, usage, cache_max)
                };
                (group, result)
            }
            Record::HardState { group, hard_state } => {
                self.groups.entry(group).or_default().hard_state = hard_state;
                (group, Ok(()))
            }
            Record::Truncate { group, from } => (
                group,
                self.groups.entry(group).or_default().truncate(from, usage),
            ),
            Record::Snapshot {
                install: false,
                group,
                snapshot,
            } => (
                group,
                self.groups
                    .entry(group)
                    .or_default()
                    .compact(snapshot, usage),
            ),
            Record::Snapshot {
                install: true,
                group,
                snapshot,
            } => {
                self.groups
                    .entry(group)
                    .or_default()
                    .install(snapshot, usage);
                (group, Ok(()))
            }
            Record::Checkpoint { .. } => return Err(CorruptReason::Checkpoint),
            Record::Seal { .. } => return Err(CorruptReason::BadSeal),
        };
        result.map_err(|rule| CorruptReason::Inconsistent { group, rule })
    }
}
