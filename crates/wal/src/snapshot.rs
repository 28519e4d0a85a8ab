//! Per-group snapshot files: written under a temporary name, fsynced,
//! renamed, the directory fsynced; checksummed; the newest two kept.

use crate::error::{is_disk_full, SnapshotError};
use crate::format::{get_u32, get_u64, put_u32, put_u64};
use crate::fs::{read_exact_at, write_all_at, FileSystem, WalFile};
use bytes::{Bytes, BytesMut};
use quorate_core::{ConfState, EntryId, GroupId, Index, SnapshotMeta, Term};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SNAPSHOT_MAGIC: [u8; 8] = *b"QRTSNAP\0";
const SNAPSHOT_VERSION: u32 = 1;
/// Fixed part of the header; the encoded configuration and a CRC follow.
const FIXED_LEN: usize = 56;
const SUFFIX: &str = ".snap";
const TEMP_SUFFIX: &str = ".snap.tmp";
/// How many snapshots a group keeps: the newest, and one to fall back to.
pub const SNAPSHOTS_KEPT: usize = 2;
const CHUNK_BYTES: usize = 256 * 1024;

/// A snapshot file on disk and what it holds.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SnapshotFile {
    pub meta: SnapshotMeta,
    /// File name inside the group's snapshot directory.
    pub name: String,
    /// CRC32C of the data.
    pub checksum: u32,
    pub size_bytes: u64,
}

