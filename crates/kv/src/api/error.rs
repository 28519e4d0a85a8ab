//! The errors of the client API and how each maps onto HTTP.
//!
//! Every error tells the client whether the write may have happened
//! ([`Outcome`]): "not applied" errors (a redirect, no leader, a refused
//! or invalid request) are safe to retry as they are; "indeterminate"
//! errors (proposed, commit not seen) must be treated as maybe applied,
//! unless the write carried an `Idempotency-Key`, in which case resending
//! it with the same key is safe either way.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// Whether a failed request may still take effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Refused before it was proposed, or a read: nothing changed.
    NotApplied,
    /// Proposed, but its commit was not seen: it may or may not apply.
    Indeterminate,
}

/// Which part of a request broke a size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Key,
    Value,
    Body,
    Ops,
    Compares,
}

/// Why a request is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRequest {
    EmptyKey,
    /// The query string has an unknown parameter or an invalid value.
    Query,
    /// The JSON body does not parse or does not fit the schema.
    Json,
    /// A compare must name exactly one of value, mod_revision,
    /// create_revision and version.
    CompareTarget,
    IdempotencyKey,
    ClientId,
    /// A membership change without the URLs its action needs.
    MemberUrls,
}

impl BadRequest {
    fn describe(self) -> &'static str {
        match self {
            BadRequest::EmptyKey => "the key must not be empty",
            BadRequest::Query => "invalid query string",
            BadRequest::Json => "invalid JSON body",
            BadRequest::CompareTarget => {
                "a compare must set exactly one of value, mod_revision, create_revision, version"
            }
            BadRequest::IdempotencyKey => {
                "Idempotency-Key must be 1 to 128 visible ASCII characters"
            }
            BadRequest::ClientId => "Quorate-Client-Id must be 1 to 128 visible ASCII characters",
            BadRequest::MemberUrls => "adding a member needs its peer_url",
        }
    }
}

/// Why the service refused work it could do later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// The proposal queue or uncommitted-bytes bound is full.
    Backpressure,
    /// A leadership transfer or membership change is in progress.
    ChangeInProgress,
    /// The node is starting, catching up or shutting down.
    NotReady,
}

/// Why a membership or leadership request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The change would leave the cluster without a quorum, or names an
    /// existing or unknown member.
    InvalidMembershipChange,
    /// The transfer target is not a voter of the cluster.
    InvalidTransferTarget,
    /// The id to add is already a voter or learner.
    AlreadyAMember,
    /// Another member already uses the peer address.
    PeerAddressInUse,
    /// The id to remove is not a member.
    NotAMember,
    /// The change would leave no voter.
    LastVoter,
    /// The voters the leader hears from would be fewer than the new
    /// configuration's quorum.
    QuorumUnreachable,
}

impl Refusal {
    /// The error code: `refused` for the general cases, the reason's own
    /// name for the membership checks.
    fn code(self) -> &'static str {
        match self {
            Refusal::InvalidMembershipChange | Refusal::InvalidTransferTarget => "refused",
            Refusal::AlreadyAMember => "already_a_member",
            Refusal::PeerAddressInUse => "peer_address_in_use",
            Refusal::NotAMember => "not_a_member",
            Refusal::LastVoter => "last_voter",
            Refusal::QuorumUnreachable => "quorum_unreachable",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Refusal::InvalidMembershipChange => "the membership change is invalid",
            Refusal::InvalidTransferTarget => "the transfer target is not a voter",
            Refusal::AlreadyAMember => "the id is already a member; remove it first or pick another id",
            Refusal::PeerAddressInUse => "another member uses this peer address",
            Refusal::NotAMember => "the id is not a member",
            Refusal::LastVoter => "the change would leave no voter",
            Refusal::QuorumUnreachable => "the change would leave fewer reachable voters than a quorum; bring members back first",
        }
    }
}

