//! The byte-level primitives shared by the command and snapshot formats:
//! fixed-width little-endian integers and length-prefixed byte strings.
//!
//! Both formats are decoded from untrusted bytes (a peer's snapshot, a log
//! entry written by another version), so every read is bounds-checked into
//! a [`DecodeError`] and no length field can make the decoder allocate more
//! than the input it was given.

use bytes::{BufMut, Bytes, BytesMut};

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("input ends at byte {offset} but {needed} more bytes were expected")]
    Truncated { offset: usize, needed: usize },
    #[error("unknown {what} tag {tag} at byte {offset}")]
    UnknownTag {
        what: &'static str,
        tag: u8,
        offset: usize,
    },
    #[error("{extra} unexpected bytes after the end of the message")]
    TrailingBytes { extra: usize },
    #[error("invalid UTF-8 in {what}")]
    Utf8 { what: &'static str },
}

/// Appends encoded fields to a growing buffer.
pub(crate) struct Writer {
    buffer: BytesMut,
}

impl Writer {
    pub(crate) fn new() -> Writer {
        Writer {
            buffer: BytesMut::new(),
        }
    }

    pub(crate) fn u8(&mut self, value: u8) {
        self.buffer.put_u8(value);
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.buffer.put_u32_le(value);
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.buffer.put_u64_le(value);
    }

    pub(crate) fn bool(&mut self, value: bool) {
        self.u8(u8::from(value));
    }

    /// A byte string as a u32 length then the bytes. Keys and values are
    /// bounded far below 4 GiB by the API's limits.
    pub(crate) fn bytes(&mut self, value: &[u8]) {
        let length = u32::try_from(value.len()).expect("byte string over 4 GiB");
        self.u32(length);
        self.buffer.put_slice(value);
    }

    /// Bytes copied as they are, with no length prefix.
    pub(crate) fn raw(&mut self, value: &[u8]) {
        self.buffer.put_slice(value);
    }

    pub(crate) fn len(&self) -> usize {
        self.buffer.len()
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buffer
    }

    pub(crate) fn finish(self) -> Bytes {
        self.buffer.freeze()
    }
}

/// Reads fields from a buffer, front to back.
pub(crate) struct Reader<'a> {
    input: &'a Bytes,
    offset: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a Bytes) -> Reader<'a> {
        Reader { input, offset: 0 }
    }

    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    pub(crate) fn remaining(&self) -> usize {
        self.input.len() - self.offset
    }

    fn take(&mut self, length: usize) -> Result<Bytes, DecodeError> {
        if self.remaining() < length {
            return Err(DecodeError::Truncated {
                offset: self.offset,
                needed: length,
            });
        }
        let slice = self.input.slice(self.offset..self.offset + length);
        self.offset += length;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let slice = self.take(N)?;
        let mut array = [0; N];
        array.copy_from_slice(&slice);
        Ok(array)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        let offset = self.offset;
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::UnknownTag {
                what: "bool",
                tag,
                offset,
            }),
        }
    }

    /// A length-prefixed byte string, sharing the input's memory.
    pub(crate) fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let length = self.u32()? as usize;
        self.take(length)
    }

    pub(crate) fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Utf8 { what })
    }

    /// A count of items that follow, each at least `item_bytes_min` long;
    /// refuses counts the remaining input cannot hold, so a corrupt count
    /// cannot reserve gigabytes.
    pub(crate) fn count(&mut self, item_bytes_min: usize) -> Result<usize, DecodeError> {
        let offset = self.offset;
        let count = self.u32()? as usize;
        let needed = count.saturating_mul(item_bytes_min.max(1));
        if needed > self.remaining() {
            return Err(DecodeError::Truncated { offset, needed });
        }
        Ok(count)
    }

    /// Fails unless the whole input was read.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }
}
