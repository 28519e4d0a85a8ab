//! The snapshot format of [`KvStateMachine`], for log compaction and for
//! catching up a lagging member.
//!
//! ```text
//! magic:          4 bytes "QKVS"
//! format_version: u32 (= 1)
//! body_length:    u64
//! body:
//!   applied_index: u64
//!   revision:      u64
//!   key_count:     u32, then per key (ascending, unique):
//!     key: u32 len + bytes, value: u32 len + bytes,
//!     create_revision: u64, mod_revision: u64, version: u64
//!   sessions_ttl_ms: u64, sessions_entries_max: u64, sessions_now_ms: u64
//!   record_count:  u32, then per record:
//!     client_id, request_id: u32 len + UTF-8,
//!     fingerprint: u32, created_ms: u64, response: WriteResponse (`wire`)
//! checksum:       u32, CRC32C of everything before it
//! ```
//!
//! Restore checks magic, version, length and checksum before it parses the
//! body, and checks the revision invariants of every key after, so a
//! corrupt or truncated snapshot is refused with a [`SnapshotError`] and
//! never half-installed.

use crate::codec::{DecodeError, Reader, Writer};
use crate::sessions::{Record, SessionKey, Sessions, SessionsConfig};
use crate::state_machine::KvStateMachine;
use crate::store::{Entry, KvStore};
use crate::wire::{decode_write_response, encode_write_response};
use bytes::Bytes;
use std::collections::BTreeMap;

pub const SNAPSHOT_MAGIC: [u8; 4] = *b"QKVS";
pub const SNAPSHOT_VERSION: u32 = 1;
/// Magic, version and body length.
const HEADER_BYTES: usize = 4 + 4 + 8;
const CHECKSUM_BYTES: usize = 4;
const ENTRY_BYTES_MIN: usize = 4 + 4 + 8 * 3;
const RECORD_BYTES_MIN: usize = 4 + 4 + 4 + 8 + 1;

/// Why a snapshot was refused. The state machine is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    #[error("not a quorate-kv snapshot (bad magic bytes)")]
    Magic,
    #[error(
        "snapshot format version {found} is not supported (this build reads {SNAPSHOT_VERSION})"
    )]
    Version { found: u32 },
    #[error(
        "snapshot is {actual} bytes but its header says {expected}; it is truncated or padded"
    )]
    Length { expected: u64, actual: u64 },
    #[error("snapshot checksum mismatch (stored {stored:#010x}, computed {computed:#010x}); it is corrupt")]
    Checksum { stored: u32, computed: u32 },
    #[error("snapshot body is malformed: {0}")]
    Malformed(#[from] DecodeError),
    #[error("snapshot keys are not in strictly ascending order at key {key:?}")]
    KeyOrder { key: Bytes },
    #[error("snapshot key {key:?} breaks the revision invariants")]
    InvalidEntry { key: Bytes },
    #[error("snapshot sessions_entries_max must be greater than zero")]
    SessionsBound,
}

impl KvStateMachine {
    /// Encodes the whole state as of [`KvStateMachine::applied_index`].
    pub fn snapshot(&self) -> Bytes {
        let mut body = Writer::new();
        body.u64(self.applied_index);
        body.u64(self.store.revision());
        body.u32(u32::try_from(self.store.len()).expect("more than 2^32 keys"));
        for (key, entry) in self.store.entries() {
            body.bytes(key);
            body.bytes(&entry.value);
            body.u64(entry.create_revision);
            body.u64(entry.mod_revision);
            body.u64(entry.version);
        }
        let config = self.sessions.config();
        body.u64(config.ttl_ms);
        body.u64(config.entries_max as u64);
        body.u64(self.sessions.now_ms());
        body.u32(u32::try_from(self.sessions.len()).expect("more than 2^32 sessions"));
        for (key, record) in self.sessions.records() {
            body.bytes(key.client_id.as_bytes());
            body.bytes(key.request_id.as_bytes());
            body.u32(record.fingerprint);
            body.u64(record.created_ms);
            encode_write_response(&mut body, &record.response);
        }
        let mut out = Writer::new();
        out.raw(&SNAPSHOT_MAGIC);
        out.u32(SNAPSHOT_VERSION);
        out.u64(body.len() as u64);
        out.raw(body.as_slice());
        let checksum = crc32c::crc32c(out.as_slice());
        out.u32(checksum);
        out.finish()
    }

