//! The HTTP/JSON client API: request and response types, validation, the
//! error-to-status mapping and the axum router over a [`KvService`].

mod admin;
mod auth;
mod error;
mod query;
mod reject;
mod response;
mod router;
mod service;
mod types;
mod validate;

pub use auth::{
    token_hash, Authenticator, ClientCertificate, Role, TokenFileError, OPEN_PATHS_DEFAULT,
};
pub use error::{
    BadRequest, Busy, ErrorBody, Field, KvError, Outcome, Refusal, NO_LEADER_RETRY_AFTER_S,
};
pub use reject::Rejection;
pub use response::{
    CLIENT_ID_HEADER, CREATE_REVISION_HEADER, IDEMPOTENCY_KEY_HEADER, MOD_REVISION_HEADER,
    REVISION_HEADER, VERSION_HEADER,
};
pub use router::{router, secured_router};
pub use service::{Consistency, KvService, ReadAnswer, ReadQuery, WriteCall};
pub(crate) use types::hex_encode;
pub use types::{
    Blob, ClusterStatus, CompareJson, CompareOpJson, DeleteResult, Health, KeyValueJson,
    LeaderChange, MemberAction, MemberChange, MemberRole, MemberStatus, OpJson, OpResultJson,
    PutResult, ScanResult, SnapshotResult, TransferLeader, TransferResult, TxnRequestJson,
    TxnResult,
};
pub use validate::{
    ApiLimits, BODY_BYTES_MAX_DEFAULT, HEADERS_MAX_DEFAULT, HEADER_BYTES_MAX_DEFAULT,
    HEAVY_READS_MAX_DEFAULT, HEAVY_READ_WAIT, KEY_BYTES_MAX_DEFAULT, SCAN_BYTES_MAX_DEFAULT,
    TXN_OPS_MAX_DEFAULT, VALUE_BYTES_MAX_DEFAULT,
};
