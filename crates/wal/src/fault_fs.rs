//! [`FaultFs`]: an in-memory [`FileSystem`] that injects faults (short
//! writes, write errors, fsync errors, a full disk) and simulates power loss.
//!
//! Model of the medium: a write lands in a volatile cache; `sync_data` /
//! `sync_all` make a file's bytes durable; creates, renames and removals are
//! durable only after `sync_dir` of their directory. [`FaultFs::crash`]
//! returns the file system as it would be found after power loss: durable
//! bytes, plus any subset of unsynced writes, each possibly torn at a
//! 512-byte sector boundary.

use crate::fs::{FileSystem, WalFile};
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

const SECTOR_BYTES: u64 = 512;

/// Which error an injected write failure raises.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FaultKind {
    /// `EIO`: the process must abort.
    Eio,
    /// `ENOSPC`: a typed "disk full" error.
    Enospc,
}

impl FaultKind {
    fn error(self) -> io::Error {
        match self {
            FaultKind::Eio => io::Error::from_raw_os_error(libc::EIO),
            FaultKind::Enospc => io::Error::from_raw_os_error(libc::ENOSPC),
        }
    }
}

#[derive(Default)]
struct Faults {
    /// Remaining successful `write_at` calls before one fails.
    writes_left: Option<(u64, FaultKind)>,
    /// Remaining successful syncs before one fails with EIO.
    syncs_left: Option<u64>,
    short_writes: bool,
    /// Total file bytes allowed; growth beyond fails with ENOSPC.
    space_bytes_max: Option<u64>,
}

#[derive(Clone, Default)]
struct Inode {
    current: Vec<u8>,
    durable: Vec<u8>,
    /// Writes since the last sync, in order: (offset, length).
    unsynced: Vec<(u64, u64)>,
}

#[derive(Default)]
struct State {
    inodes: BTreeMap<u64, Inode>,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    next_inode: u64,
    faults: Faults,
    locks: HashSet<PathBuf>,
}

/// The in-memory, fault-injecting file system. Clones share state.
#[derive(Clone, Default)]
pub struct FaultFs {
    state: Arc<Mutex<State>>,
}

struct FaultFile {
    fs: FaultFs,
    inode: u64,
}

struct FaultLock {
    fs: FaultFs,
    path: PathBuf,
}

impl Drop for FaultLock {
    fn drop(&mut self) {
        self.fs.lock_state().locks.remove(&self.path);
    }
}

/// A small deterministic generator (SplitMix64) so crashes replay by seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl FaultFs {
    pub fn new() -> FaultFs {
        FaultFs::default()
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fault fs lock poisoned")
    }

    /// Lets `n` more writes succeed, then fails every write with `kind`.
    pub fn fail_writes_after(&self, n: u64, kind: FaultKind) {
        self.lock_state().faults.writes_left = Some((n, kind));
    }

    /// Lets `n` more syncs succeed, then fails every sync with EIO.
    pub fn fail_syncs_after(&self, n: u64) {
        self.lock_state().faults.syncs_left = Some(n);
    }

    /// Makes every write store at most half its bytes (at least one).
    pub fn set_short_writes(&self, on: bool) {
        self.lock_state().faults.short_writes = on;
    }

    /// Caps the total bytes of all files; growth beyond fails with ENOSPC.
    pub fn set_space_limit(&self, bytes: Option<u64>) {
        self.lock_state().faults.space_bytes_max = bytes;
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.lock_state().faults = Faults::default();
    }

    /// Total bytes of all files.
    pub fn used_bytes(&self) -> u64 {
        let state = self.lock_state();
        let linked: BTreeSet<u64> = state.names.values().copied().collect();
        linked
            .iter()
            .map(|id| state.inodes[id].current.len() as u64)
            .sum()
    }

    /// The current bytes of a file.
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.lock_state();
        let inode = state.names.get(path)?;
        Some(state.inodes[inode].current.clone())
    }

    /// Replaces a file's bytes durably (for corruption tests).
    pub fn set_file_bytes(&self, path: &Path, bytes: Vec<u8>) {
        let mut state = self.lock_state();
        let id = *state.names.get(path).expect("file exists");
        let inode = state.inodes.get_mut(&id).expect("inode exists");
        inode.current = bytes.clone();
        inode.durable = bytes;
        inode.unsynced.clear();
    }

    /// Paths of all files, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        self.lock_state().names.keys().cloned().collect()
    }

    /// The file system as found after a power loss at this instant; `seed`
    /// picks which unsynced writes survive and where they tear.
    pub fn crash(&self, seed: u64) -> FaultFs {
        let state = self.lock_state();
        let mut rng = SplitMix(seed);
        let mut inodes = BTreeMap::new();
        for (&id, inode) in &state.inodes {
            let mut bytes = inode.durable.clone();
            for &(offset, len) in &inode.unsynced {
                let sectors = len.div_ceil(SECTOR_BYTES).max(1);
                let kept = match rng.next() % 3 {
                    0 => 0,
                    1 => sectors,
                    _ => rng.next() % (sectors + 1),
                };
                let end = (offset + (kept * SECTOR_BYTES).min(len)).min(inode.current.len() as u64);
                if end > offset {
                    let (start, end) = (offset as usize, end as usize);
                    if bytes.len() < end {
                        bytes.resize(end, 0);
                    }
                    bytes[start..end].copy_from_slice(&inode.current[start..end]);
                }
            }
            inodes.insert(
                id,
                Inode {
                    current: bytes.clone(),
                    durable: bytes,
                    unsynced: Vec::new(),
                },
            );
        }
        let names = state.durable_names.clone();
        let fresh = State {
            inodes,
            names: names.clone(),
            durable_names: names,
            dirs: state.dirs.clone(),
            next_inode: state.next_inode,
            faults: Faults::default(),
            locks: HashSet::new(),
        };
        FaultFs {
            state: Arc::new(Mutex::new(fresh)),
        }
    }

    fn with_inode<T>(
        &self,
        inode: u64,
        f: impl FnOnce(&mut Inode, &mut Faults, u64) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut state = self.lock_state();
        let linked: BTreeSet<u64> = state.names.values().copied().collect();
        let used: u64 = linked
            .iter()
            .map(|id| state.inodes[id].current.len() as u64)
            .sum();
        let State { inodes, faults, .. } = &mut *state;
        let node = inodes.get_mut(&inode).ok_or(io::ErrorKind::NotFound)?;
        f(node, faults, used)
    }
}

