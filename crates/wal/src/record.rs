//! Records: what a frame's payload holds (layouts drawn in DESIGN.md).
//!
//! Each record is `body_len: u32 | crc: u32 | body | zero padding to 8`. The
//! CRC covers the whole body except, for entry records, the payload bytes,
//! which each carry their own CRC in the entry's descriptor; so every byte is
//! covered exactly once and a read of one entry can verify just that entry.

use crate::error::CorruptReason;
use crate::format::{align_up, get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use bytes::BytesMut;
use quorate_core::{
    ConfState, Entry, EntryId, EntryKind, GroupId, HardState, Index, NodeId, SnapshotMeta, Term,
};

const KIND_ENTRIES: u8 = 1;
const KIND_HARD_STATE: u8 = 2;
const KIND_TRUNCATE: u8 = 3;
const KIND_COMPACT: u8 = 4;
const KIND_SNAPSHOT: u8 = 5;
const KIND_RELOCATE: u8 = 6;
const KIND_CHECKPOINT: u8 = 7;
const KIND_SEAL: u8 = 8;

const RECORD_PREFIX_LEN: usize = 8;
const ENTRIES_FIXED_LEN: usize = 24;
const ENTRY_DESCRIPTOR_LEN: usize = 24;
const HARD_STATE_LEN: usize = 40;
const TRUNCATE_LEN: usize = 24;
const SNAPSHOT_FIXED_LEN: usize = 40;
const CHECKPOINT_FIXED_LEN: usize = SNAPSHOT_FIXED_LEN + 32;
const SEAL_LEN: usize = 16;
/// Longest snapshot file name a record can carry.
pub(crate) const SNAPSHOT_NAME_BYTES_MAX: usize = 255;

/// Names the file a snapshot's data lives in, and its CRC32C.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SnapshotFileRef {
    pub name: String,
    pub checksum: u32,
}

/// Snapshot metadata as the WAL records it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct SnapshotRecord {
    pub meta: SnapshotMeta,
    pub file: Option<SnapshotFileRef>,
}

/// Where one entry's payload lives, plus what the index keeps about it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct EntryMeta {
    pub term: Term,
    pub kind: EntryKind,
    /// Absolute offset of the payload in its segment file.
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

/// One decoded record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Record {
    /// New entries (`relocate == false`: truncates any suffix from `first`)
    /// or a copy of live entries moved out of an old segment (`relocate`).
    Entries {
        relocate: bool,
        group: GroupId,
        first: Index,
        entries: Vec<EntryMeta>,
    },
    HardState {
        group: GroupId,
        hard_state: HardState,
    },
    Truncate {
        group: GroupId,
        from: Index,
    },
    /// `install == false`: compaction up to the snapshot; `true`: the log is
    /// reset to start after it.
    Snapshot {
        install: bool,
        group: GroupId,
        snapshot: SnapshotRecord,
    },
    /// A group's whole state at the start of a segment.
    Checkpoint {
        group: GroupId,
        snapshot: SnapshotRecord,
        last_index: Index,
        hard_state: HardState,
    },
    /// The last record of a full segment.
    Seal {
        next_segment: u64,
    },
}

fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_PREFIX_LEN]);
    start
}

/// Fills in length and CRC (over the first `crc_len` body bytes) and pads.
fn finish(out: &mut Vec<u8>, start: usize, crc_len: usize) {
    let body_len = out.len() - start - RECORD_PREFIX_LEN;
    assert!(crc_len <= body_len, "record crc range past its body");
    let body_start = start + RECORD_PREFIX_LEN;
    let crc = crc32c::crc32c(&out[body_start..body_start + crc_len]);
    put_u32(
        out,
        start,
        u32::try_from(body_len).expect("record fits u32"),
    );
    put_u32(out, start + 4, crc);
    out.resize(start + align_up(out.len() - start), 0);
}

/// Encoded size of an entries record holding `entries`.
/// How many of `entries`, from the first, fit in one record of at most
/// `bytes_max` bytes.
pub(crate) fn entries_fitting(entries: &[Entry], bytes_max: usize) -> usize {
    let mut len = RECORD_PREFIX_LEN + ENTRIES_FIXED_LEN;
    entries
        .iter()
        .take_while(|entry| {
            len += ENTRY_DESCRIPTOR_LEN + entry.data.len();
            align_up(len) <= bytes_max
        })
        .count()
}

pub(crate) fn entries_record_len(entries: &[Entry]) -> usize {
    let data: usize = entries.iter().map(|entry| entry.data.len()).sum();
    align_up(RECORD_PREFIX_LEN + ENTRIES_FIXED_LEN + ENTRY_DESCRIPTOR_LEN * entries.len() + data)
}

