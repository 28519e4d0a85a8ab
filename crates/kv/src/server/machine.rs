//! [`ReplicatedKv`]: the adapter through which the runtime drives a
//! [`KvStateMachine`], plus the member directory the server replicates
//! next to the map.
//!
//! Log entries are of two kinds, told apart by their first byte: a
//! [`KvCommand`] starts with its format version ([`COMMAND_VERSION`]),
//! and a member record starts with [`MEMBER_RECORD_TAG`], which no command
//! version uses. Member records carry a member's client URL and peer
//! address, so any node can redirect a client to the leader's HTTP
//! endpoint and a node that joins later learns how to reach every member.
//! They live outside the key space, so no client scan can return them.
//!
//! Snapshot layout (integers little-endian):
//!
//! ```text
//! magic "QKVM" | version u32 (= 1) | members u32
//!   { id u64 | client_url len+bytes | peer_addr len+bytes | standby u8 } * members
//! kv_snapshot len+bytes        (KvStateMachine's own checksummed format)
//! crc32c u32                   over everything before it
//! ```

use crate::codec::{DecodeError, Reader, Writer};
use crate::command::COMMAND_VERSION;
use crate::{ApplyResult, KvStateMachine, SessionsConfig};
use bytes::Bytes;
use quorate::{Command, Index, SnapshotReader, StateMachine};
use std::collections::BTreeMap;
use std::io::{self, Read};

/// First byte of a member record entry; distinct from every command version.
pub const MEMBER_RECORD_TAG: u8 = 0xA0;
const SNAPSHOT_MAGIC: [u8; 4] = *b"QKVM";
const SNAPSHOT_VERSION: u32 = 1;
/// Longest client URL or peer address accepted in a record.
pub const MEMBER_URL_BYTES_MAX: usize = 512;

const _: () = assert!(MEMBER_RECORD_TAG != COMMAND_VERSION);

/// Where clients and peers reach one member, as replicated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberRecord {
    /// Base URL of the member's HTTP API, e.g. `http://10.0.0.1:7000`.
    pub client_url: String,
    /// `host:port` peers connect to; empty when unknown.
    pub peer_addr: String,
    /// The member never campaigns (a standby voter).
    pub standby: bool,
}

/// What applying one entry returns: a write's answer, or nothing for a
/// member record.
#[derive(Debug)]
pub enum Applied {
    Write(ApplyResult),
    Member,
}

/// The key-value state machine and the member directory.
#[derive(Clone, Debug)]
pub struct ReplicatedKv {
    kv: KvStateMachine,
    members: BTreeMap<u64, MemberRecord>,
    sessions: SessionsConfig,
}

impl ReplicatedKv {
    pub fn new(sessions: SessionsConfig) -> ReplicatedKv {
        ReplicatedKv {
            kv: KvStateMachine::new(sessions),
            members: BTreeMap::new(),
            sessions,
        }
    }

    pub fn kv(&self) -> &KvStateMachine {
        &self.kv
    }

    /// The replicated member directory.
    pub fn members(&self) -> &BTreeMap<u64, MemberRecord> {
        &self.members
    }

    fn apply_one(&mut self, index: u64, data: &Bytes) -> Applied {
        if data.first() != Some(&MEMBER_RECORD_TAG) {
            return Applied::Write(self.kv.apply(index, data));
        }
        self.kv.advance_applied(index);
        match decode_member_record(data) {
            Ok((id, record)) => {
                self.members.insert(id, record);
            }
            // Every member decodes the same bytes the same way, so skipping
            // a malformed record keeps them identical.
            Err(error) => tracing::warn!(index, %error, "malformed member record skipped"),
        }
        Applied::Member
    }

    fn encode_snapshot(&self) -> Bytes {
        let mut out = Writer::new();
        out.raw(&SNAPSHOT_MAGIC);
        out.u32(SNAPSHOT_VERSION);
        out.u32(u32::try_from(self.members.len()).expect("member count fits u32"));
        for (id, record) in &self.members {
            out.u64(*id);
            encode_record_body(&mut out, record);
        }
        out.bytes(&self.kv.snapshot());
        let checksum = crc32c::crc32c(out.as_slice());
        out.u32(checksum);
        out.finish()
    }

    fn decode_snapshot(&self, data: &Bytes) -> Result<ReplicatedKv, String> {
        if data.len() < 4 + 4 + 4 {
            return Err("snapshot shorter than its header".into());
        }
        let (body, tail) = data.split_at(data.len() - 4);
        let stored = u32::from_le_bytes(tail.try_into().map_err(|_| "checksum missing")?);
        if crc32c::crc32c(body) != stored {
            return Err("snapshot checksum mismatch".into());
        }
        if body[..4] != SNAPSHOT_MAGIC {
            return Err("not a quorate-kv snapshot (bad magic)".into());
        }
        let body = data.slice(4..data.len() - 4);
        let mut reader = Reader::new(&body);
        let version = reader.u32().map_err(|e| e.to_string())?;
        if version != SNAPSHOT_VERSION {
            return Err(format!("snapshot version {version} is not supported"));
        }
        let members = decode_members(&mut reader).map_err(|e| e.to_string())?;
        let kv_bytes = reader.bytes().map_err(|e| e.to_string())?;
        reader.finish().map_err(|e| e.to_string())?;
        let kv = KvStateMachine::restore(&kv_bytes).map_err(|e| e.to_string())?;
        Ok(ReplicatedKv {
            kv,
            members,
            sessions: self.sessions,
        })
    }
}

