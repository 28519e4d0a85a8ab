//! State shared by the [`crate::Wal`] handle, its [`crate::GroupLog`] readers
//! and the writer thread.
//!
//! Lock order: a group's state, then the segment map; the queue is never held
//! together with either. Only the writer thread mutates group states and the
//! segment map, and only after the bytes are durable.

use crate::batch::{GroupView, WalBatch};
use crate::error::WalWriteError;
use crate::fs::{FileSystem, WalFile};
use crate::state::GroupState;
use crate::WalOptions;
use quorate_core::GroupId;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Called once a submitted batch is durable (`Ok`) or was refused (`Err`).
/// Runs on the writer thread: keep it short (send on a channel, wake a task).
pub type WalCallback = Box<dyn FnOnce(Result<(), WalWriteError>) + Send + 'static>;

pub(crate) struct Pending {
    pub batch: WalBatch,
    pub bytes: u64,
    pub callback: WalCallback,
}

/// Batches waiting for the writer, bounded by `queue_bytes_max`.
pub(crate) struct Queue {
    pub pending: VecDeque<Pending>,
    pub pending_bytes: u64,
    /// Every group's bounds as they will be once all pending batches are
    /// durable; submit validates against them.
    pub views: HashMap<GroupId, GroupView>,
    pub closed: bool,
}

/// Counters for monitoring and the benchmark.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub frames: AtomicU64,
    pub syncs: AtomicU64,
    pub bytes: AtomicU64,
    pub batches: AtomicU64,
    pub relocated_entries: AtomicU64,
    pub segments_deleted: AtomicU64,
}

/// A snapshot of the WAL's counters since open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalStats {
    /// Frames written (one per group commit, plus rotations and relocations).
    pub frames: u64,
    /// `fdatasync`/`fsync` calls on segment files and the directory.
    pub syncs: u64,
    /// Bytes written to segment files.
    pub bytes: u64,
    /// Batches made durable.
    pub batches: u64,
    /// Segment files currently on disk.
    pub segments: u64,
    /// Live entries copied out of old segments to free them.
    pub relocated_entries: u64,
    /// Segment files deleted.
    pub segments_deleted: u64,
}

pub(crate) struct Shared {
    pub dir: PathBuf,
    pub fs: Arc<dyn FileSystem>,
    pub options: WalOptions,
    pub groups: RwLock<HashMap<GroupId, Arc<RwLock<GroupState>>>>,
    pub segments: RwLock<BTreeMap<u64, Arc<dyn WalFile>>>,
    pub queue: Mutex<Queue>,
    pub queue_ready: Condvar,
    pub counters: Counters,
    /// The writer waits for space (`WalOptions::disk_full_retry`).
    pub disk_full: AtomicBool,
}

impl Shared {
    /// The state of `group`, created empty on first use.
    pub(crate) fn group(&self, group: GroupId) -> Arc<RwLock<GroupState>> {
        if let Some(state) = self
            .groups
            .read()
            .expect("groups lock poisoned")
            .get(&group)
        {
            return Arc::clone(state);
        }
        let mut groups = self.groups.write().expect("groups lock poisoned");
        Arc::clone(groups.entry(group).or_default())
    }

    pub(crate) fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().expect("queue lock poisoned")
    }

    /// Views computed from durable state (valid when nothing is pending).
    pub(crate) fn durable_views(&self) -> HashMap<GroupId, GroupView> {
        let groups = self.groups.read().expect("groups lock poisoned");
        groups
            .iter()
            .map(|(&group, state)| {
                let state = read(state);
                let view = GroupView {
                    snapshot_index: state.snapshot_index(),
                    last_index: state.last_index(),
                    hard_state: state.hard_state,
                };
                (group, view)
            })
            .collect()
    }

    pub(crate) fn stats(&self) -> WalStats {
        let c = &self.counters;
        WalStats {
            frames: c.frames.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            segments: self.segments.read().expect("segments lock poisoned").len() as u64,
            relocated_entries: c.relocated_entries.load(Ordering::Relaxed),
            segments_deleted: c.segments_deleted.load(Ordering::Relaxed),
        }
    }
}

pub(crate) fn read(state: &RwLock<GroupState>) -> RwLockReadGuard<'_, GroupState> {
    state.read().expect("group lock poisoned")
}

pub(crate) fn write(state: &RwLock<GroupState>) -> RwLockWriteGuard<'_, GroupState> {
    state.write().expect("group lock poisoned")
}

pub(crate) fn count(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}
