//! Segment files: names, creation (temporary name, preallocation, fsync,
//! rename, directory fsync) and the checkpoint frame each one starts with.

use crate::error::{fatal_io, is_disk_full};
use crate::format::{FrameHeader, SegmentHeader, FRAME_HEADER_LEN, HEADER_LEN};
use crate::fs::{write_all_at, FileSystem, WalFile};
use crate::record::encode_checkpoint;
use crate::state::GroupState;
use quorate_core::GroupId;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SEGMENT_SUFFIX: &str = ".wal";
const TEMP_SUFFIX: &str = ".wal.tmp";

/// File name of segment `seq`: zero-padded so names sort by number.
pub(crate) fn segment_name(seq: u64) -> String {
    format!("{seq:020}{SEGMENT_SUFFIX}")
}

pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(segment_name(seq))
}

/// What a directory entry is, as far as the WAL cares.
pub(crate) enum DirEntry {
    Segment(u64),
    Temporary,
    Other,
}

pub(crate) fn classify(name: &str) -> DirEntry {
    if let Some(stem) = name.strip_suffix(TEMP_SUFFIX) {
        if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
            return DirEntry::Temporary;
        }
    }
    match name.strip_suffix(SEGMENT_SUFFIX) {
        Some(stem) if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) => {
            stem.parse().map_or(DirEntry::Other, DirEntry::Segment)
        }
        _ => DirEntry::Other,
    }
}

/// Encodes the checkpoint frame: every non-empty group's snapshot, last
/// index and hard state, so replay can start at this segment.
pub(crate) fn checkpoint_frame<'a>(
    seq: u64,
    groups: impl IntoIterator<Item = (GroupId, &'a GroupState)>,
) -> Vec<u8> {
    let mut frame = vec![0u8; FRAME_HEADER_LEN];
    let mut count = 0u32;
    for (group, state) in groups {
        if state.is_empty() {
            continue;
        }
        encode_checkpoint(
            &mut frame,
            group,
            &state.snapshot,
            state.last_index(),
            state.hard_state,
        );
        count += 1;
    }
    let header = FrameHeader {
        payload_len: u32::try_from(frame.len() - FRAME_HEADER_LEN).expect("checkpoint fits u32"),
        seq,
        record_count: count,
    };
    header.write_into(&mut frame);
    frame
}

/// Disk ran out of space while creating a segment; nothing was changed.
#[derive(Debug)]
pub(crate) struct NoSpace;

/// Creates segment `header.segment_seq` under a temporary name with its
/// header and checkpoint frame, preallocated and fsynced. The caller makes
/// it live with [`publish_segment`].
pub(crate) fn prepare_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    header: &SegmentHeader,
    checkpoint: &[u8],
) -> Result<Arc<dyn WalFile>, NoSpace> {
    let temp = dir.join(format!("{:020}{TEMP_SUFFIX}", header.segment_seq));
    let result = (|| {
        let file = fs.create(&temp)?;
        let len = header
            .segment_bytes
            .max((HEADER_LEN + checkpoint.len()) as u64);
        file.allocate(len)?;
        write_all_at(file.as_ref(), &header.encode(), 0)?;
        write_all_at(file.as_ref(), checkpoint, HEADER_LEN as u64)?;
        file.sync_all()?;
        Ok::<_, std::io::Error>(file)
    })();
    match result {
        Ok(file) => Ok(file),
        Err(error) if is_disk_full(&error) => {
            tracing::warn!(path = %temp.display(), "disk full while creating a WAL segment");
            // Best effort: the temporary file is deleted on the next open anyway.
            let _ = fs.remove_file(&temp);
            Err(NoSpace)
        }
        Err(error) => fatal_io("creating a segment", &temp, &error),
    }
}

/// Renames a prepared segment to its final name and makes that durable.
pub(crate) fn publish_segment(fs: &dyn FileSystem, dir: &Path, seq: u64) {
    let temp = dir.join(format!("{seq:020}{TEMP_SUFFIX}"));
    let path = segment_path(dir, seq);
    if let Err(error) = fs.rename(&temp, &path) {
        fatal_io("renaming a new segment", &path, &error);
    }
    if let Err(error) = fs.sync_dir(dir) {
        fatal_io("syncing the WAL directory", dir, &error);
    }
}

/// Deletes a segment nobody needs any more, durably.
pub(crate) fn delete_segment(fs: &dyn FileSystem, dir: &Path, seq: u64) {
    let path = segment_path(dir, seq);
    if let Err(error) = fs.remove_file(&path) {
        fatal_io("deleting an old segment", &path, &error);
    }
    if let Err(error) = fs.sync_dir(dir) {
        fatal_io("syncing the WAL directory", dir, &error);
    }
}
