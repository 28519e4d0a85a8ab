//! Turning results and [`KvError`]s into HTTP responses.

use super::error::{BadRequest, Field, KvError};
use axum::extract::rejection::BytesRejection;
use axum::http::header::{CONTENT_LENGTH, LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;

/// The map's revision a response reflects.
pub const REVISION_HEADER: &str = "quorate-revision";
/// The key's last-modified revision, on `GET /v1/kv/{key}`.
pub const MOD_REVISION_HEADER: &str = "quorate-mod-revision";
/// The key's creation revision, on `GET /v1/kv/{key}`.
pub const CREATE_REVISION_HEADER: &str = "quorate-create-revision";
/// The key's version, on `GET /v1/kv/{key}`.
pub const VERSION_HEADER: &str = "quorate-version";
/// Exactly-once writes: a client-chosen id, unique per write.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Scopes idempotency keys to one client; optional.
pub const CLIENT_ID_HEADER: &str = "quorate-client-id";

/// The error's status, JSON body, and `Location` (the same path and query
/// on the leader) or `Retry-After` headers.
pub(crate) fn error_response(error: &KvError, uri: &Uri) -> Response {
    let mut response = (error.status(), Json(error.body())).into_response();
    let headers = response.headers_mut();
    if let KvError::NotLeader {
        leader_url: Some(leader_url),
    } = error
    {
        let path = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        let location = format!("{}{path}", leader_url.trim_end_matches('/'));
        if let Ok(value) = HeaderValue::from_str(&location) {
            headers.insert(LOCATION, value);
        }
    }
    if let Some(seconds) = error.retry_after_s() {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Sets a numeric header.
pub(crate) fn set_number(headers: &mut HeaderMap, name: &'static str, value: u64) {
    headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
}

/// A body the extractor refused: over the size limit is 413, anything
/// else (a broken stream) is 400.
/// The request body, or the error its rejection maps to (413 past
/// `limit`, 400 otherwise).
pub(crate) fn accepted_body(
    body: Result<Bytes, BytesRejection>,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, KvError> {
    body.map_err(|rejection| body_error(&rejection, headers, limit))
}

pub(crate) fn body_error(rejection: &BytesRejection, headers: &HeaderMap, limit: usize) -> KvError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        let size = headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok())
            .unwrap_or(limit as u64 + 1);
        return KvError::TooLarge {
            field: Field::Body,
            size,
            limit: limit as u64,
        };
    }
    KvError::bad_request(BadRequest::Json, rejection.body_text())
}

/// A service answered with the wrong kind of response. The write may have
/// applied, so the client hears "indeterminate".
pub(crate) fn mismatched(uri: &Uri) -> Response {
    tracing::error!(%uri, "the service answered with a response of the wrong kind");
    error_response(&KvError::Indeterminate, uri)
}
