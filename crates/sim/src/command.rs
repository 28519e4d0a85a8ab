//! The KV commands the simulated clients replicate, as entry payloads.

use crate::history::{Op, Output};
use crate::kv_model::KvState;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// One replicated write: the operation and the id of the history record
/// that asked for it (so the proposer can answer its client).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Command {
    pub op_index: u64,
    pub op: Op,
}

const PUT: u8 = 1;
const DELETE: u8 = 2;
const CAS: u8 = 3;

fn put_option(out: &mut BytesMut, value: Option<u64>) {
    match value {
        Some(v) => {
            out.put_u8(1);
            out.put_u64_le(v);
        }
        None => {
            out.put_u8(0);
            out.put_u64_le(0);
        }
    }
}

fn get_option(input: &mut &[u8]) -> Option<u64> {
    let present = input.get_u8();
    let value = input.get_u64_le();
    (present == 1).then_some(value)
}

impl Command {
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(40);
        out.put_u64_le(self.op_index);
        match self.op {
            Op::Put { key, value } => {
                out.put_u8(PUT);
                out.put_u64_le(key);
                out.put_u64_le(value);
            }
            Op::Delete { key } => {
                out.put_u8(DELETE);
                out.put_u64_le(key);
            }
            Op::Cas { key, expected, new } => {
                out.put_u8(CAS);
                out.put_u64_le(key);
                put_option(&mut out, expected);
                put_option(&mut out, new);
            }
            Op::Get { .. } => unreachable!("reads are not replicated"),
        }
        out.freeze()
    }

    /// Decodes a payload this module wrote; the simulator only ever reads
    /// its own entries, so a malformed one is a simulator bug.
    pub fn decode(data: &[u8]) -> Command {
        let mut input = data;
        let op_index = input.get_u64_le();
        let kind = input.get_u8();
        let key = input.get_u64_le();
        let op = match kind {
            PUT => Op::Put {
                key,
                value: input.get_u64_le(),
            },
            DELETE => Op::Delete { key },
            CAS => {
                let expected = get_option(&mut input);
                let new = get_option(&mut input);
                Op::Cas { key, expected, new }
            }
            other => panic!("unknown command kind {other}"),
        };
        Command { op_index, op }
    }

    /// Applies the command to a replica's state.
    pub fn apply(&self, state: &mut KvState) -> Output {
        state.apply(&self.op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip() {
        let ops = [
            Op::Put { key: 3, value: 9 },
            Op::Delete { key: 4 },
            Op::Cas {
                key: 5,
                expected: None,
                new: Some(7),
            },
            Op::Cas {
                key: 5,
                expected: Some(7),
                new: None,
            },
        ];
        for (k, op) in ops.into_iter().enumerate() {
            let command = Command {
                op_index: k as u64,
                op,
            };
            assert_eq!(Command::decode(&command.encode()), command);
        }
    }
}
