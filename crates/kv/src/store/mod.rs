//! The ordered key-value map with etcd's revision model.
//!
//! Every write that changes the map bumps one global `revision`; each key
//! remembers the revision that created it (`create_revision`), the one
//! that last changed it (`mod_revision`) and how often it changed since
//! creation (`version`). A compare-and-set on `mod_revision` is then a
//! lock-free optimistic update, and `mod_revision == 0` means "absent".
//!
//! Only the newest value of each key is kept (no multi-version history):
//! the Raft log and snapshots already give durability, and reads are served
//! from the applied state.

mod txn;

pub use txn::{
    Compare, CompareOp, CompareTarget, DeleteResponse, Op, OpResponse, PutResponse, RangeRequest,
    RangeResponse, Txn, TxnResponse,
};

use bytes::Bytes;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Highest number of keys one range returns, whatever the request's limit
/// says, so one read cannot build an unbounded response.
pub const RANGE_LIMIT_MAX: usize = 10_000;

/// One key with its value and revision metadata (etcd's `mvccpb.KeyValue`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Bytes,
    pub value: Bytes,
    /// Revision of the write that created the key (since its last delete).
    pub create_revision: u64,
    /// Revision of the write that last changed the key.
    pub mod_revision: u64,
    /// Number of writes since creation; 1 right after creation.
    pub version: u64,
}

/// What the map keeps per key; the key itself is the map's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) value: Bytes,
    pub(crate) create_revision: u64,
    pub(crate) mod_revision: u64,
    pub(crate) version: u64,
}

/// The replicated map. Deterministic: the same writes in the same order
/// give the same map and revisions on every member.
///
/// Invariant: every entry's `create_revision <= mod_revision <= revision`
/// and `version >= 1`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    entries: BTreeMap<Bytes, Entry>,
    /// Revision of the newest write that changed the map; 0 when none did.
    revision: u64,
}

impl KvStore {
    pub fn new() -> KvStore {
        KvStore::default()
    }

    /// The revision of the newest change; reads report it so clients can
    /// order what they saw.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Number of keys present.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The key's value and metadata, if present.
    pub fn get(&self, key: &[u8]) -> Option<KeyValue> {
        self.entries
            .get_key_value(key)
            .map(|(key, entry)| key_value(key, entry))
    }

    /// Sets `key` to `value` as one write at a new revision.
    pub fn put(&mut self, key: Bytes, value: Bytes) -> PutResponse {
        let revision = self.next_revision();
        let response = self.put_at(key, value, revision);
        self.revision = revision;
        response
    }

    /// Removes `key` as one write; a delete of an absent key changes
    /// nothing and keeps the revision, like etcd.
    pub fn delete(&mut self, key: &[u8]) -> DeleteResponse {
        let revision = self.next_revision();
        let response = self.delete_at(key);
        if response.prev.is_some() {
            self.revision = revision;
        }
        DeleteResponse {
            revision: self.revision,
            ..response
        }
    }

    /// Keys in order from `request.start` (inclusive) that share
    /// `request.prefix`, at most `request.limit` of them (capped at
    /// [`RANGE_LIMIT_MAX`]). `more` says whether keys were left out.
    pub fn range(&self, request: &RangeRequest) -> RangeResponse {
        let limit = request.limit_effective();
        let from = match &request.start {
            Some(start) if start.as_ref() > request.prefix.as_ref() => start.clone(),
            _ => request.prefix.clone(),
        };
        let mut kvs = Vec::new();
        let mut more = false;
        for (key, entry) in self
            .entries
            .range::<Bytes, _>((Bound::Included(from), Bound::Unbounded))
        {
            if !key.starts_with(&request.prefix) {
                break;
            }
            if kvs.len() == limit {
                more = true;
                break;
            }
            kvs.push(key_value(key, entry));
        }
        RangeResponse {
            kvs,
            more,
            revision: self.revision,
        }
    }

    /// Runs `txn` atomically: if every compare holds, the success ops,
    /// otherwise the failure ops. All writes share one new revision.
    pub fn txn(&mut self, txn: &Txn) -> TxnResponse {
        let succeeded = txn.compares.iter().all(|compare| compare.holds(self));
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let revision = self.next_revision();
        let mut changed = false;
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let response = match op {
                Op::Put { key, value } => {
                    changed = true;
                    OpResponse::Put(self.put_at(key.clone(), value.clone(), revision))
                }
                Op::Delete { key } => {
                    let response = self.delete_at(key);
                    changed |= response.prev.is_some();
                    OpResponse::Delete(response)
                }
                Op::Get { key } => OpResponse::Range(RangeResponse {
                    kvs: self.get(key).into_iter().collect(),
                    more: false,
                    revision: self.revision,
                }),
                Op::Range(request) => OpResponse::Range(self.range(request)),
            };
            responses.push(response);
        }
        if changed {
            self.revision = revision;
        }
        for response in &mut responses {
            response.set_revision(self.revision);
        }
        TxnResponse {
            succeeded,
            responses,
            revision: self.revision,
        }
    }

    /// Iterates over every key in order; snapshots use it.
    pub(crate) fn entries(&self) -> impl ExactSizeIterator<Item = (&Bytes, &Entry)> {
        self.entries.iter()
    }

    /// Rebuilds a store from decoded parts, checking the invariants that
    /// a snapshot cannot be trusted to keep.
    pub(crate) fn from_parts(
        entries: BTreeMap<Bytes, Entry>,
        revision: u64,
    ) -> Result<KvStore, InvalidEntry> {
        for (key, entry) in &entries {
            let valid = entry.version >= 1
                && entry.create_revision >= 1
                && entry.create_revision <= entry.mod_revision
                && entry.mod_revision <= revision;
            if !valid {
                return Err(InvalidEntry { key: key.clone() });
            }
        }
        Ok(KvStore { entries, revision })
    }

    fn next_revision(&self) -> u64 {
        self.revision
            .checked_add(1)
            .expect("revision overflow: 2^64 writes")
    }

    fn put_at(&mut self, key: Bytes, value: Bytes, revision: u64) -> PutResponse {
        let prev = self.entries.get(&key).map(|entry| key_value(&key, entry));
        let entry = match &prev {
            Some(prev) => Entry {
                value,
                create_revision: prev.create_revision,
                mod_revision: revision,
                version: prev.version.saturating_add(1),
            },
            None => Entry {
                value,
                create_revision: revision,
                mod_revision: revision,
                version: 1,
            },
        };
        assert!(revision > self.revision, "a write must use a new revision");
        self.entries.insert(key, entry);
        PutResponse { revision, prev }
    }

    fn delete_at(&mut self, key: &[u8]) -> DeleteResponse {
        let prev = self
            .entries
            .remove_entry(key)
            .map(|(key, entry)| key_value(&key, &entry));
        DeleteResponse {
            revision: self.revision,
            prev,
        }
    }
}

/// A snapshot entry that breaks the revision invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidEntry {
    pub(crate) key: Bytes,
}

fn key_value(key: &Bytes, entry: &Entry) -> KeyValue {
    KeyValue {
        key: key.clone(),
        value: entry.value.clone(),
        create_revision: entry.create_revision,
        mod_revision: entry.mod_revision,
        version: entry.version,
    }
}

#[cfg(test)]
mod tests;