/// An error of the client API, produced by the router (validation) or by
/// the [`crate::api::KvService`] behind it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    #[error("{}", not_leader_message(leader_url.as_deref()))]
    NotLeader {
        /// The leader's client URL (scheme, host, port), when known.
        leader_url: Option<String>,
    },
    #[error("{}: {size} {unit} exceed the limit of {limit} (not applied)", field_name(*field), unit = field_unit(*field))]
    TooLarge { field: Field, size: u64, limit: u64 },
    #[error("{} (not applied)", reason.describe())]
    BadRequest { reason: BadRequest, detail: String },
    #[error("the key does not exist")]
    KeyNotFound { revision: u64 },
    #[error(
        "the Idempotency-Key was already used for a different request (not applied); use a new key"
    )]
    IdempotencyKeyReused,
    #[error("the service is busy ({busy:?}) (not applied); retry after {retry_after_s}s")]
    Busy { busy: Busy, retry_after_s: u32 },
    #[error("the request was refused: {} (not applied)", refusal.describe())]
    Refused { refusal: Refusal },
    #[error("the write was proposed but its commit was not seen (outcome unknown); check before retrying, or resend with the same Idempotency-Key")]
    Indeterminate,
    #[error("the read did not complete in time (not applied); retry")]
    ReadTimeout,
    #[error(
        "this node was removed from the cluster (not applied); send requests to a current member"
    )]
    Removed,
}

/// Seconds a client waits before retrying when no leader is known: about
/// one election timeout rounded up.
pub const NO_LEADER_RETRY_AFTER_S: u32 = 1;

impl KvError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            KvError::NotLeader {
                leader_url: Some(_),
            } => StatusCode::TEMPORARY_REDIRECT,
            KvError::NotLeader { leader_url: None } | KvError::Busy { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            KvError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            KvError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            KvError::KeyNotFound { .. } => StatusCode::NOT_FOUND,
            KvError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            KvError::Refused { .. } => StatusCode::CONFLICT,
            KvError::Indeterminate | KvError::ReadTimeout => StatusCode::GATEWAY_TIMEOUT,
            KvError::Removed => StatusCode::GONE,
        }
    }

    /// Whether the write may have happened.
    pub fn outcome(&self) -> Outcome {
        match self {
            KvError::Indeterminate => Outcome::Indeterminate,
            _ => Outcome::NotApplied,
        }
    }

    /// A stable, machine-readable name for the error.
    pub fn code(&self) -> &'static str {
        match self {
            KvError::NotLeader {
                leader_url: Some(_),
            } => "not_leader",
            KvError::NotLeader { leader_url: None } => "no_leader",
            KvError::TooLarge { .. } => "too_large",
            KvError::BadRequest { .. } => "bad_request",
            KvError::KeyNotFound { .. } => "key_not_found",
            KvError::IdempotencyKeyReused => "idempotency_key_reused",
            KvError::Busy { .. } => "busy",
            KvError::Refused { refusal } => refusal.code(),
            KvError::Indeterminate => "indeterminate",
            KvError::ReadTimeout => "read_timeout",
            KvError::Removed => "removed",
        }
    }

    /// Seconds to wait before a retry, sent as `Retry-After` with 503.
    pub fn retry_after_s(&self) -> Option<u32> {
        match self {
            KvError::NotLeader { leader_url: None } => Some(NO_LEADER_RETRY_AFTER_S),
            KvError::Busy { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }

    pub(crate) fn bad_request(reason: BadRequest, detail: impl Into<String>) -> KvError {
        KvError::BadRequest {
            reason,
            detail: detail.into(),
        }
    }

    /// The JSON body sent with this error.
    pub fn body(&self) -> ErrorBody {
        let detail = match self {
            KvError::BadRequest { detail, .. } if !detail.is_empty() => Some(detail.clone()),
            _ => None,
        };
        ErrorBody {
            code: self.code().to_owned(),
            message: self.to_string(),
            detail,
            outcome: self.outcome(),
            indeterminate: self.outcome() == Outcome::Indeterminate,
            leader_url: match self {
                KvError::NotLeader { leader_url } => leader_url.clone(),
                _ => None,
            },
            retry_after_s: self.retry_after_s(),
        }
    }
}

/// A redirect names the leader; without one there is nobody to resend to.
fn not_leader_message(leader_url: Option<&str>) -> String {
    match leader_url {
        Some(url) => format!("this node is not the leader (not applied); resend to the leader at {url}"),
        None => "no leader is known: an election is under way or a quorum is unreachable (not applied); retry after Retry-After seconds".to_owned(),
    }
}

/// What a size limit counts: bytes for keys, values and bodies, entries
/// for transaction lists.
fn field_unit(field: Field) -> &'static str {
    match field {
        Field::Key | Field::Value | Field::Body => "bytes",
        Field::Ops => "ops",
        Field::Compares => "compares",
    }
}