/// Upper bound of any non-entries record's size.
pub(crate) fn meta_record_len_max(snapshot: Option<&SnapshotRecord>) -> usize {
    let variable = snapshot.map_or(0, |s| {
        conf_len(&s.meta.conf_state) + s.file.as_ref().map_or(0, |f| f.name.len())
    });
    align_up(RECORD_PREFIX_LEN + CHECKPOINT_FIXED_LEN + variable)
}

fn conf_len(conf: &ConfState) -> usize {
    let ids = conf.voters.len()
        + conf.voters_outgoing.len()
        + conf.learners.len()
        + conf.learners_next.len();
    4 * 4 + 8 * ids + 1
}

/// Appends an entries record; returns the offset in `out` of the first
/// payload byte (payloads follow each other in entry order).
pub(crate) fn encode_entries(
    out: &mut Vec<u8>,
    relocate: bool,
    group: GroupId,
    entries: &[Entry],
) -> usize {
    assert!(!entries.is_empty(), "empty entries record");
    let start = begin(out);
    let mut fixed = [0u8; ENTRIES_FIXED_LEN];
    fixed[0] = if relocate {
        KIND_RELOCATE
    } else {
        KIND_ENTRIES
    };
    put_u32(
        &mut fixed,
        4,
        u32::try_from(entries.len()).expect("entry count fits u32"),
    );
    put_u64(&mut fixed, 8, group.get());
    put_u64(&mut fixed, 16, entries[0].index.get());
    out.extend_from_slice(&fixed);
    for entry in entries {
        let mut descriptor = [0u8; ENTRY_DESCRIPTOR_LEN];
        put_u64(&mut descriptor, 0, entry.term.get());
        put_u32(
            &mut descriptor,
            8,
            u32::try_from(entry.data.len()).expect("entry fits u32"),
        );
        put_u32(&mut descriptor, 12, crc32c::crc32c(&entry.data));
        descriptor[16] = entry.kind.code();
        out.extend_from_slice(&descriptor);
    }
    let data_start = out.len();
    for entry in entries {
        out.extend_from_slice(&entry.data);
    }
    finish(
        out,
        start,
        ENTRIES_FIXED_LEN + ENTRY_DESCRIPTOR_LEN * entries.len(),
    );
    data_start
}

pub(crate) fn encode_hard_state(out: &mut Vec<u8>, group: GroupId, hard_state: HardState) {
    let start = begin(out);
    let mut body = [0u8; HARD_STATE_LEN];
    body[0] = KIND_HARD_STATE;
    put_u64(&mut body, 8, group.get());
    put_u64(&mut body, 16, hard_state.current_term.get());
    put_u64(&mut body, 24, hard_state.voted_for.get());
    put_u64(&mut body, 32, hard_state.commit_index.get());
    out.extend_from_slice(&body);
    finish(out, start, HARD_STATE_LEN);
}

pub(crate) fn encode_truncate(out: &mut Vec<u8>, group: GroupId, from: Index) {
    let start = begin(out);
    let mut body = [0u8; TRUNCATE_LEN];
    body[0] = KIND_TRUNCATE;
    put_u64(&mut body, 8, group.get());
    put_u64(&mut body, 16, from.get());
    out.extend_from_slice(&body);
    finish(out, start, TRUNCATE_LEN);
}

pub(crate) fn encode_seal(out: &mut Vec<u8>, next_segment: u64) {
    let start = begin(out);
    let mut body = [0u8; SEAL_LEN];
    body[0] = KIND_SEAL;
    put_u64(&mut body, 8, next_segment);
    out.extend_from_slice(&body);
    finish(out, start, SEAL_LEN);
}

pub(crate) fn encode_snapshot(
    out: &mut Vec<u8>,
    install: bool,
    group: GroupId,
    snapshot: &SnapshotRecord,
) {
    let kind = if install { KIND_SNAPSHOT } else { KIND_COMPACT };
    encode_snapshot_like(out, kind, group, snapshot, None);
}

pub(crate) fn encode_checkpoint(
    out: &mut Vec<u8>,
    group: GroupId,
    snapshot: &SnapshotRecord,
    last_index: Index,
    hard_state: HardState,
) {
    encode_snapshot_like(
        out,
        KIND_CHECKPOINT,
        group,
        snapshot,
        Some((last_index, hard_state)),
    );
}

