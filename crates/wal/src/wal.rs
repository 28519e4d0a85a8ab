//! [`Wal`]: opening a log directory, submitting batches, reading groups.

use crate::batch::{validate, WalBatch};
use crate::error::{fatal_io, is_disk_full, WalOpenError, WalWriteError};
use crate::format::HEADER_LEN;
use crate::fs::{write_all_at, FileSystem, RealFs};
use crate::group_log::GroupLog;
use crate::recovery::{recover, Recovered, RecoveryReport};
use crate::segment::{prepare_segment, publish_segment, segment_path};
use crate::shared::{Counters, Pending, Queue, Shared, WalStats};
use crate::snapshot::SnapshotStore;
use crate::writer::Writer;
use quorate_core::{GroupId, HardState, NodeId};
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

/// Default size of a segment file (preallocated).
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 << 20;
/// Smallest allowed segment (tests use tiny segments to exercise rotation).
pub const SEGMENT_BYTES_MIN: u64 = 4096;
/// Default payload cache per group.
pub const CACHE_BYTES_PER_GROUP_DEFAULT: u64 = 1 << 20;
/// Default bound on bytes waiting for the writer.
pub const QUEUE_BYTES_DEFAULT: u64 = 256 << 20;
/// Default bound on one group-commit frame.
pub const FRAME_BYTES_DEFAULT: u64 = 16 << 20;

/// How to open a WAL. Build with [`WalOptions::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// This node; every segment header must name it.
    pub node_id: NodeId,
    /// This cluster; every segment header must name it.
    pub cluster_id: u64,
    /// Size each segment is preallocated to; a batch may use at most half.
    pub segment_bytes: u64,
    /// Recent payloads kept in memory per group, in bytes.
    pub cache_bytes_per_group_max: u64,
    /// Bytes of submitted, not yet durable batches; beyond it `submit`
    /// returns [`WalWriteError::QueueFull`].
    pub queue_bytes_max: u64,
    /// Bytes one group commit takes from the queue (at least one batch).
    pub frame_bytes_max: u64,
    /// What a write that finds the disk full does. `None` refuses the
    /// batches with [`WalWriteError::DiskFull`] (the log stays usable).
    /// `Some(wait)` keeps them queued and retries every `wait` until space
    /// returns, acknowledging nothing meanwhile; [`Wal::disk_full`] says so.
    /// A server wants the latter: a node whose disk filled stops
    /// acknowledging, and resumes by itself once space is freed.
    pub disk_full_retry: Option<std::time::Duration>,
}

impl WalOptions {
    pub fn new(node_id: NodeId, cluster_id: u64) -> WalOptions {
        WalOptions {
            node_id,
            cluster_id,
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            cache_bytes_per_group_max: CACHE_BYTES_PER_GROUP_DEFAULT,
            queue_bytes_max: QUEUE_BYTES_DEFAULT,
            frame_bytes_max: FRAME_BYTES_DEFAULT,
            disk_full_retry: None,
        }
    }

    fn validate(&self) -> Result<(), WalOpenError> {
        let too_small = |field, min, value| Err(WalOpenError::InvalidOptions { field, min, value });
        if self.segment_bytes < SEGMENT_BYTES_MIN {
            return too_small("segment_bytes", SEGMENT_BYTES_MIN, self.segment_bytes);
        }
        if self.node_id.is_none() {
            return too_small("node_id", 1, 0);
        }
        if self.frame_bytes_max < 1 {
            return too_small("frame_bytes_max", 1, 0);
        }
        Ok(())
    }

    /// Largest batch accepted: half a segment, so a batch plus a checkpoint
    /// always fits a fresh segment.
    pub fn batch_bytes_max(&self) -> u64 {
        self.segment_bytes / 2
    }
}