    /// Decodes a snapshot made by [`KvStateMachine::snapshot`] into a new
    /// state machine; the caller swaps it in only on success.
    pub fn restore(snapshot: &Bytes) -> Result<KvStateMachine, SnapshotError> {
        let body = check_envelope(snapshot)?;
        let mut reader = Reader::new(&body);
        let applied_index = reader.u64()?;
        let store = decode_store(&mut reader)?;
        let sessions = decode_sessions(&mut reader)?;
        reader.finish()?;
        Ok(KvStateMachine {
            store,
            sessions,
            applied_index,
        })
    }
}

/// Checks magic, version, length and checksum; returns the body.
fn check_envelope(snapshot: &Bytes) -> Result<Bytes, SnapshotError> {
    if snapshot.len() < HEADER_BYTES + CHECKSUM_BYTES {
        return Err(SnapshotError::Length {
            expected: (HEADER_BYTES + CHECKSUM_BYTES) as u64,
            actual: snapshot.len() as u64,
        });
    }
    if snapshot[..4] != SNAPSHOT_MAGIC {
        return Err(SnapshotError::Magic);
    }
    let mut header = Reader::new(snapshot);
    header.u32()?;
    let version = header.u32()?;
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotError::Version { found: version });
    }
    let body_length = header.u64()?;
    let expected = body_length.saturating_add((HEADER_BYTES + CHECKSUM_BYTES) as u64);
    if expected != snapshot.len() as u64 {
        return Err(SnapshotError::Length {
            expected,
            actual: snapshot.len() as u64,
        });
    }
    let checksum_at = snapshot.len() - CHECKSUM_BYTES;
    let mut stored = [0; CHECKSUM_BYTES];
    stored.copy_from_slice(&snapshot[checksum_at..]);
    let stored = u32::from_le_bytes(stored);
    let computed = crc32c::crc32c(&snapshot[..checksum_at]);
    if stored != computed {
        return Err(SnapshotError::Checksum { stored, computed });
    }
    Ok(snapshot.slice(HEADER_BYTES..checksum_at))
}

fn decode_store(reader: &mut Reader<'_>) -> Result<KvStore, SnapshotError> {
    let revision = reader.u64()?;
    let count = reader.count(ENTRY_BYTES_MIN)?;
    let mut entries = BTreeMap::new();
    let mut last_key: Option<Bytes> = None;
    for _ in 0..count {
        let key = reader.bytes()?;
        if last_key.as_ref().is_some_and(|last| *last >= key) {
            return Err(SnapshotError::KeyOrder { key });
        }
        let entry = Entry {
            value: reader.bytes()?,
            create_revision: reader.u64()?,
            mod_revision: reader.u64()?,
            version: reader.u64()?,
        };
        last_key = Some(key.clone());
        entries.insert(key, entry);
    }
    KvStore::from_parts(entries, revision)
        .map_err(|invalid| SnapshotError::InvalidEntry { key: invalid.key })
}

fn decode_sessions(
    reader: &mut Reader<'_>,
) -> Result<Sessions<crate::wire::WriteResponse>, SnapshotError> {
    let ttl_ms = reader.u64()?;
    let entries_max = usize::try_from(reader.u64()?).unwrap_or(usize::MAX);
    if entries_max == 0 {
        return Err(SnapshotError::SessionsBound);
    }
    let now_ms = reader.u64()?;
    let count = reader.count(RECORD_BYTES_MIN)?;
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let key = SessionKey {
            client_id: reader.string("client id")?,
            request_id: reader.string("request id")?,
        };
        let record = Record {
            fingerprint: reader.u32()?,
            created_ms: reader.u64()?,
            response: decode_write_response(reader)?,
        };
        records.push((key, record));
    }
    let config = SessionsConfig {
        ttl_ms,
        entries_max,
    };
    Ok(Sessions::from_parts(config, now_ms, records))
}