fn encode_snapshot_like(
    out: &mut Vec<u8>,
    kind: u8,
    group: GroupId,
    snapshot: &SnapshotRecord,
    checkpoint: Option<(Index, HardState)>,
) {
    let mut conf = BytesMut::new();
    snapshot.meta.conf_state.encode(&mut conf);
    let name = snapshot.file.as_ref().map_or("", |f| f.name.as_str());
    assert!(
        name.len() <= SNAPSHOT_NAME_BYTES_MAX,
        "snapshot name validated at submit"
    );
    let start = begin(out);
    let fixed_len = if checkpoint.is_some() {
        CHECKPOINT_FIXED_LEN
    } else {
        SNAPSHOT_FIXED_LEN
    };
    let mut fixed = [0u8; CHECKPOINT_FIXED_LEN];
    fixed[0] = kind;
    put_u16(
        &mut fixed,
        2,
        u16::try_from(name.len()).expect("name length fits u16"),
    );
    put_u32(
        &mut fixed,
        4,
        u32::try_from(conf.len()).expect("conf fits u32"),
    );
    put_u64(&mut fixed, 8, group.get());
    put_u64(&mut fixed, 16, snapshot.meta.last.index.get());
    put_u64(&mut fixed, 24, snapshot.meta.last.term.get());
    put_u32(
        &mut fixed,
        32,
        snapshot.file.as_ref().map_or(0, |f| f.checksum),
    );
    fixed[36] = u8::from(snapshot.file.is_some());
    if let Some((last_index, hs)) = checkpoint {
        put_u64(&mut fixed, 40, last_index.get());
        put_u64(&mut fixed, 48, hs.current_term.get());
        put_u64(&mut fixed, 56, hs.voted_for.get());
        put_u64(&mut fixed, 64, hs.commit_index.get());
    }
    out.extend_from_slice(&fixed[..fixed_len]);
    out.extend_from_slice(&conf);
    out.extend_from_slice(name.as_bytes());
    let body_len = out.len() - start - RECORD_PREFIX_LEN;
    finish(out, start, body_len);
}

/// Decodes the record at `pos`, which must end by `end`. `base` is the file
/// offset of `buf[0]`. With `verify_data` each entry payload's CRC is checked.
/// Returns the record and the offset of the next one.
pub(crate) fn decode_record(
    buf: &[u8],
    pos: usize,
    end: usize,
    base: u64,
    verify_data: bool,
) -> Result<(Record, usize), CorruptReason> {
    use CorruptReason as R;
    let prefix = buf.get(pos..pos + RECORD_PREFIX_LEN).ok_or(R::Record)?;
    let body_len = get_u32(prefix, 0) as usize;
    let crc = get_u32(prefix, 4);
    let body_start = pos + RECORD_PREFIX_LEN;
    let next = pos
        .checked_add(align_up(RECORD_PREFIX_LEN + body_len))
        .ok_or(R::Record)?;
    if body_len == 0 || next > end || end > buf.len() {
        return Err(R::Record);
    }
    let body = &buf[body_start..body_start + body_len];
    if buf[body_start + body_len..next].iter().any(|&b| b != 0) {
        return Err(R::Record);
    }
    let record = match body[0] {
        KIND_ENTRIES | KIND_RELOCATE => {
            let data_base = base + body_start as u64;
            decode_entries(body, crc, data_base, verify_data)?
        }
        kind @ (KIND_HARD_STATE | KIND_TRUNCATE | KIND_SEAL | KIND_COMPACT | KIND_SNAPSHOT
        | KIND_CHECKPOINT) => {
            if crc32c::crc32c(body) != crc {
                return Err(R::Record);
            }
            decode_meta(kind, body)?
        }
        kind => return Err(R::RecordKind { kind }),
    };
    Ok((record, next))
}

