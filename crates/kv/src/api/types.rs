//! The JSON shapes of the client API (docs/http-api.md), and conversions
//! from the state machine's types.
//!
//! Keys and values are bytes. In JSON a UTF-8 one is a plain string and
//! any other is `{"hex": "..."}`, so text stays readable and binary data
//! still round-trips.

use crate::store::{KeyValue, OpResponse, RangeResponse, TxnResponse};
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes in JSON: a string when UTF-8, otherwise `{"hex": "..."}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blob(pub Bytes);

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum BlobRepr {
    Text(String),
    Hex { hex: String },
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => BlobRepr::Hex {
                hex: hex_encode(&self.0),
            }
            .serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Blob, D::Error> {
        match BlobRepr::deserialize(deserializer)? {
            BlobRepr::Text(text) => Ok(Blob(Bytes::from(text))),
            BlobRepr::Hex { hex } => hex_decode(&hex)
                .map(|bytes| Blob(Bytes::from(bytes)))
                .ok_or_else(|| serde::de::Error::custom("invalid hex string")),
        }
    }
}

impl From<&str> for Blob {
    fn from(text: &str) -> Blob {
        Blob(Bytes::copy_from_slice(text.as_bytes()))
    }
}

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

pub(crate) fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// A key with its value and revisions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValueJson {
    pub key: Blob,
    pub value: Blob,
    pub create_revision: u64,
    pub mod_revision: u64,
    pub version: u64,
}

impl From<KeyValue> for KeyValueJson {
    fn from(kv: KeyValue) -> KeyValueJson {
        KeyValueJson {
            key: Blob(kv.key),
            value: Blob(kv.value),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
        }
    }
}

/// Answer to `PUT /v1/kv/{key}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutResult {
    pub revision: u64,
    /// Whether the key was absent before this write.
    pub created: bool,
}

/// Answer to `DELETE /v1/kv/{key}`: 200 also when the key was absent,
/// so a resent delete does not turn into an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteResult {
    pub revision: u64,
    pub deleted: bool,
}

/// Answer to `GET /v1/kv?prefix=...`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanResult {
    pub kvs: Vec<KeyValueJson>,
    /// Whether more keys matched than `limit` or the answer's byte limit
    /// allowed.
    pub more: bool,
    /// With `more`: the `start` of the next page (the last key with a zero
    /// byte appended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Blob>,
    pub revision: u64,
}

impl From<RangeResponse> for ScanResult {
    fn from(range: RangeResponse) -> ScanResult {
        ScanResult {
            kvs: range.kvs.into_iter().map(KeyValueJson::from).collect(),
            more: range.more,
            next: None,
            revision: range.revision,
        }
    }
}

/// Which side of a compare the key's state is tested against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOpJson {
    #[default]
    Equal,
    NotEqual,
    Less,
    Greater,
}

/// A compare of `POST /v1/txn`: `key`, `op` (default `equal`) and exactly
/// one of `value`, `mod_revision`, `create_revision`, `version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareJson {
    pub key: Blob,
    #[serde(default)]
    pub op: CompareOpJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Blob>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mod_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// One op of `POST /v1/txn`, e.g. `{"put": {"key": "a", "value": "1"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OpJson {
    Put {
        key: Blob,
        value: Blob,
    },
    Delete {
        key: Blob,
    },
    Get {
        key: Blob,
    },
    Range {
        #[serde(default)]
        prefix: Blob,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<Blob>,
        #[serde(default)]
        limit: usize,
    },
}

/// Body of `POST /v1/txn`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnRequestJson {
    #[serde(default)]
    pub compare: Vec<CompareJson>,
    #[serde(default)]
    pub success: Vec<OpJson>,
    #[serde(default)]
    pub failure: Vec<OpJson>,
}

/// The answer to one op of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpResultJson {
    Put(PutResult),
    Delete(DeleteResult),
    Range(ScanResult),
}

/// Answer to `POST /v1/txn`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResult {
    /// Whether every compare held (the `success` ops ran).
    pub succeeded: bool,
    pub revision: u64,
    pub responses: Vec<OpResultJson>,
}

