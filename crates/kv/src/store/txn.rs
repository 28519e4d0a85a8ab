//! Requests and responses of the map's operations, and the compares a
//! transaction guards its ops with.

use super::{KeyValue, KvStore, RANGE_LIMIT_MAX};
use bytes::Bytes;
use std::cmp::Ordering;

/// A scan: keys starting with `prefix`, from `start` on, at most `limit`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// Only keys with this prefix; empty means all keys.
    pub prefix: Bytes,
    /// First key to return (inclusive), for paging: pass the last key of
    /// the previous page with a zero byte appended.
    pub start: Option<Bytes>,
    /// Most keys to return; 0 means [`RANGE_LIMIT_MAX`].
    pub limit: usize,
}

impl RangeRequest {
    /// A scan of every key with `prefix`, at most `limit` of them.
    pub fn prefix(prefix: impl Into<Bytes>, limit: usize) -> RangeRequest {
        RangeRequest {
            prefix: prefix.into(),
            start: None,
            limit,
        }
    }

    /// The limit applied: the request's, capped, with 0 meaning the cap.
    pub fn limit_effective(&self) -> usize {
        if self.limit == 0 {
            RANGE_LIMIT_MAX
        } else {
            self.limit.min(RANGE_LIMIT_MAX)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// Whether more keys matched than were returned.
    pub more: bool,
    /// The store's revision when the range was read.
    pub revision: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutResponse {
    /// The revision of this write.
    pub revision: u64,
    /// The key as it was before, if present.
    pub prev: Option<KeyValue>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteResponse {
    /// The store's revision after the delete (unchanged if nothing was
    /// deleted).
    pub revision: u64,
    /// The deleted key, if it was present.
    pub prev: Option<KeyValue>,
}

/// One operation inside a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        key: Bytes,
        value: Bytes,
    },
    Delete {
        key: Bytes,
    },
    /// Reads one key; answers with a range of zero or one keys.
    Get {
        key: Bytes,
    },
    Range(RangeRequest),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResponse {
    Put(PutResponse),
    Delete(DeleteResponse),
    Range(RangeResponse),
}

impl OpResponse {
    /// Every response of one transaction reports the transaction's final
    /// revision, as etcd's response header does.
    pub(crate) fn set_revision(&mut self, revision: u64) {
        match self {
            OpResponse::Put(response) => response.revision = revision,
            OpResponse::Delete(response) => response.revision = revision,
            OpResponse::Range(response) => response.revision = revision,
        }
    }
}

/// What a compare reads from the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompareTarget {
    /// The value; an absent key has no value, so every value compare on it
    /// fails (as in etcd).
    Value(Bytes),
    /// The last-modified revision; 0 for an absent key, so
    /// `ModRevision(0) Equal` means "the key does not exist".
    ModRevision(u64),
    /// The creation revision; 0 for an absent key.
    CreateRevision(u64),
    /// The number of writes since creation; 0 for an absent key.
    Version(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Less,
    Greater,
}

impl CompareOp {
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Equal => ordering == Ordering::Equal,
            CompareOp::NotEqual => ordering != Ordering::Equal,
            CompareOp::Less => ordering == Ordering::Less,
            CompareOp::Greater => ordering == Ordering::Greater,
        }
    }
}

/// `key`'s `target` compared with `op`: the key's side is on the left,
/// so `ModRevision(5) Less` holds when the key's mod revision is below 5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compare {
    pub key: Bytes,
    pub op: CompareOp,
    pub target: CompareTarget,
}

impl Compare {
    /// Whether the compare holds against `store` now.
    pub fn holds(&self, store: &KvStore) -> bool {
        let current = store.entries.get(&self.key);
        let ordering = match (&self.target, current) {
            (CompareTarget::Value(_), None) => return false,
            (CompareTarget::Value(expected), Some(entry)) => entry.value.cmp(expected),
            (CompareTarget::ModRevision(expected), entry) => {
                entry.map_or(0, |e| e.mod_revision).cmp(expected)
            }
            (CompareTarget::CreateRevision(expected), entry) => {
                entry.map_or(0, |e| e.create_revision).cmp(expected)
            }
            (CompareTarget::Version(expected), entry) => {
                entry.map_or(0, |e| e.version).cmp(expected)
            }
        };
        self.op.accepts(ordering)
    }
}

/// An atomic transaction: if every compare holds, `success` runs,
/// otherwise `failure`. Ops run in order and see each other's writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    pub compares: Vec<Compare>,
    pub success: Vec<Op>,
    pub failure: Vec<Op>,
}

impl Txn {
    /// A compare-and-set of `key` to `value`, guarded by `target` being
    /// equal to the key's current state.
    pub fn compare_and_set(key: Bytes, target: CompareTarget, value: Bytes) -> Txn {
        Txn {
            compares: vec![Compare {
                key: key.clone(),
                op: CompareOp::Equal,
                target,
            }],
            success: vec![Op::Put {
                key: key.clone(),
                value,
            }],
            failure: vec![Op::Get { key }],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether the compares held (the success branch ran).
    pub succeeded: bool,
    /// One response per op of the branch that ran.
    pub responses: Vec<OpResponse>,
    /// The store's revision after the transaction.
    pub revision: u64,
}