fn decode_members(reader: &mut Reader<'_>) -> Result<BTreeMap<u64, MemberRecord>, DecodeError> {
    let count = reader.count(8 + 4 + 4 + 1)?;
    let mut members = BTreeMap::new();
    for _ in 0..count {
        let id = reader.u64()?;
        members.insert(id, decode_record_body(reader)?);
    }
    Ok(members)
}

fn encode_record_body(out: &mut Writer, record: &MemberRecord) {
    out.bytes(record.client_url.as_bytes());
    out.bytes(record.peer_addr.as_bytes());
    out.bool(record.standby);
}

fn decode_record_body(reader: &mut Reader<'_>) -> Result<MemberRecord, DecodeError> {
    Ok(MemberRecord {
        client_url: reader.string("client url")?,
        peer_addr: reader.string("peer address")?,
        standby: reader.bool()?,
    })
}

/// Encodes a member record entry for [`quorate::Group::propose`].
pub fn encode_member_record(id: u64, record: &MemberRecord) -> Bytes {
    let mut out = Writer::new();
    out.u8(MEMBER_RECORD_TAG);
    out.u64(id);
    encode_record_body(&mut out, record);
    out.finish()
}

fn decode_member_record(data: &Bytes) -> Result<(u64, MemberRecord), DecodeError> {
    let mut reader = Reader::new(data);
    let _tag = reader.u8()?;
    let id = reader.u64()?;
    let record = decode_record_body(&mut reader)?;
    reader.finish()?;
    Ok((id, record))
}

impl StateMachine for ReplicatedKv {
    type Response = Applied;

    fn apply(&mut self, commands: &[Command], applied_index: Index) -> Vec<Applied> {
        let responses = commands
            .iter()
            .map(|command| self.apply_one(command.index.get(), &command.data))
            .collect();
        if applied_index.get() > self.kv.applied_index() {
            self.kv.advance_applied(applied_index.get());
        }
        responses
    }

    fn snapshot(&mut self) -> io::Result<SnapshotReader> {
        Ok(Box::new(io::Cursor::new(self.encode_snapshot())))
    }

    fn restore(&mut self, snapshot: &mut dyn Read, applied_index: Index) -> io::Result<()> {
        let mut data = Vec::new();
        snapshot.read_to_end(&mut data)?;
        if data.is_empty() {
            // The runtime's bootstrap snapshot carries no state machine data.
            *self = ReplicatedKv::new(self.sessions);
            self.kv.advance_applied(applied_index.get());
            return Ok(());
        }
        let restored = self
            .decode_snapshot(&Bytes::from(data))
            .map_err(|reason| io::Error::new(io::ErrorKind::InvalidData, reason))?;
        *self = restored;
        if applied_index.get() > self.kv.applied_index() {
            self.kv.advance_applied(applied_index.get());
        }
        Ok(())
    }

    fn applied_index(&self) -> Index {
        Index::new(self.kv.applied_index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KvCommand, WriteRequest};
    use quorate::Term;

    fn command(index: u64, data: Bytes) -> Command {
        Command {
            index: Index::new(index),
            term: Term::new(1),
            data,
        }
    }

    fn put(key: &'static str) -> Bytes {
        KvCommand {
            issued_at_ms: 1,
            session: None,
            request: WriteRequest::Put {
                key: Bytes::from_static(key.as_bytes()),
                value: Bytes::from_static(b"v"),
            },
        }
        .encode()
    }

    #[test]
    fn member_records_stay_out_of_the_key_space_and_survive_snapshots() {
        let mut machine = ReplicatedKv::new(SessionsConfig::default());
        let record = MemberRecord {
            client_url: "http://127.0.0.1:7000".into(),
            peer_addr: "127.0.0.1:7001".into(),
            standby: true,
        };
        let batch = [
            command(2, put("a")),
            command(3, encode_member_record(1, &record)),
        ];
        let responses = machine.apply(&batch, Index::new(4));
        assert!(matches!(responses[0], Applied::Write(Ok(_))));
        assert!(matches!(responses[1], Applied::Member));
        assert_eq!(machine.kv().store().len(), 1);
        assert_eq!(machine.applied_index(), Index::new(4));
        let mut reader = machine.snapshot().expect("snapshot");
        let mut restored = ReplicatedKv::new(SessionsConfig::default());
        restored
            .restore(&mut reader, Index::new(4))
            .expect("restores");
        assert_eq!(restored.members().get(&1), Some(&record));
        assert_eq!(restored.kv().store().len(), 1);
    }

    #[test]
    fn a_corrupt_snapshot_is_invalid_data() {
        let mut machine = ReplicatedKv::new(SessionsConfig::default());
        machine.apply(&[command(2, put("a"))], Index::new(2));
        let mut data = Vec::new();
        machine
            .snapshot()
            .expect("snapshot")
            .read_to_end(&mut data)
            .expect("reads");
        data[6] ^= 0xff;
        let error = machine
            .restore(&mut io::Cursor::new(data), Index::new(2))
            .expect_err("corrupt");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