impl From<TxnResponse> for TxnResult {
    fn from(txn: TxnResponse) -> TxnResult {
        let responses = txn
            .responses
            .into_iter()
            .map(|response| match response {
                OpResponse::Put(put) => OpResultJson::Put(PutResult {
                    revision: put.revision,
                    created: put.prev.is_none(),
                }),
                OpResponse::Delete(delete) => OpResultJson::Delete(DeleteResult {
                    revision: delete.revision,
                    deleted: delete.prev.is_some(),
                }),
                OpResponse::Range(range) => OpResultJson::Range(range.into()),
            })
            .collect();
        TxnResult {
            succeeded: txn.succeeded,
            revision: txn.revision,
            responses,
        }
    }
}

/// A member's voting role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Voter,
    Learner,
    /// A voter that never campaigns (`quorate serve --standby`).
    Standby,
}

/// One member as `GET /v1/cluster` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub id: u64,
    pub role: MemberRole,
    pub peer_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
    pub is_leader: bool,
    /// Highest log index known to be on this member (leader's view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_index: Option<u64>,
    /// Entries the member lacks behind the leader's last index (leader's view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_entries: Option<u64>,
    /// Milliseconds since the leader last heard from the member (leader's view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_contact_ms: Option<u64>,
}

/// Answer to `GET /v1/cluster` (and to membership changes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub cluster_id: String,
    /// The node that answered.
    pub node_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_id: Option<u64>,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    /// The map's revision on the answering node.
    pub revision: u64,
    pub members: Vec<MemberStatus>,
    /// Leader changes the answering node saw, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leader_changes: Vec<LeaderChange>,
}

/// One leader change as a node saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderChange {
    /// When the node learned of it, in milliseconds since the Unix epoch
    /// on the node's clock.
    pub at_ms: u64,
    pub term: u64,
    /// None while an election is under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_id: Option<u64>,
}

/// What `POST /v1/cluster/members` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberAction {
    /// Add a non-voting learner that catches up without affecting quorum.
    AddLearner,
    /// Make a caught-up learner a voter.
    Promote,
    Remove,
}

/// Body of `POST /v1/cluster/members`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberChange {
    pub action: MemberAction,
    pub id: u64,
    /// Needed by `add_learner`: where peers reach the new member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
}

/// Body of `POST /v1/cluster/leader`: the voter to hand leadership to,
/// or none to let the leader pick the most caught-up one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferLeader {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<u64>,
}

/// Answer to `POST /v1/cluster/leader`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferResult {
    pub leader_id: u64,
}

/// Answer to `POST /v1/snapshot`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotResult {
    /// The log index the snapshot covers.
    pub index: u64,
    pub bytes: u64,
}

/// Answer to `GET /health` and `GET /ready`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The process runs and serves HTTP.
    pub live: bool,
    /// This node knows a leader and has applied up to its commit index at
    /// start-up, so reads and writes can succeed.
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_a_string_and_binary_is_hex() {
        let text = serde_json::to_string(&Blob::from("héllo")).expect("serializes");
        assert_eq!(text, "\"héllo\"");
        let binary = Blob(Bytes::from_static(&[0xff, 0x00, 0x10]));
        let json = serde_json::to_string(&binary).expect("serializes");
        assert_eq!(json, r#"{"hex":"ff0010"}"#);
        let back: Blob = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, binary);
        assert!(serde_json::from_str::<Blob>(r#"{"hex":"f"}"#).is_err());
        assert!(serde_json::from_str::<Blob>(r#"{"hex":"zz"}"#).is_err());
    }

    #[test]
    fn txn_ops_are_externally_tagged() {
        let body = r#"{"compare":[{"key":"a","mod_revision":0}],
            "success":[{"put":{"key":"a","value":"1"}}],
            "failure":[{"get":{"key":"a"}}]}"#;
        let txn: TxnRequestJson = serde_json::from_str(body).expect("parses");
        assert_eq!(txn.compare[0].op, CompareOpJson::Equal);
        assert!(matches!(txn.success[0], OpJson::Put { .. }));
        let typo = r#"{"compares":[]}"#;
        assert!(serde_json::from_str::<TxnRequestJson>(typo).is_err());
    }
}
