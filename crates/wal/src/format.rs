//! Byte layout of segment headers and frames (see DESIGN.md for drawings).
//!
//! Every integer is explicit-width little-endian. Offsets below are derived
//! one from the previous so a field cannot silently overlap another.

use crate::error::CorruptReason;
use quorate_core::NodeId;

/// First eight bytes of every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"QRTMWAL\0";
/// The on-disk format this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;

const HEADER_MAGIC_OFFSET: usize = 0;
const HEADER_VERSION_OFFSET: usize = HEADER_MAGIC_OFFSET + 8;
const HEADER_LEN_OFFSET: usize = HEADER_VERSION_OFFSET + 4;
const HEADER_NODE_OFFSET: usize = HEADER_LEN_OFFSET + 4;
const HEADER_CLUSTER_OFFSET: usize = HEADER_NODE_OFFSET + 8;
const HEADER_SEQ_OFFSET: usize = HEADER_CLUSTER_OFFSET + 8;
const HEADER_BYTES_OFFSET: usize = HEADER_SEQ_OFFSET + 8;
const HEADER_RESERVED_OFFSET: usize = HEADER_BYTES_OFFSET + 8;
const HEADER_CRC_OFFSET: usize = HEADER_RESERVED_OFFSET + 12;
/// Size of the segment header; frames start right after it.
pub(crate) const HEADER_LEN: usize = HEADER_CRC_OFFSET + 4;
const _: () = assert!(HEADER_LEN == 64);

/// First four bytes of every frame ("QMRF" read as little-endian).
pub(crate) const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"QMRF");
const FRAME_LEN_OFFSET: usize = 4;
const FRAME_SEQ_OFFSET: usize = FRAME_LEN_OFFSET + 4;
const FRAME_COUNT_OFFSET: usize = FRAME_SEQ_OFFSET + 8;
const FRAME_RESERVED_OFFSET: usize = FRAME_COUNT_OFFSET + 4;
const FRAME_CRC_OFFSET: usize = FRAME_RESERVED_OFFSET + 8;
/// Size of a frame header; records follow it.
pub(crate) const FRAME_HEADER_LEN: usize = FRAME_CRC_OFFSET + 4;
const _: () = assert!(FRAME_HEADER_LEN == 32);
/// Frames and records start on multiples of this, so a scan for a frame
/// header only needs to look at aligned offsets.
pub(crate) const ALIGN: usize = 8;

/// Identity of a segment file, checked on open.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SegmentHeader {
    pub node_id: NodeId,
    pub cluster_id: u64,
    pub segment_seq: u64,
    pub segment_bytes: u64,
}

/// Why a segment header was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum HeaderError {
    Corrupt(CorruptReason),
    Version(u32),
}

impl SegmentHeader {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[HEADER_MAGIC_OFFSET..HEADER_VERSION_OFFSET].copy_from_slice(&SEGMENT_MAGIC);
        put_u32(&mut out, HEADER_VERSION_OFFSET, FORMAT_VERSION);
        put_u32(&mut out, HEADER_LEN_OFFSET, HEADER_LEN as u32);
        put_u64(&mut out, HEADER_NODE_OFFSET, self.node_id.get());
        put_u64(&mut out, HEADER_CLUSTER_OFFSET, self.cluster_id);
        put_u64(&mut out, HEADER_SEQ_OFFSET, self.segment_seq);
        put_u64(&mut out, HEADER_BYTES_OFFSET, self.segment_bytes);
        let crc = crc32c::crc32c(&out[..HEADER_CRC_OFFSET]);
        put_u32(&mut out, HEADER_CRC_OFFSET, crc);
        out
    }

    /// Validates every field; each check exists because a damaged or foreign
    /// file must be refused, never half-read.
    pub(crate) fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderError> {
        use CorruptReason as R;
        let Some(bytes) = bytes.get(..HEADER_LEN) else {
            return Err(HeaderError::Corrupt(R::HeaderTruncated));
        };
        // The magic tells "not a segment" apart from "damaged segment".
        if bytes[..8] != SEGMENT_MAGIC {
            return Err(HeaderError::Corrupt(R::HeaderMagic));
        }
        // The checksum covers every field, including the version.
        if crc32c::crc32c(&bytes[..HEADER_CRC_OFFSET]) != get_u32(bytes, HEADER_CRC_OFFSET) {
            return Err(HeaderError::Corrupt(R::HeaderChecksum));
        }
        let version = get_u32(bytes, HEADER_VERSION_OFFSET);
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        // A different header length would move every frame; refuse it.
        if get_u32(bytes, HEADER_LEN_OFFSET) as usize != HEADER_LEN {
            return Err(HeaderError::Corrupt(R::HeaderChecksum));
        }
        Ok(SegmentHeader {
            node_id: NodeId::new(get_u64(bytes, HEADER_NODE_OFFSET)),
            cluster_id: get_u64(bytes, HEADER_CLUSTER_OFFSET),
            segment_seq: get_u64(bytes, HEADER_SEQ_OFFSET),
            segment_bytes: get_u64(bytes, HEADER_BYTES_OFFSET),
        })
    }
}

