//! The repair path: for an operator whose WAL refuses to open because of
//! damage that is not a torn tail. It copies every segment to a backup
//! directory first, then cuts the log at the first damaged frame (zeroing
//! the rest of that segment and deleting every later segment), so the node
//! opens with the longest intact prefix. Entries after the cut are lost:
//! the node may have acknowledged them, so it must rejoin as a follower and
//! catch up from the leader (see DESIGN.md, "Repair").

use crate::error::{WalOpenError, WalRepairError};
use crate::format::HEADER_LEN;
use crate::fs::{read_all, write_all_at, FileSystem, RealFs};
use crate::recovery::recover;
use crate::segment::{classify, segment_path, DirEntry};
use crate::{Wal, WalOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What [`Wal::repair`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// Where the original segments were copied (None: nothing to repair).
    pub backup_dir: Option<PathBuf>,
    /// Each cut: file and offset from which bytes were discarded.
    pub cuts: Vec<(PathBuf, u64)>,
    /// Segment files deleted because they followed a cut.
    pub segments_removed: u64,
}

/// Cuts a log can need before it opens; more means something else is wrong.
const CUTS_MAX: usize = 16;

impl Wal {
    /// Repairs the WAL in `dir` on the real file system; see the module docs.
    pub fn repair(
        dir: impl AsRef<Path>,
        options: &WalOptions,
    ) -> Result<RepairReport, WalRepairError> {
        Wal::repair_with_fs(Arc::new(RealFs), dir, options)
    }

    /// [`Wal::repair`] through a given file system.
    pub fn repair_with_fs(
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
        options: &WalOptions,
    ) -> Result<RepairReport, WalRepairError> {
        let dir = dir.as_ref();
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| WalRepairError::Io { path, source }
        };
        let _lock = fs.lock(&dir.join("LOCK")).map_err(io(dir))?;
        let mut report = RepairReport::default();
        for _ in 0..CUTS_MAX {
            let (file, offset) = match recover(fs.as_ref(), dir, options) {
                Ok(_) => return Ok(report),
                Err(WalOpenError::Corrupt {
                    file,
                    offset,
                    reason,
                }) => {
                    tracing::warn!(file = %file.display(), offset, %reason, "repair: cutting the log");
                    (file, offset)
                }
                Err(other) => return Err(WalRepairError::Unrepairable(other)),
            };
            if report.backup_dir.is_none() {
                report.backup_dir = Some(backup(fs.as_ref(), dir)?);
            }
            report.segments_removed += cut(fs.as_ref(), dir, &file, offset, options.segment_bytes)?;
            report.cuts.push((file, offset));
        }
        match recover(fs.as_ref(), dir, options) {
            Ok(_) => Ok(report),
            Err(error) => Err(WalRepairError::Unrepairable(error)),
        }
    }
}

fn segments(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u64>, WalRepairError> {
    let names = fs.list_dir(dir).map_err(|source| WalRepairError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut seqs: Vec<u64> = names
        .iter()
        .filter_map(|name| match classify(name) {
            DirEntry::Segment(seq) => Some(seq),
            _ => None,
        })
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// Copies every segment into a fresh sibling directory `<dir>.repair-N`.
fn backup(fs: &dyn FileSystem, dir: &Path) -> Result<PathBuf, WalRepairError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WalRepairError::Io { path, source }
    };
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("wal");
    let mut n = 1;
    let target = loop {
        let candidate = dir.with_file_name(format!("{name}.repair-{n}"));
        if !fs.exists(&candidate).map_err(io(&candidate))? {
            break candidate;
        }
        n += 1;
    };
    fs.create_dir_all(&target).map_err(io(&target))?;
    for seq in segments(fs, dir)? {
        let from = segment_path(dir, seq);
        let to = segment_path(&target, seq);
        let bytes = read_all(fs.open(&from).map_err(io(&from))?.as_ref()).map_err(io(&from))?;
        let copy = fs.create(&to).map_err(io(&to))?;
        write_all_at(copy.as_ref(), &bytes, 0).map_err(io(&to))?;
        copy.sync_all().map_err(io(&to))?;
    }
    fs.sync_dir(&target).map_err(io(&target))?;
    if let Some(parent) = target.parent() {
        fs.sync_dir(parent).map_err(io(parent))?;
    }
    tracing::warn!(backup = %target.display(), "repair: copied the WAL before cutting it");
    Ok(target)
}

/// Discards `file` from `offset` on, and every later segment. Damage in the
/// header or checkpoint frame removes the whole segment.
fn cut(
    fs: &dyn FileSystem,
    dir: &Path,
    file: &Path,
    offset: u64,
    segment_bytes: u64,
) -> Result<u64, WalRepairError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WalRepairError::Io { path, source }
    };
    let seqs = segments(fs, dir)?;
    let damaged = seqs.iter().copied().find(|&s| segment_path(dir, s) == file);
    let Some(damaged) = damaged else {
        return Err(WalRepairError::Unrepairable(WalOpenError::Corrupt {
            file: file.to_path_buf(),
            offset,
            reason: crate::CorruptReason::HeaderTruncated,
        }));
    };
    let whole_segment = offset <= HEADER_LEN as u64;
    let mut removed = 0;
    for &seq in seqs
        .iter()
        .rev()
        .filter(|&&s| s > damaged || (s == damaged && whole_segment))
    {
        let path = segment_path(dir, seq);
        fs.remove_file(&path).map_err(io(&path))?;
        fs.sync_dir(dir).map_err(io(dir))?;
        removed += 1;
    }
    if !whole_segment {
        let handle = fs.open(file).map_err(io(file))?;
        let len = handle.size_bytes().map_err(io(file))?;
        handle.set_len(offset).map_err(io(file))?;
        handle.set_len(len.max(segment_bytes)).map_err(io(file))?;
        handle.sync_all().map_err(io(file))?;
    }
    Ok(removed)
}
