//! Typed errors, one enum per operation. Each message says what to do next.

use quorate_core::{GroupId, Index, NodeId, Term};
use std::io;
use std::path::PathBuf;

/// Why [`crate::Wal::open`] refused to open a log directory. Nothing on disk
/// was changed except, for [`WalOpenError::Corrupt`] never, a torn tail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalOpenError {
    #[error("cannot access {path}: {source}; check the path and its permissions")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is locked by another process; stop it or pick another directory")]
    Locked { path: PathBuf },
    /// `needed` is the size of the segment file that did not fit (0 when
    /// the disk filled elsewhere).
    #[error("the disk holding {path} is full ({needed} bytes needed for a WAL segment); free space, or lower the segment size (quorate serve --wal-segment-bytes), and reopen")]
    DiskFull { path: PathBuf, needed: u64 },
    #[error("corrupt WAL at {file}:{offset}: {reason}; restore from a replica or run Wal::repair (see DESIGN.md)")]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: CorruptReason,
    },
    #[error("{file} belongs to node {found}, not {expected}; point the node at its own directory")]
    NodeIdMismatch {
        file: PathBuf,
        expected: NodeId,
        found: NodeId,
    },
    #[error(
        "{file} belongs to cluster {found}, not {expected}; point the node at its own directory"
    )]
    ClusterIdMismatch {
        file: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error(
        "{file} has format version {version}, this build reads {supported}; upgrade the binary"
    )]
    UnsupportedVersion {
        file: PathBuf,
        version: u32,
        supported: u32,
    },
    #[error("invalid WAL options: {field} must be at least {min}, got {value}")]
    InvalidOptions {
        field: &'static str,
        min: u64,
        value: u64,
    },
}

/// What exactly was wrong with the bytes at a reported offset.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptReason {
    #[error("segment header has a bad magic number")]
    HeaderMagic,
    #[error("segment header checksum mismatch")]
    HeaderChecksum,
    #[error("segment header names sequence {found}, the file name says {expected}")]
    HeaderSequence { expected: u64, found: u64 },
    #[error("file is shorter than a segment header")]
    HeaderTruncated,
    #[error("file is shorter than its preallocated size; something truncated it")]
    FileShortened,
    #[error("frame header is damaged (magic or checksum)")]
    FrameHeader,
    #[error("frame runs past the end of the file")]
    FrameTruncated,
    #[error("record is malformed or fails its checksum")]
    Record,
    #[error("entry payload fails its checksum")]
    EntryChecksum,
    #[error("unknown record kind {kind}")]
    RecordKind { kind: u8 },
    #[error("frame sequence jumps from {expected} to {found}")]
    FrameSequence { expected: u64, found: u64 },
    #[error("segment {found} follows segment {expected}; a segment is missing")]
    SegmentMissing { expected: u64, found: u64 },
    #[error("an older segment ends without its seal record")]
    MissingSeal,
    #[error("a seal record is not alone in the last frame or names the wrong successor")]
    BadSeal,
    #[error("the segment does not start with a checkpoint frame, or a checkpoint appears later")]
    Checkpoint,
    #[error("a valid frame follows damaged bytes, so the damage is not a torn tail")]
    DamageBeforeValidData,
    #[error("record contradicts the log of {group}: {rule}")]
    Inconsistent { group: GroupId, rule: &'static str },
    #[error("segment checkpoint for {group} disagrees with the replayed log")]
    CheckpointMismatch { group: GroupId },
    #[error("entry {index} of {group} lives in a segment that was deleted")]
    EntryLost { group: GroupId, index: Index },
}

/// A batch the caller built wrongly; it was not written. These are bugs in
/// the caller (the runtime must follow the core's `Ready`), reported as values
/// so the runtime can stop the group cleanly.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    #[error("{group}: entries starting at {first} leave a gap after last index {last}")]
    Gap {
        group: GroupId,
        first: Index,
        last: Index,
    },
    #[error("{group}: index {index} is at or below the snapshot at {snapshot}")]
    BelowSnapshot {
        group: GroupId,
        index: Index,
        snapshot: Index,
    },
    #[error("{group}: entry {index} does not follow the previous entry of the same append")]
    NotContiguous { group: GroupId, index: Index },
    #[error("{group}: term {term} at {index} is lower than the entry before it")]
    TermRegressed {
        group: GroupId,
        index: Index,
        term: Term,
    },
    #[error(
        "{group}: truncating from {from} would remove entries up to commit_index {commit_index}"
    )]
    TruncateCommitted {
        group: GroupId,
        from: Index,
        commit_index: Index,
    },
    #[error("{group}: {index} is past last index {last}")]
    PastEnd {
        group: GroupId,
        index: Index,
        last: Index,
    },
    #[error("{group}: hard state regresses (term or commit_index goes back)")]
    HardStateRegressed { group: GroupId },
    #[error("snapshot file name is longer than {limit} bytes")]
    SnapshotNameTooLong { limit: usize },
}

/// Why a submitted batch did not become durable. Nothing of the batch was
/// acknowledged; after [`WalWriteError::DiskFull`] the log stays readable and
/// later batches may succeed once space is freed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalWriteError {
    #[error("the disk holding {path} is full; free space (or compact groups) and retry")]
    DiskFull { path: PathBuf },
    #[error("invalid batch: {0}")]
    InvalidBatch(#[from] BatchError),
    #[error("the batch encodes to {bytes} bytes, more than segment_bytes ({limit}); split it")]
    BatchTooLarge { bytes: u64, limit: u64 },
    #[error("{pending_bytes} bytes already wait for the writer, queue_bytes_max is {limit}; wait for acknowledgements and retry")]
    QueueFull { pending_bytes: u64, limit: u64 },
    #[error("the WAL is closed")]
    Closed,
}

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    #[error("cannot access {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot read snapshot input: {source}")]
    Input { source: io::Error },
    #[error("the disk holding {path} is full; free space and retry")]
    DiskFull { path: PathBuf },
    #[error("snapshot file {path} is corrupt ({reason}); use the older snapshot or fetch one from the leader")]
    Corrupt { path: PathBuf, reason: &'static str },
}

/// Why [`crate::Wal::repair`] could not repair a directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalRepairError {
    #[error("cannot access {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the damage cannot be repaired by truncation: {0}")]
    Unrepairable(WalOpenError),
    #[error("the backup directory {path} already exists; move it away first")]
    BackupExists { path: PathBuf },
}

/// Maps an I/O error to "disk full" when it is one.
pub(crate) fn is_disk_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || error.raw_os_error() == Some(libc::ENOSPC)
}

/// Stops the process after a failed write or sync of log data.
///
/// After `fsync` reports EIO the kernel may have dropped the dirty pages and
/// marked them clean, so a retry can "succeed" without the data ever reaching
/// the disk (the 2018 PostgreSQL fsync incident). The only safe reaction is to
/// crash and recover from what is verifiably on disk.
pub(crate) fn fatal_io(what: &str, path: &std::path::Path, error: &io::Error) -> ! {
    tracing::error!(path = %path.display(), %error, "quorate-wal: {what} failed; aborting to avoid acknowledging lost data");
    eprintln!(
        "quorate-wal: FATAL: {what} failed on {}: {error}; aborting (no retry after a failed write or fsync)",
        path.display()
    );
    std::process::abort()
}