fn decode_entries(
    body: &[u8],
    crc: u32,
    data_base: u64,
    verify_data: bool,
) -> Result<Record, CorruptReason> {
    use CorruptReason as R;
    if body.len() < ENTRIES_FIXED_LEN || body[1..4].iter().any(|&b| b != 0) {
        return Err(R::Record);
    }
    let count = get_u32(body, 4) as usize;
    let meta_len = count
        .checked_mul(ENTRY_DESCRIPTOR_LEN)
        .and_then(|n| n.checked_add(ENTRIES_FIXED_LEN))
        .filter(|&n| n <= body.len() && count > 0)
        .ok_or(R::Record)?;
    if crc32c::crc32c(&body[..meta_len]) != crc {
        return Err(R::Record);
    }
    let group = GroupId::new(get_u64(body, 8));
    let first = Index::new(get_u64(body, 16));
    if first == Index::ZERO || first.get().checked_add(count as u64).is_none() {
        return Err(R::Record);
    }
    let mut entries = Vec::with_capacity(count);
    let mut data_pos = meta_len;
    for k in 0..count {
        let d = &body[ENTRIES_FIXED_LEN + k * ENTRY_DESCRIPTOR_LEN..][..ENTRY_DESCRIPTOR_LEN];
        let len = get_u32(d, 8);
        let kind = EntryKind::from_code(d[16]).ok_or(R::Record)?;
        if d[17..].iter().any(|&b| b != 0) {
            return Err(R::Record);
        }
        let data = body
            .get(data_pos..data_pos + len as usize)
            .ok_or(R::Record)?;
        let entry_crc = get_u32(d, 12);
        if verify_data && crc32c::crc32c(data) != entry_crc {
            return Err(R::EntryChecksum);
        }
        entries.push(EntryMeta {
            term: Term::new(get_u64(d, 0)),
            kind,
            offset: data_base + data_pos as u64,
            len,
            crc: entry_crc,
        });
        data_pos += len as usize;
    }
    if data_pos != body.len() {
        return Err(R::Record);
    }
    let relocate = body[0] == KIND_RELOCATE;
    Ok(Record::Entries {
        relocate,
        group,
        first,
        entries,
    })
}

fn decode_meta(kind: u8, body: &[u8]) -> Result<Record, CorruptReason> {
    use CorruptReason as R;
    let exact = |len: usize| -> Result<(), CorruptReason> {
        if body.len() == len && body[1..8].iter().all(|&b| b == 0) {
            Ok(())
        } else {
            Err(R::Record)
        }
    };
    let group = GroupId::new(get_u64(body.get(..16).ok_or(R::Record)?, 8));
    match kind {
        KIND_HARD_STATE => {
            exact(HARD_STATE_LEN)?;
            Ok(Record::HardState {
                group,
                hard_state: hard_state_at(body, 16),
            })
        }
        KIND_TRUNCATE => {
            exact(TRUNCATE_LEN)?;
            Ok(Record::Truncate {
                group,
                from: Index::new(get_u64(body, 16)),
            })
        }
        KIND_SEAL => {
            exact(SEAL_LEN)?;
            Ok(Record::Seal {
                next_segment: get_u64(body, 8),
            })
        }
        _ => decode_snapshot_like(kind, group, body),
    }
}

fn hard_state_at(body: &[u8], at: usize) -> HardState {
    HardState {
        current_term: Term::new(get_u64(body, at)),
        voted_for: NodeId::new(get_u64(body, at + 8)),
        commit_index: Index::new(get_u64(body, at + 16)),
    }
}

fn decode_snapshot_like(kind: u8, group: GroupId, body: &[u8]) -> Result<Record, CorruptReason> {
    use CorruptReason as R;
    let fixed_len = if kind == KIND_CHECKPOINT {
        CHECKPOINT_FIXED_LEN
    } else {
        SNAPSHOT_FIXED_LEN
    };
    if body.len() < fixed_len || body[1] != 0 || body[37..40].iter().any(|&b| b != 0) {
        return Err(R::Record);
    }
    let name_len = get_u16(body, 2) as usize;
    let conf_len = get_u32(body, 4) as usize;
    if fixed_len + conf_len + name_len != body.len() || name_len > SNAPSHOT_NAME_BYTES_MAX {
        return Err(R::Record);
    }
    let mut conf_bytes = &body[fixed_len..fixed_len + conf_len];
    let conf_state = ConfState::decode(&mut conf_bytes).map_err(|_| R::Record)?;
    if !conf_bytes.is_empty() {
        return Err(R::Record);
    }
    let name = std::str::from_utf8(&body[fixed_len + conf_len..]).map_err(|_| R::Record)?;
    let checksum = get_u32(body, 32);
    let file = match body[36] {
        0 if name_len == 0 && checksum == 0 => None,
        1 => Some(SnapshotFileRef {
            name: name.to_owned(),
            checksum,
        }),
        _ => return Err(R::Record),
    };
    let last = EntryId::new(Term::new(get_u64(body, 24)), Index::new(get_u64(body, 16)));
    let snapshot = SnapshotRecord {
        meta: SnapshotMeta { last, conf_state },
        file,
    };
    Ok(match kind {
        KIND_CHECKPOINT => Record::Checkpoint {
            group,
            snapshot,
            last_index: Index::new(get_u64(body, 40)),
            hard_state: hard_state_at(body, 48),
        },
        _ => Record::Snapshot {
            install: kind == KIND_SNAPSHOT,
            group,
            snapshot,
        },
    })
}
