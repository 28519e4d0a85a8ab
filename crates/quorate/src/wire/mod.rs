//! The wire format between quorate nodes.
//!
//! A connection carries [`Frame`]s, each a length prefix, a CRC32C and a
//! protobuf payload (see [`frame`] for the layout). The protobuf structs are
//! hand-written `prost` derives mirroring `quorate_core`'s message types, so
//! the core stays free of serialization concerns and no code generator is
//! needed. Decoding is the boundary where peer input is validated: every
//! failure is a typed error, never a panic.

pub mod frame;
pub mod handshake;
pub mod message;

pub use frame::{
    Frame, FrameCodec, FrameError, SnapshotAbort, SnapshotAbortReason, SnapshotAck, SnapshotChunk,
    SnapshotTrailer, WireFrame, WireFrameKind, FRAME_BYTES_MAX_DEFAULT, FRAME_HEADER_BYTES,
};
pub use handshake::{Handshake, HandshakeError, HandshakeExpectation};
pub use message::{MessageDecodeError, WireEnvelope};

/// Opens every handshake: "QRFT" in ASCII.
pub const MAGIC: u32 = u32::from_be_bytes(*b"QRFT");

/// Bumped when a change to the frames cannot be ignored by older peers.
pub const PROTOCOL_VERSION: u32 = 1;
