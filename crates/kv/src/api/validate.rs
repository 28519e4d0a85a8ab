//! Request limits and the checks that turn API input into state machine
//! requests. All of them run before anything is proposed, so a refusal
//! here is always "not applied".

use super::error::{BadRequest, Field, KvError};
use super::types::{Blob, CompareJson, CompareOpJson, OpJson, TxnRequestJson};
use crate::sessions::{SessionKey, SESSION_ID_BYTES_MAX};
use crate::store::{Compare, CompareOp, CompareTarget, Op, RangeRequest, Txn};
use bytes::Bytes;

/// Largest key accepted by default, in bytes.
pub const KEY_BYTES_MAX_DEFAULT: usize = 4 * 1024;
/// Largest value accepted by default: 1 MiB, below etcd's 1.5 MiB request
/// limit, so one write never stalls replication for long.
pub const VALUE_BYTES_MAX_DEFAULT: usize = 1024 * 1024;
/// Largest request body accepted by default (a transaction's JSON).
pub const BODY_BYTES_MAX_DEFAULT: usize = 2 * 1024 * 1024;
/// Most ops in one branch of a transaction, and most compares (etcd's
/// `--max-txn-ops` default).
pub const TXN_OPS_MAX_DEFAULT: usize = 128;

/// Keys and values one scan answers with, in bytes, before it stops with
/// `more: true` and a continuation key: a full scan of big values would
/// otherwise build one answer of gigabytes.
pub const SCAN_BYTES_MAX_DEFAULT: usize = 4 * 1024 * 1024;
/// Scans served at once; more wait up to [`HEAVY_READ_WAIT`], then get
/// 503 `busy`. Bounds the memory concurrent big answers take.
pub const HEAVY_READS_MAX_DEFAULT: usize = 4;
/// How long a scan waits for a slot before it is refused.
pub const HEAVY_READ_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Request line and headers together, in bytes; more is 431.
pub const HEADER_BYTES_MAX_DEFAULT: usize = 16 * 1024;
/// Headers in one request; more is 431.
pub const HEADERS_MAX_DEFAULT: usize = 64;

/// The size limits of the client API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiLimits {
    pub key_bytes_max: usize,
    pub value_bytes_max: usize,
    pub body_bytes_max: usize,
    pub txn_ops_max: usize,
    pub scan_bytes_max: usize,
    pub heavy_reads_max: usize,
    pub header_bytes_max: usize,
    pub headers_max: usize,
}

impl Default for ApiLimits {
    fn default() -> ApiLimits {
        ApiLimits {
            key_bytes_max: KEY_BYTES_MAX_DEFAULT,
            value_bytes_max: VALUE_BYTES_MAX_DEFAULT,
            body_bytes_max: BODY_BYTES_MAX_DEFAULT,
            txn_ops_max: TXN_OPS_MAX_DEFAULT,
            scan_bytes_max: SCAN_BYTES_MAX_DEFAULT,
            heavy_reads_max: HEAVY_READS_MAX_DEFAULT,
            header_bytes_max: HEADER_BYTES_MAX_DEFAULT,
            headers_max: HEADERS_MAX_DEFAULT,
        }
    }
}

impl ApiLimits {
    pub(crate) fn key(&self, key: &[u8]) -> Result<(), KvError> {
        if key.is_empty() {
            return Err(KvError::bad_request(BadRequest::EmptyKey, ""));
        }
        limit(Field::Key, key.len(), self.key_bytes_max)
    }

    /// A prefix or range start may be empty (all keys).
    pub(crate) fn prefix(&self, prefix: &[u8]) -> Result<(), KvError> {
        limit(Field::Key, prefix.len(), self.key_bytes_max)
    }

    pub(crate) fn value(&self, value: &[u8]) -> Result<(), KvError> {
        limit(Field::Value, value.len(), self.value_bytes_max)
    }

