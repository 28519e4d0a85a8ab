//! Frames: the unit a connection reads and writes.
//!
//! ```text
//! +----------------+----------------+---------------------------+
//! | length: u32 BE | crc32c: u32 BE | payload: protobuf WireFrame|
//! +----------------+----------------+---------------------------+
//!   bytes 0..4       bytes 4..8       bytes 8..8+length
//! ```
//!
//! `length` counts the payload only and is checked against the codec's
//! maximum before a single payload byte is buffered, so a hostile length
//! cannot make the reader allocate. The CRC32C (Castagnoli) covers the
//! payload and catches corruption that TCP's 16-bit checksum lets through.
//! Every decoding failure is a [`FrameError`]; the connection that produced
//! it is closed, because after a bad frame the stream position is unknown.

use super::handshake::{Handshake, WireHandshake};
use super::message::{MessageDecodeError, WireEnvelope};
use crate::transport::Envelope;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message as _;
use tokio_util::codec::{Decoder, Encoder};

/// Bytes before the payload: length and checksum.
pub const FRAME_HEADER_BYTES: usize = 8;

/// Default largest payload a codec accepts: 16 MiB, well above the core's
/// per-append byte budget and a snapshot chunk, small enough that a
/// malicious length cannot exhaust memory.
pub const FRAME_BYTES_MAX_DEFAULT: usize = 16 * 1024 * 1024;

/// One decoded frame.
#[derive(Clone, PartialEq, Debug)]
pub enum Frame {
    Handshake(Handshake),
    /// Raft messages for any groups, in send order.
    Batch(Vec<Envelope>),
    SnapshotChunk(SnapshotChunk),
    SnapshotAck(SnapshotAck),
    SnapshotAbort(SnapshotAbort),
}

/// A piece of a snapshot stream. Chunks of one stream are numbered from 0
/// without gaps; the first carries the `InstallSnapshot` message, the last
/// carries the trailer the receiver verifies the whole snapshot against.
#[derive(Clone, PartialEq, Debug)]
pub struct SnapshotChunk {
    /// Chosen by the sender, unique per connection.
    pub stream: u64,
    pub seq: u64,
    pub data: Bytes,
    /// Present exactly on chunk 0.
    pub header: Option<Envelope>,
    /// Present exactly on the last chunk.
    pub trailer: Option<SnapshotTrailer>,
}

/// What the whole snapshot must add up to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SnapshotTrailer {
    pub total_bytes: u64,
    /// CRC32C of all chunk data, in order.
    pub checksum: u32,
}

/// The receiver has durably spooled chunks `0..=seq`; with `done` it has
/// also verified the snapshot and handed it to its node.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct SnapshotAck {
    #[prost(uint64, tag = "1")]
    pub stream: u64,
    #[prost(uint64, tag = "2")]
    pub seq: u64,
    #[prost(bool, tag = "3")]
    pub done: bool,
}

/// Either side gives up on a stream; `reason` is a [`SnapshotAbortReason`]
/// code, kept raw so that a newer peer's code still decodes.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct SnapshotAbort {
    #[prost(uint64, tag = "1")]
    pub stream: u64,
    #[prost(uint32, tag = "2")]
    pub reason: u32,
}

/// Why a snapshot stream was abandoned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum SnapshotAbortReason {
    /// A chunk arrived out of order or without its header.
    Protocol = 1,
    /// The data does not match the trailer's length or checksum.
    Checksum = 2,
    /// The snapshot exceeds the receiver's size limit.
    TooLarge = 3,
    /// The receiver could not spool the data to disk.
    Spool = 4,
    /// The receiver's node did not take the snapshot in time.
    Busy = 5,
    /// The sender could not read its snapshot.
    SenderRead = 6,
}