fn grow_allowed(faults: &Faults, used: u64, old_len: u64, new_len: u64) -> io::Result<()> {
    match faults.space_bytes_max {
        Some(max) if new_len > old_len && used + (new_len - old_len) > max => {
            Err(FaultKind::Enospc.error())
        }
        _ => Ok(()),
    }
}

fn take_sync(faults: &mut Faults) -> io::Result<()> {
    match &mut faults.syncs_left {
        Some(0) => Err(FaultKind::Eio.error()),
        Some(n) => {
            *n -= 1;
            Ok(())
        }
        None => Ok(()),
    }
}

impl WalFile for FaultFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.fs.with_inode(self.inode, |inode, _, _| {
            let len = inode.current.len() as u64;
            if offset >= len {
                return Ok(0);
            }
            let n = (buf.len() as u64).min(len - offset) as usize;
            buf[..n].copy_from_slice(&inode.current[offset as usize..offset as usize + n]);
            Ok(n)
        })
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.fs.with_inode(self.inode, |inode, faults, used| {
            if let Some((left, kind)) = &mut faults.writes_left {
                if *left == 0 {
                    return Err(kind.error());
                }
                *left -= 1;
            }
            let n = if faults.short_writes && buf.len() > 1 {
                buf.len() / 2
            } else {
                buf.len()
            };
            let end = offset + n as u64;
            grow_allowed(faults, used, inode.current.len() as u64, end)?;
            if inode.current.len() < end as usize {
                inode.current.resize(end as usize, 0);
            }
            inode.current[offset as usize..end as usize].copy_from_slice(&buf[..n]);
            inode.unsynced.push((offset, n as u64));
            Ok(n)
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.fs.with_inode(self.inode, |inode, faults, _| {
            take_sync(faults)?;
            inode.durable = inode.current.clone();
            inode.unsynced.clear();
            Ok(())
        })
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn size_bytes(&self) -> io::Result<u64> {
        self.fs
            .with_inode(self.inode, |inode, _, _| Ok(inode.current.len() as u64))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.fs.with_inode(self.inode, |inode, faults, used| {
            let old = inode.current.len() as u64;
            grow_allowed(faults, used, old, len)?;
            inode.current.resize(len as usize, 0);
            if len > old {
                inode.unsynced.push((old, len - old));
            }
            Ok(())
        })
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        if len > self.size_bytes()? {
            self.set_len(len)?;
        }
        Ok(())
    }
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl FileSystem for FaultFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock_state();
        for ancestor in path.ancestors() {
            state.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let state = self.lock_state();
        if !state.dirs.contains(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        let files = state.names.keys().filter(|p| p.parent() == Some(path));
        let dirs = state.dirs.iter().filter(|p| p.parent() == Some(path));
        let mut names: Vec<String> = files
            .chain(dirs)
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn WalFile>> {
        let inode = *self
            .lock_state()
            .names
            .get(path)
            .ok_or(io::ErrorKind::NotFound)?;
        Ok(Arc::new(FaultFile {
            fs: self.clone(),
            inode,
        }))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn WalFile>> {
        let mut state = self.lock_state();
        if !state.dirs.contains(&parent(path)) {
            return Err(io::ErrorKind::NotFound.into());
        }
        state.next_inode += 1;
        let inode = state.next_inode;
        state.inodes.insert(inode, Inode::default());
        state.names.insert(path.to_path_buf(), inode);
        drop(state);
        Ok(Arc::new(FaultFile {
            fs: self.clone(),
            inode,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock_state();
        let inode = state.names.remove(from).ok_or(io::ErrorKind::NotFound)?;
        state.names.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock_state();
        state.names.remove(path).ok_or(io::ErrorKind::NotFound)?;
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let state = self.lock_state();
        Ok(state.names.contains_key(path) || state.dirs.contains(path))
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock_state();
        take_sync(&mut state.faults)?;
        let State {
            names,
            durable_names,
            ..
        } = &mut *state;
        durable_names.retain(|p, _| p.parent() != Some(path));
        for (p, &inode) in names.iter() {
            if p.parent() == Some(path) {
                durable_names.insert(p.clone(), inode);
            }
        }
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>> {
        if !self.lock_state().locks.insert(path.to_path_buf()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(Box::new(FaultLock {
            fs: self.clone(),
            path: path.to_path_buf(),
        }))
    }
}
