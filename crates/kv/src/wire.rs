//! Binary encoding of the map's requests and responses, used inside log
//! commands and, for remembered responses, inside snapshots.
//!
//! The layout is positional: fixed-width little-endian integers, u32
//! length-prefixed byte strings, u32 counts, and a u8 tag before each enum
//! variant. Unknown tags are errors, never skipped, so a member running an
//! older version refuses a command it does not understand instead of
//! applying part of it.

use crate::codec::{DecodeError, Reader, Writer};
use crate::store::{
    Compare, CompareOp, CompareTarget, DeleteResponse, KeyValue, Op, OpResponse, PutResponse,
    RangeRequest, RangeResponse, Txn, TxnResponse,
};
use bytes::Bytes;

/// A write: what a log command asks the map to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteRequest {
    Put { key: Bytes, value: Bytes },
    Delete { key: Bytes },
    Txn(Txn),
}

/// The answer to a [`WriteRequest`], same variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteResponse {
    Put(PutResponse),
    Delete(DeleteResponse),
    Txn(TxnResponse),
}

/// Smallest encoded op, for [`Reader::count`]'s sanity bound.
const OP_BYTES_MIN: usize = 5;
const COMPARE_BYTES_MIN: usize = 10;
const KEY_VALUE_BYTES_MIN: usize = 32;

pub(crate) fn encode_write_request(writer: &mut Writer, request: &WriteRequest) {
    match request {
        WriteRequest::Put { key, value } => {
            writer.u8(1);
            writer.bytes(key);
            writer.bytes(value);
        }
        WriteRequest::Delete { key } => {
            writer.u8(2);
            writer.bytes(key);
        }
        WriteRequest::Txn(txn) => {
            writer.u8(3);
            encode_txn(writer, txn);
        }
    }
}

pub(crate) fn decode_write_request(reader: &mut Reader<'_>) -> Result<WriteRequest, DecodeError> {
    let offset = reader.offset();
    match reader.u8()? {
        1 => Ok(WriteRequest::Put {
            key: reader.bytes()?,
            value: reader.bytes()?,
        }),
        2 => Ok(WriteRequest::Delete {
            key: reader.bytes()?,
        }),
        3 => Ok(WriteRequest::Txn(decode_txn(reader)?)),
        tag => Err(unknown("write request", tag, offset)),
    }
}

pub(crate) fn encode_write_response(writer: &mut Writer, response: &WriteResponse) {
    match response {
        WriteResponse::Put(put) => {
            writer.u8(1);
            encode_put_response(writer, put);
        }
        WriteResponse::Delete(delete) => {
            writer.u8(2);
            encode_delete_response(writer, delete);
        }
        WriteResponse::Txn(txn) => {
            writer.u8(3);
            writer.bool(txn.succeeded);
            writer.u32(count(txn.responses.len()));
            for response in &txn.responses {
                encode_op_response(writer, response);
            }
            writer.u64(txn.revision);
        }
    }
}

pub(crate) fn decode_write_response(reader: &mut Reader<'_>) -> Result<WriteResponse, DecodeError> {
    let offset = reader.offset();
    match reader.u8()? {
        1 => Ok(WriteResponse::Put(decode_put_response(reader)?)),
        2 => Ok(WriteResponse::Delete(decode_delete_response(reader)?)),
        3 => {
            let succeeded = reader.bool()?;
            let length = reader.count(OP_BYTES_MIN)?;
            let responses = (0..length)
                .map(|_| decode_op_response(reader))
                .collect::<Result<_, _>>()?;
            Ok(WriteResponse::Txn(TxnResponse {
                succeeded,
                responses,
                revision: reader.u64()?,
            }))
        }
        tag => Err(unknown("write response", tag, offset)),
    }
}

fn encode_txn(writer: &mut Writer, txn: &Txn) {
    writer.u32(count(txn.compares.len()));
    for compare in &txn.compares {
        writer.bytes(&compare.key);
        writer.u8(match compare.op {
            CompareOp::Equal => 1,
            CompareOp::NotEqual => 2,
            CompareOp::Less => 3,
            CompareOp::Greater => 4,
        });
        match &compare.target {
            CompareTarget::Value(value) => {
                writer.u8(1);
                writer.bytes(value);
            }
            CompareTarget::ModRevision(revision) => tagged_u64(writer, 2, *revision),
            CompareTarget::CreateRevision(revision) => tagged_u64(writer, 3, *revision),
            CompareTarget::Version(version) => tagged_u64(writer, 4, *version),
        }
    }
    for ops in [&txn.success, &txn.failure] {
        writer.u32(count(ops.len()));
        for op in ops {
            encode_op(writer, op);
        }
    }
}

fn decode_txn(reader: &mut Reader<'_>) -> Result<Txn, DecodeError> {
    let length = reader.count(COMPARE_BYTES_MIN)?;
    let compares = (0..length)
        .map(|_| decode_compare(reader))
        .collect::<Result<_, _>>()?;
    let length = reader.count(OP_BYTES_MIN)?;
    let success = (0..length)
        .map(|_| decode_op(reader))
        .collect::<Result<_, _>>()?;
    let length = reader.count(OP_BYTES_MIN)?;
    let failure = (0..length)
        .map(|_| decode_op(reader))
        .collect::<Result<_, _>>()?;
    Ok(Txn {
        compares,
        success,
        failure,
    })
}