/// The write-ahead log of one node, shared by all its Raft groups.
///
/// Dropping it (or [`Wal::close`]) finishes every submitted batch first.
pub struct Wal {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    report: RecoveryReport,
    _lock: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> WalOpenError + '_ {
    move |source| {
        if is_disk_full(&source) {
            WalOpenError::DiskFull {
                path: path.to_path_buf(),
                needed: 0,
            }
        } else {
            WalOpenError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

impl Wal {
    /// Opens (or creates) the WAL in `dir` on the real file system.
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<Wal, WalOpenError> {
        Wal::open_with_fs(Arc::new(RealFs), dir, options)
    }

    /// Opens through a given file system (tests pass a [`crate::FaultFs`]).
    pub fn open_with_fs(
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
        options: WalOptions,
    ) -> Result<Wal, WalOpenError> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs.create_dir_all(&dir).map_err(io_error(&dir))?;
        // A directory entry is durable only once its parent is synced: a
        // crash could otherwise lose `wal/` with every segment in it.
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs.sync_dir(parent).map_err(io_error(parent))?;
        }
        let lock_path = dir.join("LOCK");
        let lock = fs.lock(&lock_path).map_err(|source| match source.kind() {
            std::io::ErrorKind::WouldBlock => WalOpenError::Locked { path: dir.clone() },
            _ => WalOpenError::Io {
                path: lock_path.clone(),
                source,
            },
        })?;
        let recovered = recover(fs.as_ref(), &dir, &options)?;
        let report = recovered.report.clone();
        let writer = start_writer(fs, dir, options, recovered)?;
        let shared = Arc::clone(&writer.shared);
        let handle = std::thread::Builder::new()
            .name("quorate-wal-writer".into())
            .spawn(move || writer.run())
            .map_err(|source| WalOpenError::Io {
                path: shared.dir.clone(),
                source,
            })?;
        tracing::info!(dir = %shared.dir.display(), segments = report.segments, groups = report.groups, "WAL opened");
        Ok(Wal {
            shared,
            writer: Some(handle),
            report,
            _lock: lock,
        })
    }

    /// What recovery found on open.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// A handle on one group's log (created empty if new).
    pub fn group_log(&self, group: GroupId) -> GroupLog {
        GroupLog::new(Arc::clone(&self.shared), group)
    }

    /// The durable hard state of `group` (default if never written).
    pub fn hard_state(&self, group: GroupId) -> HardState {
        self.group_log(group).hard_state()
    }

    /// Every group with durable state, in ascending order.
    pub fn groups(&self) -> Vec<GroupId> {
        let groups = self.shared.groups.read().expect("groups lock poisoned");
        let mut ids: Vec<GroupId> = groups
            .iter()
            .filter(|(_, state)| !crate::shared::read(state).is_empty())
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The snapshot store of `group`.
    pub fn snapshots(&self, group: GroupId) -> SnapshotStore {
        SnapshotStore::new(Arc::clone(&self.shared.fs), &self.shared.dir, group)
    }

    /// Counters since open.
    pub fn stats(&self) -> WalStats {
        self.shared.stats()
    }

    /// Queues `batch`; `callback` runs on the writer thread once the batch
    /// is durable (with every batch queued alongside it: one write, one
    /// `fdatasync`) or failed. An `Err` here means the batch was refused
    /// up front and the callback will not run. Never blocks on I/O.
    pub fn submit(
        &self,
        batch: WalBatch,
        callback: impl FnOnce(Result<(), WalWriteError>) + Send + 'static,
    ) -> Result<(), WalWriteError> {
        let bytes = batch.encoded_bytes();
        let limit = self.shared.options.batch_bytes_max();
        if bytes > limit {
            return Err(WalWriteError::BatchTooLarge { bytes, limit });
        }
        let mut queue = self.shared.lock_queue();
        if queue.closed {
            return Err(WalWriteError::Closed);
        }
        let limit = self.shared.options.queue_bytes_max;
        if !queue.pending.is_empty() && queue.pending_bytes + bytes > limit {
            return Err(WalWriteError::QueueFull {
                pending_bytes: queue.pending_bytes,
                limit,
            });
        }
        validate(&mut queue.views, &batch)?;
        queue.pending_bytes += bytes;
        queue.pending.push_back(Pending {
            batch,
            bytes,
            callback: Box::new(callback),
        });
        drop(queue);
        self.shared.queue_ready.notify_one();
        Ok(())
    }

    /// The largest batch [`Wal::submit`] accepts, in encoded bytes.
    pub fn batch_bytes_max(&self) -> u64 {
        self.shared.options.batch_bytes_max()
    }

    /// True while the writer waits for space to write a frame (see
    /// [`WalOptions::disk_full_retry`]): nothing is being acknowledged.
    pub fn disk_full(&self) -> bool {
        self.shared
            .disk_full
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Submits `batch` and blocks until it is durable. Not for async code:
    /// use [`Wal::submit`] with a channel there.
    pub fn write(&self, batch: WalBatch) -> Result<(), WalWriteError> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.submit(batch, move |result| {
            // The receiver waits below; a send error means it is gone.
            let _ = sender.send(result);
        })?;
        receiver.recv().unwrap_or(Err(WalWriteError::Closed))
    }

    /// Finishes every submitted batch and stops the writer thread.
    pub fn close(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.shared.lock_queue().closed = true;
        self.shared.queue_ready.notify_all();
        if let Some(handle) = self.writer.take() {
            if handle.join().is_err() {
                tracing::error!("the WAL writer thread panicked");
            }
        }
    }

    /// The directory this WAL lives in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Builds shared state from recovery and readies the active segment:
/// zeroes a discarded torn tail, or creates a segment when there is none or
/// the newest is sealed.
fn start_writer(
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    options: WalOptions,
    recovered: Recovered,
) -> Result<Writer, WalOpenError> {
    let Recovered {
        groups,
        usage,
        segments,
        tail,
        next_frame_seq,
        ..
    } = recovered;
    let groups: HashMap<_, _> = groups
        .into_iter()
        .map(|(g, s)| (g, Arc::new(RwLock::new(s))))
        .collect();
    let shared = Arc::new(Shared {
        dir,
        fs,
        options,
        groups: RwLock::new(groups),
        segments: RwLock::new(segments),
        queue: Mutex::new(Queue {
            pending: VecDeque::new(),
            pending_bytes: 0,
            views: HashMap::new(),
            closed: false,
        }),
        queue_ready: Condvar::new(),
        counters: Counters::default(),
        disk_full: std::sync::atomic::AtomicBool::new(false),
    });
    shared.lock_queue().views = shared.durable_views();
    let placeholder = match shared
        .segments
        .read()
        .expect("segments lock poisoned")
        .values()
        .next_back()
    {
        Some(file) => Arc::clone(file),
        None => Arc::new(NoFile),
    };
    let mut writer = Writer {
        shared: Arc::clone(&shared),
        active_seq: 0,
        active: placeholder,
        write_offset: 0,
        checkpoint_end: 0,
        next_frame_seq,
        usage,
        frame: Vec::new(),
        data_starts: Vec::new(),
    };
    match tail {
        Some(tail) if !tail.sealed => {
            writer.active_seq = tail.seq;
            writer.write_offset = tail.write_offset;
            // Any frame after the header may be rotated away from.
            writer.checkpoint_end = HEADER_LEN as u64;
            zero_torn_tail(&writer, tail.write_offset, tail.dirty_end);
        }
        Some(tail) => create_next_segment(&mut writer, tail.seq + 1)?,
        None => create_next_segment(&mut writer, 1)?,
    }
    Ok(writer)
}

/// Overwrites a discarded torn write with zeros so no stale bytes can ever
/// be mistaken for a frame, then syncs.
fn zero_torn_tail(writer: &Writer, from: u64, to: u64) {
    if to <= from {
        return;
    }
    let path = segment_path(&writer.shared.dir, writer.active_seq);
    let zeros = vec![0u8; usize::try_from(to - from).expect("tail fits memory")];
    if let Err(error) = write_all_at(writer.active.as_ref(), &zeros, from) {
        fatal_io("zeroing a torn tail", &path, &error);
    }
    if let Err(error) = writer.active.sync_data() {
        fatal_io("fdatasync after zeroing a torn tail", &path, &error);
    }
}

fn create_next_segment(writer: &mut Writer, seq: u64) -> Result<(), WalOpenError> {
    let checkpoint = writer.checkpoint(writer.next_frame_seq);
    let header = writer.header(seq);
    let fs = Arc::clone(&writer.shared.fs);
    let dir = writer.shared.dir.clone();
    let file = prepare_segment(fs.as_ref(), &dir, &header, &checkpoint).map_err(|_| {
        WalOpenError::DiskFull {
            path: segment_path(&dir, seq),
            needed: header.segment_bytes,
        }
    })?;
    publish_segment(fs.as_ref(), &dir, seq);
    writer
        .shared
        .segments
        .write()
        .expect("segments lock poisoned")
        .insert(seq, Arc::clone(&file));
    writer.active = file;
    writer.active_seq = seq;
    writer.write_offset = (HEADER_LEN + checkpoint.len()) as u64;
    writer.checkpoint_end = writer.write_offset;
    writer.next_frame_seq += 1;
    Ok(())
}

/// Stands in for the active file until the real one is chosen.
struct NoFile;

impl crate::fs::WalFile for NoFile {
    fn read_at(&self, _: &mut [u8], _: u64) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::NotFound.into())
    }
    fn write_at(&self, _: &[u8], _: u64) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::NotFound.into())
    }
    fn sync_data(&self) -> std::io::Result<()> {
        Err(std::io::ErrorKind::NotFound.into())
    }
    fn sync_all(&self) -> std::io::Result<()> {
        Err(std::io::ErrorKind::NotFound.into())
    }
    fn size_bytes(&self) -> std::io::Result<u64> {
        Ok(0)
    }
    fn set_len(&self, _: u64) -> std::io::Result<()> {
        Err(std::io::ErrorKind::NotFound.into())
    }
    fn allocate(&self, _: u64) -> std::io::Result<()> {
        Err(std::io::ErrorKind::NotFound.into())
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
    assert_send_sync::<GroupLog>();
};
