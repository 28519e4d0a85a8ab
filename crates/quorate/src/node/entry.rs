//! The runtime's framing of normal entries: a one-byte tag tells an
//! application command from a record the runtime applies itself (a peer's
//! address, replicated so every member and every future leader can reach
//! a node added with `add_learner`). An empty entry is a leader's no-op.

use bytes::{BufMut, Bytes, BytesMut};
use quorate_core::NodeId;
use std::net::SocketAddr;

const TAG_COMMAND: u8 = 0;
const TAG_ADDRESS: u8 = 1;
/// Longest textual socket address accepted from the log.
const ADDRESS_BYTES_MAX: usize = 128;

/// A decoded normal entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    Noop,
    Command(Bytes),
    Address {
        node: NodeId,
        addr: SocketAddr,
    },
    /// A tag this build does not know (written by a newer version) or a
    /// malformed record; skipped identically on every member.
    Unknown,
}

pub(crate) fn encode_command(command: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(command.len() + 1);
    out.put_u8(TAG_COMMAND);
    out.put_slice(command);
    out.freeze()
}

pub(crate) fn encode_address(node: NodeId, addr: SocketAddr) -> Bytes {
    let text = addr.to_string();
    let mut out = BytesMut::with_capacity(9 + text.len());
    out.put_u8(TAG_ADDRESS);
    out.put_u64_le(node.get());
    out.put_slice(text.as_bytes());
    out.freeze()
}

pub(crate) fn decode(data: &Bytes) -> Decoded {
    let Some(&tag) = data.first() else {
        return Decoded::Noop;
    };
    match tag {
        TAG_COMMAND => Decoded::Command(data.slice(1..)),
        TAG_ADDRESS => decode_address(&data[1..]),
        _ => Decoded::Unknown,
    }
}

fn decode_address(body: &[u8]) -> Decoded {
    if body.len() < 8 || body.len() > 8 + ADDRESS_BYTES_MAX {
        return Decoded::Unknown;
    }
    let (id, text) = body.split_at(8);
    let node = NodeId::new(u64::from_le_bytes(id.try_into().expect("split at 8")));
    let addr = std::str::from_utf8(text).ok().and_then(|t| t.parse().ok());
    match addr {
        Some(addr) if !node.is_none() => Decoded::Address { node, addr },
        _ => Decoded::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_addresses_round_trip() {
        let command = encode_command(b"incr");
        assert_eq!(
            decode(&command),
            Decoded::Command(Bytes::from_static(b"incr"))
        );
        let addr: SocketAddr = "127.0.0.1:7000".parse().expect("valid");
        let record = encode_address(NodeId::new(4), addr);
        assert_eq!(
            decode(&record),
            Decoded::Address {
                node: NodeId::new(4),
                addr
            }
        );
        assert_eq!(decode(&Bytes::new()), Decoded::Noop);
        assert_eq!(decode(&record.slice(..5)), Decoded::Unknown);
    }
}