impl SnapshotAbortReason {
    /// The code sent in [`SnapshotAbort::reason`].
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// The protobuf frame payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireFrame {
    #[prost(oneof = "WireFrameKind", tags = "1, 2, 3, 4, 5")]
    pub kind: Option<WireFrameKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum WireFrameKind {
    #[prost(message, tag = "1")]
    Handshake(WireHandshake),
    #[prost(message, tag = "2")]
    Batch(WireBatch),
    #[prost(message, tag = "3")]
    SnapshotChunk(WireSnapshotChunk),
    #[prost(message, tag = "4")]
    SnapshotAck(SnapshotAck),
    #[prost(message, tag = "5")]
    SnapshotAbort(SnapshotAbort),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WireBatch {
    #[prost(message, repeated, tag = "1")]
    pub envelopes: Vec<WireEnvelope>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WireSnapshotChunk {
    #[prost(uint64, tag = "1")]
    pub stream: u64,
    #[prost(uint64, tag = "2")]
    pub seq: u64,
    #[prost(bytes = "bytes", tag = "3")]
    pub data: Bytes,
    #[prost(message, optional, tag = "4")]
    pub header: Option<WireEnvelope>,
    #[prost(bool, tag = "5")]
    pub last: bool,
    #[prost(uint64, tag = "6")]
    pub total_bytes: u64,
    #[prost(fixed32, tag = "7")]
    pub checksum: u32,
}

/// Why bytes from a connection are not a frame. The connection is closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("frame of {length} bytes exceeds the limit of {limit}: the sender is not a quorate peer, or one with a larger frame_bytes_max")]
    TooLong { length: usize, limit: usize },
    #[error("frame checksum {found:#010x} does not match its payload ({computed:#010x}): corrupted in transit")]
    Checksum { found: u32, computed: u32 },
    #[error("the connection ended inside a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
    #[error("the frame payload is not valid protobuf: {source}")]
    Protobuf {
        #[source]
        source: prost::DecodeError,
    },
    #[error("the frame payload names no frame kind; the peer speaks another protocol revision")]
    MissingKind,
    #[error("a message in the frame is invalid: {source}")]
    Message {
        #[source]
        source: MessageDecodeError,
    },
    #[error("connection I/O failed: {source}")]
    Io {
        #[from]
        source: std::io::Error,
    },
}

/// Length-prefixed, checksummed protobuf frames for `tokio_util::codec`.
#[derive(Clone, Debug)]
pub struct FrameCodec {
    frame_bytes_max: usize,
    /// Bytes of every frame decoded so far, headers included, so a
    /// connection can count what it received without wrapping its socket.
    decoded_bytes_total: u64,
}

impl FrameCodec {
    /// A codec that refuses payloads longer than `frame_bytes_max` bytes,
    /// in either direction.
    pub fn new(frame_bytes_max: usize) -> Self {
        assert!(frame_bytes_max > 0, "frame_bytes_max must be positive");
        assert!(
            u32::try_from(frame_bytes_max).is_ok(),
            "frame_bytes_max must fit the u32 length prefix"
        );
        FrameCodec {
            frame_bytes_max,
            decoded_bytes_total: 0,
        }
    }

    pub fn frame_bytes_max(&self) -> usize {
        self.frame_bytes_max
    }

    /// Bytes of all frames decoded by this codec, headers included.
    pub fn decoded_bytes_total(&self) -> u64 {
        self.decoded_bytes_total
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(FRAME_BYTES_MAX_DEFAULT)
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < FRAME_HEADER_BYTES {
            return Ok(None);
        }
        let length = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if length > self.frame_bytes_max {
            return Err(FrameError::TooLong {
                length,
                limit: self.frame_bytes_max,
            });
        }
        let total = FRAME_HEADER_BYTES + length;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        let found = u32::from_be_bytes([src[4], src[5], src[6], src[7]]);
        src.advance(FRAME_HEADER_BYTES);
        let payload = src.split_to(length).freeze();
        self.decoded_bytes_total += total as u64;
        let computed = crc32c::crc32c(&payload);
        if computed != found {
            return Err(FrameError::Checksum { found, computed });
        }
        let wire = WireFrame::decode(payload).map_err(|source| FrameError::Protobuf { source })?;
        Frame::try_from(wire).map(Some)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

impl Encoder<&WireFrame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &WireFrame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let length = frame.encoded_len();
        if length > self.frame_bytes_max {
            return Err(FrameError::TooLong {
                length,
                limit: self.frame_bytes_max,
            });
        }
        dst.reserve(FRAME_HEADER_BYTES + length);
        let start = dst.len();
        let length_prefix = u32::try_from(length).expect("length checked against frame_bytes_max");
        dst.put_u32(length_prefix);
        dst.put_u32(0);
        frame
            .encode(dst)
            .expect("buffer reserved for the encoded length");
        let crc = crc32c::crc32c(&dst[start + FRAME_HEADER_BYTES..]);
        dst[start + 4..start + FRAME_HEADER_BYTES].copy_from_slice(&crc.to_be_bytes());
        Ok(())
    }
}

impl Encoder<WireFrame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: WireFrame, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode(&frame, dst)
    }
}

impl Encoder<&Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode(&WireFrame::from(frame), dst)
    }
}

impl From<&Frame> for WireFrame {
    fn from(frame: &Frame) -> Self {
        let kind = match frame {
            Frame::Handshake(h) => WireFrameKind::Handshake(WireHandshake::from(h)),
            Frame::Batch(envelopes) => WireFrameKind::Batch(WireBatch {
                envelopes: envelopes.iter().map(WireEnvelope::from).collect(),
            }),
            Frame::SnapshotChunk(chunk) => WireFrameKind::SnapshotChunk(WireSnapshotChunk {
                stream: chunk.stream,
                seq: chunk.seq,
                data: chunk.data.clone(),
                header: chunk.header.as_ref().map(WireEnvelope::from),
                last: chunk.trailer.is_some(),
                total_bytes: chunk.trailer.map_or(0, |t| t.total_bytes),
                checksum: chunk.trailer.map_or(0, |t| t.checksum),
            }),
            Frame::SnapshotAck(ack) => WireFrameKind::SnapshotAck(*ack),
            Frame::SnapshotAbort(abort) => WireFrameKind::SnapshotAbort(*abort),
        };
        WireFrame { kind: Some(kind) }
    }
}

impl TryFrom<WireFrame> for Frame {
    type Error = FrameError;

    fn try_from(wire: WireFrame) -> Result<Self, FrameError> {
        let message = |source| FrameError::Message { source };
        Ok(match wire.kind.ok_or(FrameError::MissingKind)? {
            WireFrameKind::Handshake(h) => Frame::Handshake(Handshake::from(h)),
            WireFrameKind::Batch(batch) => Frame::Batch(
                batch
                    .envelopes
                    .into_iter()
                    .map(Envelope::try_from)
                    .collect::<Result<_, _>>()
                    .map_err(message)?,
            ),
            WireFrameKind::SnapshotChunk(chunk) => Frame::SnapshotChunk(SnapshotChunk {
                stream: chunk.stream,
                seq: chunk.seq,
                data: chunk.data,
                header: chunk
                    .header
                    .map(Envelope::try_from)
                    .transpose()
                    .map_err(message)?,
                trailer: chunk.last.then_some(SnapshotTrailer {
                    total_bytes: chunk.total_bytes,
                    checksum: chunk.checksum,
                }),
            }),
            WireFrameKind::SnapshotAck(ack) => Frame::SnapshotAck(ack),
            WireFrameKind::SnapshotAbort(abort) => Frame::SnapshotAbort(abort),
        })
    }
}