/// The snapshot directory of one group; see [`crate::Wal::snapshots`].
#[derive(Clone)]
pub struct SnapshotStore {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    group: GroupId,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| {
        if is_disk_full(&source) {
            SnapshotError::DiskFull {
                path: path.to_path_buf(),
            }
        } else {
            SnapshotError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

fn file_name(meta: &SnapshotMeta) -> String {
    format!(
        "{:020}-{:020}{SUFFIX}",
        meta.last.index.get(),
        meta.last.term.get()
    )
}

fn encode_header(group: GroupId, meta: &SnapshotMeta, data_len: u64, data_crc: u32) -> Vec<u8> {
    let mut conf = BytesMut::new();
    meta.conf_state.encode(&mut conf);
    let mut out = vec![0u8; FIXED_LEN];
    out[..8].copy_from_slice(&SNAPSHOT_MAGIC);
    put_u32(&mut out, 8, SNAPSHOT_VERSION);
    put_u32(
        &mut out,
        12,
        u32::try_from(FIXED_LEN + conf.len() + 4).expect("header fits u32"),
    );
    put_u64(&mut out, 16, group.get());
    put_u64(&mut out, 24, meta.last.index.get());
    put_u64(&mut out, 32, meta.last.term.get());
    put_u64(&mut out, 40, data_len);
    put_u32(&mut out, 48, data_crc);
    put_u32(
        &mut out,
        52,
        u32::try_from(conf.len()).expect("conf fits u32"),
    );
    out.extend_from_slice(&conf);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decoded header: metadata, data length and CRC, header length.
struct Header {
    meta: SnapshotMeta,
    data_len: u64,
    data_crc: u32,
    header_len: u64,
}

fn decode_header(group: GroupId, file: &dyn WalFile, path: &Path) -> Result<Header, SnapshotError> {
    let corrupt = |reason| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let mut fixed = [0u8; FIXED_LEN];
    read_exact_at(file, &mut fixed, 0).map_err(|_| corrupt("shorter than its header"))?;
    if fixed[..8] != SNAPSHOT_MAGIC {
        return Err(corrupt("bad magic"));
    }
    let header_len = get_u32(&fixed, 12) as usize;
    let conf_len = get_u32(&fixed, 52) as usize;
    if header_len != FIXED_LEN + conf_len + 4 || conf_len > 1 << 24 {
        return Err(corrupt("bad header length"));
    }
    let mut header = vec![0u8; header_len];
    read_exact_at(file, &mut header, 0).map_err(|_| corrupt("shorter than its header"))?;
    if crc32c::crc32c(&header[..header_len - 4]) != get_u32(&header, header_len - 4) {
        return Err(corrupt("header checksum mismatch"));
    }
    if get_u32(&header, 8) != SNAPSHOT_VERSION || get_u64(&header, 16) != group.get() {
        return Err(corrupt("unknown version or another group's file"));
    }
    let mut conf_bytes = &header[FIXED_LEN..FIXED_LEN + conf_len];
    let conf_state =
        ConfState::decode(&mut conf_bytes).map_err(|_| corrupt("bad configuration"))?;
    let last = EntryId::new(
        Term::new(get_u64(&header, 32)),
        Index::new(get_u64(&header, 24)),
    );
    Ok(Header {
        meta: SnapshotMeta { last, conf_state },
        data_len: get_u64(&header, 40),
        data_crc: get_u32(&header, 48),
        header_len: header_len as u64,
    })
}

impl SnapshotStore {
    pub(crate) fn new(fs: Arc<dyn FileSystem>, wal_dir: &Path, group: GroupId) -> SnapshotStore {
        let dir = wal_dir
            .join("snapshots")
            .join(format!("{:020}", group.get()));
        SnapshotStore { fs, dir, group }
    }

    /// The directory this group's snapshots live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a snapshot durably (temporary name, fsync, rename, directory
    /// fsync), then deletes all but the newest [`SNAPSHOTS_KEPT`].
    pub fn write(
        &self,
        meta: &SnapshotMeta,
        data: &mut dyn Read,
    ) -> Result<SnapshotFile, SnapshotError> {
        self.ensure_dir()?;
        let name = file_name(meta);
        let temp = self.dir.join(format!("{name}.tmp"));
        let result = self.write_temp(meta, data, &temp);
        let (size_bytes, checksum) = match result {
            Ok(done) => done,
            Err(error) => {
                let _ = self.fs.remove_file(&temp);
                return Err(error);
            }
        };
        let path = self.dir.join(&name);
        self.fs.rename(&temp, &path).map_err(io_error(&path))?;
        self.fs.sync_dir(&self.dir).map_err(io_error(&self.dir))?;
        self.prune()?;
        Ok(SnapshotFile {
            meta: meta.clone(),
            name,
            checksum,
            size_bytes,
        })
    }

    /// [`SnapshotStore::write`] from a byte slice.
    pub fn write_bytes(
        &self,
        meta: &SnapshotMeta,
        mut data: &[u8],
    ) -> Result<SnapshotFile, SnapshotError> {
        self.write(meta, &mut data)
    }

    fn ensure_dir(&self) -> Result<(), SnapshotError> {
        if self.fs.exists(&self.dir).map_err(io_error(&self.dir))? {
            return Ok(());
        }
        self.fs
            .create_dir_all(&self.dir)
            .map_err(io_error(&self.dir))?;
        let parent = self.dir.parent().expect("snapshot dir has a parent");
        self.fs.sync_dir(parent).map_err(io_error(parent))?;
        let root = parent.parent().expect("snapshots dir has a parent");
        self.fs.sync_dir(root).map_err(io_error(root))
    }

    /// Streams data after a header-sized gap, then writes the header with
    /// the data's length and CRC, then fsyncs.
    fn write_temp(
        &self,
        meta: &SnapshotMeta,
        data: &mut dyn Read,
        temp: &Path,
    ) -> Result<(u64, u32), SnapshotError> {
        let file = self.fs.create(temp).map_err(io_error(temp))?;
        let header_len = encode_header(self.group, meta, 0, 0).len() as u64;
        let mut chunk = vec![0u8; CHUNK_BYTES];
        let (mut len, mut crc) = (0u64, 0u32);
        loop {
            let n = match data.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(SnapshotError::Input { source }),
            };
            write_all_at(file.as_ref(), &chunk[..n], header_len + len).map_err(io_error(temp))?;
            crc = crc32c::crc32c_append(crc, &chunk[..n]);
            len += n as u64;
        }
        let header = encode_header(self.group, meta, len, crc);
        write_all_at(file.as_ref(), &header, 0).map_err(io_error(temp))?;
        file.sync_all().map_err(io_error(temp))?;
        Ok((len, crc))
    }

    /// Valid snapshot files, newest first. Files with damaged headers are
    /// skipped with a warning.
    pub fn list(&self) -> Result<Vec<SnapshotFile>, SnapshotError> {
        if !self.fs.exists(&self.dir).map_err(io_error(&self.dir))? {
            return Ok(Vec::new());
        }
        let mut files = Vec::new();
        for name in self.fs.list_dir(&self.dir).map_err(io_error(&self.dir))? {
            if !name.ends_with(SUFFIX) {
                continue;
            }
            let path = self.dir.join(&name);
            let file = self.fs.open(&path).map_err(io_error(&path))?;
            match decode_header(self.group, file.as_ref(), &path) {
                Ok(header) => files.push(SnapshotFile {
                    meta: header.meta,
                    name,
                    checksum: header.data_crc,
                    size_bytes: header.data_len,
                }),
                Err(error) => tracing::warn!(%error, "skipping a damaged snapshot file"),
            }
        }
        files.sort_by(|a, b| {
            b.meta
                .last
                .cmp(&a.meta.last)
                .then_with(|| b.name.cmp(&a.name))
        });
        Ok(files)
    }

    /// Reads and verifies one snapshot's data.
    pub fn read(&self, snapshot: &SnapshotFile) -> Result<Bytes, SnapshotError> {
        let path = self.dir.join(&snapshot.name);
        let file = self.fs.open(&path).map_err(io_error(&path))?;
        let header = decode_header(self.group, file.as_ref(), &path)?;
        let corrupt = |reason| SnapshotError::Corrupt {
            path: path.clone(),
            reason,
        };
        if file.size_bytes().map_err(io_error(&path))? != header.header_len + header.data_len {
            return Err(corrupt("length does not match its header"));
        }
        let len = usize::try_from(header.data_len).map_err(|_| corrupt("too large for memory"))?;
        let mut data = vec![0u8; len];
        read_exact_at(file.as_ref(), &mut data, header.header_len).map_err(io_error(&path))?;
        if crc32c::crc32c(&data) != header.data_crc || header.data_crc != snapshot.checksum {
            return Err(corrupt("data checksum mismatch"));
        }
        Ok(Bytes::from(data))
    }

    /// The newest snapshot whose data verifies; a damaged newer one is
    /// reported in the log and skipped.
    pub fn newest(&self) -> Result<Option<(SnapshotFile, Bytes)>, SnapshotError> {
        for snapshot in self.list()? {
            match self.read(&snapshot) {
                Ok(data) => return Ok(Some((snapshot, data))),
                Err(SnapshotError::Corrupt { path, reason }) => {
                    tracing::warn!(path = %path.display(), reason, "skipping a corrupt snapshot");
                }
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }

    /// Deletes snapshots beyond the newest [`SNAPSHOTS_KEPT`] and leftover
    /// temporary files.
    fn prune(&self) -> Result<(), SnapshotError> {
        let mut changed = false;
        for name in self.fs.list_dir(&self.dir).map_err(io_error(&self.dir))? {
            if name.ends_with(TEMP_SUFFIX) {
                let path = self.dir.join(&name);
                self.fs.remove_file(&path).map_err(io_error(&path))?;
                changed = true;
            }
        }
        for old in self.list()?.iter().skip(SNAPSHOTS_KEPT) {
            let path = self.dir.join(&old.name);
            self.fs.remove_file(&path).map_err(io_error(&path))?;
            changed = true;
        }
        if changed {
            self.fs.sync_dir(&self.dir).map_err(io_error(&self.dir))?;
        }
        Ok(())
    }
}