    /// Converts and checks a transaction body.
    pub(crate) fn txn(&self, body: TxnRequestJson) -> Result<Txn, KvError> {
        limit(Field::Compares, body.compare.len(), self.txn_ops_max)?;
        limit(Field::Ops, body.success.len(), self.txn_ops_max)?;
        limit(Field::Ops, body.failure.len(), self.txn_ops_max)?;
        let compares = body
            .compare
            .into_iter()
            .map(|compare| self.compare(compare))
            .collect::<Result<_, _>>()?;
        let success = body
            .success
            .into_iter()
            .map(|op| self.op(op))
            .collect::<Result<_, _>>()?;
        let failure = body
            .failure
            .into_iter()
            .map(|op| self.op(op))
            .collect::<Result<_, _>>()?;
        Ok(Txn {
            compares,
            success,
            failure,
        })
    }

    fn compare(&self, compare: CompareJson) -> Result<Compare, KvError> {
        self.key(&compare.key.0)?;
        let targets = [
            compare.value.map(|Blob(value)| CompareTarget::Value(value)),
            compare.mod_revision.map(CompareTarget::ModRevision),
            compare.create_revision.map(CompareTarget::CreateRevision),
            compare.version.map(CompareTarget::Version),
        ];
        let mut given = targets.into_iter().flatten();
        let (Some(target), None) = (given.next(), given.next()) else {
            return Err(KvError::bad_request(BadRequest::CompareTarget, ""));
        };
        if let CompareTarget::Value(value) = &target {
            self.value(value)?;
        }
        let op = match compare.op {
            CompareOpJson::Equal => CompareOp::Equal,
            CompareOpJson::NotEqual => CompareOp::NotEqual,
            CompareOpJson::Less => CompareOp::Less,
            CompareOpJson::Greater => CompareOp::Greater,
        };
        Ok(Compare {
            key: compare.key.0,
            op,
            target,
        })
    }

    fn op(&self, op: OpJson) -> Result<Op, KvError> {
        match op {
            OpJson::Put { key, value } => {
                self.key(&key.0)?;
                self.value(&value.0)?;
                Ok(Op::Put {
                    key: key.0,
                    value: value.0,
                })
            }
            OpJson::Delete { key } => self.key(&key.0).map(|()| Op::Delete { key: key.0 }),
            OpJson::Get { key } => self.key(&key.0).map(|()| Op::Get { key: key.0 }),
            OpJson::Range {
                prefix,
                start,
                limit,
            } => {
                self.prefix(&prefix.0)?;
                if let Some(start) = &start {
                    self.prefix(&start.0)?;
                }
                Ok(Op::Range(RangeRequest {
                    prefix: prefix.0,
                    start: start.map(|start| start.0),
                    limit,
                }))
            }
        }
    }
}

fn limit(field: Field, size: usize, limit: usize) -> Result<(), KvError> {
    if size > limit {
        return Err(KvError::TooLarge {
            field,
            size: size as u64,
            limit: limit as u64,
        });
    }
    Ok(())
}

/// Builds the exactly-once key from the `Idempotency-Key` and optional
/// `Quorate-Client-Id` headers (raw values, `None` when absent).
pub(crate) fn session(
    idempotency_key: Option<&[u8]>,
    client_id: Option<&[u8]>,
) -> Result<Option<SessionKey>, KvError> {
    let Some(request_id) = idempotency_key else {
        return Ok(None);
    };
    let request_id = session_id(request_id)
        .ok_or_else(|| KvError::bad_request(BadRequest::IdempotencyKey, ""))?;
    let client_id = match client_id {
        Some(raw) => {
            session_id(raw).ok_or_else(|| KvError::bad_request(BadRequest::ClientId, ""))?
        }
        None => String::new(),
    };
    Ok(Some(SessionKey {
        client_id,
        request_id,
    }))
}

fn session_id(raw: &[u8]) -> Option<String> {
    let valid = !raw.is_empty()
        && raw.len() <= SESSION_ID_BYTES_MAX
        && raw.iter().all(|byte| byte.is_ascii_graphic());
    valid.then(|| String::from_utf8_lossy(raw).into_owned())
}

/// The raw bytes of a request body, already bounded by the router.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, KvError> {
    serde_json::from_slice(body)
        .map_err(|error| KvError::bad_request(BadRequest::Json, error.to_string()))
}