/// A frame: the unit of one write and one `fdatasync`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FrameHeader {
    /// Bytes of records after the header; a multiple of [`ALIGN`].
    pub payload_len: u32,
    /// Global frame sequence number: consecutive across all segments.
    pub seq: u64,
    pub record_count: u32,
}

impl FrameHeader {
    pub(crate) fn write_into(&self, out: &mut [u8]) {
        let out = &mut out[..FRAME_HEADER_LEN];
        out.fill(0);
        put_u32(out, 0, FRAME_MAGIC);
        put_u32(out, FRAME_LEN_OFFSET, self.payload_len);
        put_u64(out, FRAME_SEQ_OFFSET, self.seq);
        put_u32(out, FRAME_COUNT_OFFSET, self.record_count);
        let crc = crc32c::crc32c(&out[..FRAME_CRC_OFFSET]);
        put_u32(out, FRAME_CRC_OFFSET, crc);
    }

    /// `None` unless magic, reserved bytes and checksum all hold.
    pub(crate) fn decode(bytes: &[u8]) -> Option<FrameHeader> {
        let bytes = bytes.get(..FRAME_HEADER_LEN)?;
        if get_u32(bytes, 0) != FRAME_MAGIC {
            return None;
        }
        if crc32c::crc32c(&bytes[..FRAME_CRC_OFFSET]) != get_u32(bytes, FRAME_CRC_OFFSET) {
            return None;
        }
        if get_u64(bytes, FRAME_RESERVED_OFFSET) != 0 {
            return None;
        }
        let header = FrameHeader {
            payload_len: get_u32(bytes, FRAME_LEN_OFFSET),
            seq: get_u64(bytes, FRAME_SEQ_OFFSET),
            record_count: get_u32(bytes, FRAME_COUNT_OFFSET),
        };
        if header.payload_len as usize % ALIGN != 0 {
            return None;
        }
        Some(header)
    }
}

/// Rounds `len` up to a multiple of [`ALIGN`].
pub(crate) fn align_up(len: usize) -> usize {
    len.div_ceil(ALIGN) * ALIGN
}

pub(crate) fn put_u16(out: &mut [u8], at: usize, value: u16) {
    out[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

pub(crate) fn put_u32(out: &mut [u8], at: usize, value: u32) {
    out[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut [u8], at: usize, value: u64) {
    out[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Callers check bounds first; a short slice here is a bug in this crate.
pub(crate) fn get_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes[at..at + 2].try_into().expect("two bytes"))
}

pub(crate) fn get_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

pub(crate) fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_header_round_trips_and_rejects_every_flipped_bit() {
        let header = SegmentHeader {
            node_id: NodeId::new(7),
            cluster_id: 99,
            segment_seq: 3,
            segment_bytes: 1 << 20,
        };
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        for bit in 0..HEADER_LEN * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                SegmentHeader::decode(&damaged).is_err(),
                "bit {bit} accepted"
            );
        }
    }

    #[test]
    fn frame_header_rejects_every_flipped_bit() {
        let header = FrameHeader {
            payload_len: 64,
            seq: 12,
            record_count: 2,
        };
        let mut bytes = [0u8; FRAME_HEADER_LEN];
        header.write_into(&mut bytes);
        assert_eq!(FrameHeader::decode(&bytes), Some(header));
        for bit in 0..FRAME_HEADER_LEN * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(FrameHeader::decode(&damaged), None, "bit {bit} accepted");
        }
    }
}
