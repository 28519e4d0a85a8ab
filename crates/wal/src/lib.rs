//! quorate-wal: the durable write-ahead log of a quorate node, shared by
//! every Raft group on it (multi-raft).
//!
//! * **Format.** Preallocated segment files (default 64 MiB) with a versioned
//!   header (magic, format version, node id, cluster id). Each group commit is
//!   one *frame* (header with sequence number and CRC32C) of *records*
//!   (length + CRC32C): entries, hard state, suffix truncation, compaction,
//!   snapshot metadata, plus internal checkpoint, relocation and seal
//!   records. The byte layout is drawn in `DESIGN.md`.
//! * **Group commit.** [`Wal::submit`] queues a [`WalBatch`]; a dedicated
//!   writer thread takes everything queued, writes it with one `pwrite` and
//!   one `fdatasync`, and then calls each batch's callback. From async code,
//!   send on a oneshot channel in the callback; nothing blocks the executor.
//! * **Reads.** [`Wal::group_log`] returns a [`GroupLog`] implementing
//!   [`quorate_core::LogStore`] from an in-memory index and a payload cache.
//!   Entries become visible once durable, never before.
//! * **Space.** Compacted segments are deleted; a slow group pinning an old
//!   segment has its few live entries relocated, keeping disk use at most
//!   2 × live bytes + 4 × `segment_bytes`.
//! * **Snapshots.** [`Wal::snapshots`] returns a per-group [`SnapshotStore`].
//! * **Recovery.** On open every CRC is verified. A torn write at the tail of
//!   the newest segment is cut off with a warning; damage anywhere else is
//!   [`WalOpenError::Corrupt`] naming file and offset ([`Wal::repair`] cuts
//!   there after backing up). A failed write or fsync aborts the process; a
//!   full disk is [`WalWriteError::DiskFull`] and the log stays readable.
//!
//! Tests: `cargo test -p quorate-wal` (includes short crash and corruption
//! runs). The full crash harness, 200 SIGKILL cycles:
//!
//! ```text
//! QUORATE_WAL_CRASH_CYCLES=200 cargo test --release -p quorate-wal --test crash -- --nocapture
//! ```
//!
//! Benchmark: `cargo bench -p quorate-wal --bench append` (results in the
//! repository's BENCHMARKS.md).

mod batch;
mod error;
mod fault_fs;
mod format;
mod fs;
mod gc;
mod group_log;
mod record;
mod recovery;
mod repair;
mod segment;
mod shared;
mod snapshot;
mod state;
mod wal;
mod writer;

pub use batch::WalBatch;
pub use error::{
    BatchError, CorruptReason, SnapshotError, WalOpenError, WalRepairError, WalWriteError,
};
pub use fault_fs::{FaultFs, FaultKind};
pub use fs::{FileSystem, RealFs, WalFile};
pub use group_log::GroupLog;
pub use record::SnapshotFileRef;
pub use recovery::{RecoveryReport, TruncatedTail};
pub use repair::RepairReport;
pub use shared::{WalCallback, WalStats};
pub use snapshot::{SnapshotFile, SnapshotStore, SNAPSHOTS_KEPT};
pub use wal::{
    Wal, WalOptions, CACHE_BYTES_PER_GROUP_DEFAULT, FRAME_BYTES_DEFAULT, QUEUE_BYTES_DEFAULT,
    SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MIN,
};
