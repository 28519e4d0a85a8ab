//! The file-system seam. Only the WAL touches its files, and only through
//! [`FileSystem`] and [`WalFile`], so tests can swap in [`crate::FaultFs`],
//! which injects errors and simulates power loss.

use std::any::Any;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::Arc;

/// One open file. Positional I/O only, so readers and the writer never share
/// a cursor.
pub trait WalFile: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; fewer at end of file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes some prefix of `buf` at `offset` and says how much.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    /// `fdatasync`: data and the metadata needed to read it back.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`: data and all metadata.
    fn sync_all(&self) -> io::Result<()>;
    /// Current length in bytes.
    fn size_bytes(&self) -> io::Result<u64>;
    /// Truncates or extends (with zeros) to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserves blocks for the first `len` bytes, so later writes inside them
    /// neither fail for space nor change the file size.
    fn allocate(&self, len: u64) -> io::Result<()>;
}

/// Directory-level operations.
pub trait FileSystem: Send + Sync + 'static {
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names (not paths) of the entries of `path`.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Opens an existing file for reading and writing.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn WalFile>>;
    /// Creates a new empty file, replacing any file of that name.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WalFile>>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Makes creates, renames and removals inside `path` durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Takes an exclusive lock held until the returned guard is dropped;
    /// `ErrorKind::WouldBlock` when another holder exists.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>>;
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub(crate) fn read_exact_at(
    file: &dyn WalFile,
    mut buf: &mut [u8],
    mut offset: u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes all of `buf` at `offset`, continuing after short writes.
pub(crate) fn write_all_at(file: &dyn WalFile, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write_at(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads a whole file into memory.
pub(crate) fn read_all(file: &dyn WalFile) -> io::Result<Vec<u8>> {
    let len = file.size_bytes()?;
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    let mut buf = vec![0u8; len];
    read_exact_at(file, &mut buf, 0)?;
    Ok(buf)
}

/// The operating system's file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

struct RealFile(std::fs::File);

impl WalFile for RealFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.0.write_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn size_bytes(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        let len_signed =
            libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the descriptor is open for the lifetime of `self.0`, and
        // posix_fallocate only reads its integer arguments.
        let rc = unsafe { libc::posix_fallocate(self.0.as_raw_fd(), 0, len_signed) };
        match rc {
            0 => Ok(()),
            // File systems without fallocate: fall back to a sparse extension.
            libc::EOPNOTSUPP | libc::EINVAL => self.set_len(len.max(self.size_bytes()?)),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

struct RealLock(std::fs::File);

impl Drop for RealLock {
    fn drop(&mut self) {
        // SAFETY: the descriptor is still open; unlocking cannot fail in a
        // way that matters because closing the file releases the lock anyway.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl FileSystem for RealFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn WalFile>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        Ok(Arc::new(RealFile(file)))
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WalFile>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Arc::new(RealFile(file)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::File::open(path)?.sync_all()
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // SAFETY: the descriptor is open; flock only reads its arguments.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Box::new(RealLock(file)))
    }
}
