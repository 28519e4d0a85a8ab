//! The replicated command: what a write puts in the Raft log.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! version: u8 (= 1)
//! issued_at_ms: u64          leader's wall clock when proposed; drives
//!                            session expiry deterministically
//! has_session: u8 (0 | 1)
//!   client_id: u32 len + bytes (UTF-8)
//!   request_id: u32 len + bytes (UTF-8)
//! request: WriteRequest      see `wire`
//! ```
//!
//! The request's bytes are also its fingerprint (CRC32C): a resend with the
//! same session key must carry the same request.

use crate::codec::{DecodeError, Reader, Writer};
use crate::sessions::SessionKey;
use crate::wire::{decode_write_request, encode_write_request, WriteRequest};
use bytes::Bytes;

/// The command format this build writes and reads.
pub const COMMAND_VERSION: u8 = 1;

/// One write as replicated through the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvCommand {
    /// The proposing leader's wall-clock time in milliseconds since the
    /// Unix epoch. Only session expiry reads it.
    pub issued_at_ms: u64,
    /// Set for exactly-once writes.
    pub session: Option<SessionKey>,
    pub request: WriteRequest,
}

/// Why a command could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandDecodeError {
    #[error("command format version {found} is not supported (this build reads {COMMAND_VERSION}); upgrade this member")]
    Version { found: u8 },
    #[error("malformed command: {0}")]
    Malformed(#[from] DecodeError),
}

impl KvCommand {
    pub fn encode(&self) -> Bytes {
        let mut writer = Writer::new();
        writer.u8(COMMAND_VERSION);
        writer.u64(self.issued_at_ms);
        writer.bool(self.session.is_some());
        if let Some(session) = &self.session {
            writer.bytes(session.client_id.as_bytes());
            writer.bytes(session.request_id.as_bytes());
        }
        encode_write_request(&mut writer, &self.request);
        writer.finish()
    }

    /// Decodes a command and returns it with its request's fingerprint.
    pub fn decode(data: &Bytes) -> Result<(KvCommand, u32), CommandDecodeError> {
        let mut reader = Reader::new(data);
        let version = reader.u8()?;
        if version != COMMAND_VERSION {
            return Err(CommandDecodeError::Version { found: version });
        }
        let issued_at_ms = reader.u64()?;
        let session = if reader.bool()? {
            Some(SessionKey {
                client_id: reader.string("client id")?,
                request_id: reader.string("request id")?,
            })
        } else {
            None
        };
        let request_start = reader.offset();
        let request = decode_write_request(&mut reader)?;
        reader.finish()?;
        let fingerprint = crc32c::crc32c(&data[request_start..]);
        Ok((
            KvCommand {
                issued_at_ms,
                session,
                request,
            },
            fingerprint,
        ))
    }
}