fn decode_compare(reader: &mut Reader<'_>) -> Result<Compare, DecodeError> {
    let key = reader.bytes()?;
    let offset = reader.offset();
    let op = match reader.u8()? {
        1 => CompareOp::Equal,
        2 => CompareOp::NotEqual,
        3 => CompareOp::Less,
        4 => CompareOp::Greater,
        tag => return Err(unknown("compare op", tag, offset)),
    };
    let offset = reader.offset();
    let target = match reader.u8()? {
        1 => CompareTarget::Value(reader.bytes()?),
        2 => CompareTarget::ModRevision(reader.u64()?),
        3 => CompareTarget::CreateRevision(reader.u64()?),
        4 => CompareTarget::Version(reader.u64()?),
        tag => return Err(unknown("compare target", tag, offset)),
    };
    Ok(Compare { key, op, target })
}

fn encode_op(writer: &mut Writer, op: &Op) {
    match op {
        Op::Put { key, value } => {
            writer.u8(1);
            writer.bytes(key);
            writer.bytes(value);
        }
        Op::Delete { key } => {
            writer.u8(2);
            writer.bytes(key);
        }
        Op::Get { key } => {
            writer.u8(3);
            writer.bytes(key);
        }
        Op::Range(range) => {
            writer.u8(4);
            writer.bytes(&range.prefix);
            writer.bool(range.start.is_some());
            writer.bytes(range.start.as_deref().unwrap_or_default());
            writer.u64(range.limit as u64);
        }
    }
}

fn decode_op(reader: &mut Reader<'_>) -> Result<Op, DecodeError> {
    let offset = reader.offset();
    match reader.u8()? {
        1 => Ok(Op::Put {
            key: reader.bytes()?,
            value: reader.bytes()?,
        }),
        2 => Ok(Op::Delete {
            key: reader.bytes()?,
        }),
        3 => Ok(Op::Get {
            key: reader.bytes()?,
        }),
        4 => {
            let prefix = reader.bytes()?;
            let has_start = reader.bool()?;
            let start = reader.bytes()?;
            let limit = usize::try_from(reader.u64()?).unwrap_or(usize::MAX);
            Ok(Op::Range(RangeRequest {
                prefix,
                start: has_start.then_some(start),
                limit,
            }))
        }
        tag => Err(unknown("op", tag, offset)),
    }
}

fn encode_op_response(writer: &mut Writer, response: &OpResponse) {
    match response {
        OpResponse::Put(put) => {
            writer.u8(1);
            encode_put_response(writer, put);
        }
        OpResponse::Delete(delete) => {
            writer.u8(2);
            encode_delete_response(writer, delete);
        }
        OpResponse::Range(range) => {
            writer.u8(3);
            writer.u32(count(range.kvs.len()));
            for kv in &range.kvs {
                encode_key_value(writer, kv);
            }
            writer.bool(range.more);
            writer.u64(range.revision);
        }
    }
}

fn decode_op_response(reader: &mut Reader<'_>) -> Result<OpResponse, DecodeError> {
    let offset = reader.offset();
    match reader.u8()? {
        1 => Ok(OpResponse::Put(decode_put_response(reader)?)),
        2 => Ok(OpResponse::Delete(decode_delete_response(reader)?)),
        3 => {
            let length = reader.count(KEY_VALUE_BYTES_MIN)?;
            let kvs = (0..length)
                .map(|_| decode_key_value(reader))
                .collect::<Result<_, _>>()?;
            Ok(OpResponse::Range(RangeResponse {
                kvs,
                more: reader.bool()?,
                revision: reader.u64()?,
            }))
        }
        tag => Err(unknown("op response", tag, offset)),
    }
}

fn encode_put_response(writer: &mut Writer, response: &PutResponse) {
    writer.u64(response.revision);
    encode_prev(writer, response.prev.as_ref());
}

fn decode_put_response(reader: &mut Reader<'_>) -> Result<PutResponse, DecodeError> {
    Ok(PutResponse {
        revision: reader.u64()?,
        prev: decode_prev(reader)?,
    })
}

fn encode_delete_response(writer: &mut Writer, response: &DeleteResponse) {
    writer.u64(response.revision);
    encode_prev(writer, response.prev.as_ref());
}

fn decode_delete_response(reader: &mut Reader<'_>) -> Result<DeleteResponse, DecodeError> {
    Ok(DeleteResponse {
        revision: reader.u64()?,
        prev: decode_prev(reader)?,
    })
}

fn encode_prev(writer: &mut Writer, prev: Option<&KeyValue>) {
    writer.bool(prev.is_some());
    if let Some(kv) = prev {
        encode_key_value(writer, kv);
    }
}

fn decode_prev(reader: &mut Reader<'_>) -> Result<Option<KeyValue>, DecodeError> {
    if reader.bool()? {
        Ok(Some(decode_key_value(reader)?))
    } else {
        Ok(None)
    }
}

fn encode_key_value(writer: &mut Writer, kv: &KeyValue) {
    writer.bytes(&kv.key);
    writer.bytes(&kv.value);
    writer.u64(kv.create_revision);
    writer.u64(kv.mod_revision);
    writer.u64(kv.version);
}

fn decode_key_value(reader: &mut Reader<'_>) -> Result<KeyValue, DecodeError> {
    Ok(KeyValue {
        key: reader.bytes()?,
        value: reader.bytes()?,
        create_revision: reader.u64()?,
        mod_revision: reader.u64()?,
        version: reader.u64()?,
    })
}

fn tagged_u64(writer: &mut Writer, tag: u8, value: u64) {
    writer.u8(tag);
    writer.u64(value);
}

/// Counts are u32 on the wire; the API's limits keep them far below.
fn count(length: usize) -> u32 {
    u32::try_from(length).expect("more than 2^32 items in one message")
}

fn unknown(what: &'static str, tag: u8, offset: usize) -> DecodeError {
    DecodeError::UnknownTag { what, tag, offset }
}