fn field_name(field: Field) -> &'static str {
    match field {
        Field::Key => "key",
        Field::Value => "value",
        Field::Body => "request body",
        Field::Ops => "transaction ops",
        Field::Compares => "transaction compares",
    }
}

/// The JSON body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable name, e.g. `no_leader`, `too_large`, `indeterminate`.
    pub code: String,
    /// A sentence for people, ending with what to do next.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `not_applied` (safe to retry) or `indeterminate` (maybe applied).
    pub outcome: Outcome,
    /// `outcome == indeterminate`, for clients that check one flag.
    pub indeterminate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_applied_errors_and_indeterminate_ones_get_different_statuses() {
        let cases = [
            (
                KvError::NotLeader {
                    leader_url: Some("http://10.0.0.1:2379".into()),
                },
                307,
                Outcome::NotApplied,
            ),
            (
                KvError::NotLeader { leader_url: None },
                503,
                Outcome::NotApplied,
            ),
            (
                KvError::Busy {
                    busy: Busy::Backpressure,
                    retry_after_s: 2,
                },
                503,
                Outcome::NotApplied,
            ),
            (KvError::Indeterminate, 504, Outcome::Indeterminate),
            (KvError::ReadTimeout, 504, Outcome::NotApplied),
            (KvError::IdempotencyKeyReused, 422, Outcome::NotApplied),
            (
                KvError::Refused {
                    refusal: Refusal::InvalidMembershipChange,
                },
                409,
                Outcome::NotApplied,
            ),
        ];
        for (error, status, outcome) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.outcome(), outcome, "{error:?}");
        }
    }

    #[test]
    fn validation_errors_are_400_and_413() {
        let bad = KvError::bad_request(BadRequest::Query, "unknown field `limt`");
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert_eq!(bad.body().detail.as_deref(), Some("unknown field `limt`"));
        let large = KvError::TooLarge {
            field: Field::Value,
            size: 10,
            limit: 5,
        };
        assert_eq!(large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(large.to_string().contains("value: 10 bytes"));
        let ops = KvError::TooLarge {
            field: Field::Ops,
            size: 200,
            limit: 128,
        };
        assert!(
            ops.to_string()
                .starts_with("transaction ops: 200 ops exceed the limit of 128"),
            "{ops}"
        );
        let missing = KvError::KeyNotFound { revision: 3 };
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn no_leader_does_not_send_the_client_to_a_leader() {
        let none = KvError::NotLeader { leader_url: None }.to_string();
        assert!(none.starts_with("no leader is known"), "{none}");
        assert!(!none.contains("resend to the leader"), "{none}");
        let some = KvError::NotLeader {
            leader_url: Some("http://10.0.0.1:2379".into()),
        }
        .to_string();
        assert!(
            some.ends_with("resend to the leader at http://10.0.0.1:2379"),
            "{some}"
        );
    }

    #[test]
    fn only_unavailable_errors_carry_retry_after() {
        assert_eq!(
            KvError::NotLeader { leader_url: None }.retry_after_s(),
            Some(NO_LEADER_RETRY_AFTER_S)
        );
        assert_eq!(KvError::Indeterminate.retry_after_s(), None);
        let body = KvError::Indeterminate.body();
        assert!(body.indeterminate);
        assert_eq!(body.code, "indeterminate");
        let json = serde_json::to_value(&body).expect("serializes");
        assert_eq!(json["outcome"], "indeterminate");
    }
}
