//! The axum router of the client API (docs/http-api.md), generic over the
//! [`KvService`] that does the work.

use super::admin;
use super::auth::{self, Authenticator};
use super::error::{BadRequest, Busy, KvError};
use super::query::{path_key, Params};
use super::reject::{self, check_headers};
use super::response::{
    accepted_body, error_response, mismatched, set_number, CLIENT_ID_HEADER,
    CREATE_REVISION_HEADER, IDEMPOTENCY_KEY_HEADER, MOD_REVISION_HEADER, REVISION_HEADER,
    VERSION_HEADER,
};
use super::service::{KvService, ReadAnswer, ReadQuery, WriteCall};
use super::types::{Blob, DeleteResult, PutResult, ScanResult, TxnRequestJson, TxnResult};
use super::validate::{json_body, session, ApiLimits, HEAVY_READ_WAIT};
use crate::store::{RangeRequest, RangeResponse};
use crate::wire::{WriteRequest, WriteResponse};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What every handler shares.
pub(crate) struct ApiState<S> {
    pub(crate) service: Arc<S>,
    pub(crate) limits: ApiLimits,
    /// Slots of concurrent scans.
    heavy_reads: Arc<Semaphore>,
}

impl<S> Clone for ApiState<S> {
    fn clone(&self) -> Self {
        ApiState {
            service: Arc::clone(&self.service),
            limits: self.limits,
            heavy_reads: Arc::clone(&self.heavy_reads),
        }
    }
}

/// The client API over `service`, open to every client. Bodies over
/// `limits.body_bytes_max` are refused with 413 before they are read whole.
pub fn router<S: KvService>(service: Arc<S>, limits: ApiLimits) -> Router {
    secured_router(service, limits, None)
}

/// The client API, with every request but the open probes checked by
/// `auth` when given (see [`Authenticator`]).
pub fn secured_router<S: KvService>(
    service: Arc<S>,
    limits: ApiLimits,
    auth: Option<Arc<Authenticator>>,
) -> Router {
    let state = ApiState {
        service,
        limits,
        heavy_reads: Arc::new(Semaphore::new(limits.heavy_reads_max.max(1))),
    };
    let without_query = Router::new()
        .route("/v1/txn", post(txn::<S>))
        .route("/v1/cluster", get(admin::cluster::<S>))
        .route("/v1/cluster/members", post(admin::members::<S>))
        .route("/v1/cluster/leader", post(admin::leader::<S>))
        .route("/v1/snapshot", post(admin::snapshot::<S>))
        .route("/metrics", get(admin::metrics::<S>))
        .route("/health", get(admin::health::<S>))
        .route("/ready", get(admin::ready::<S>))
        .route_layer(middleware::from_fn(no_query));
    let mut app = Router::new()
        .route("/v1/kv", get(scan::<S>))
        .route("/v1/kv/", any(empty_key))
        .route(
            "/v1/kv/{*key}",
            get(get_key::<S>).put(put_key::<S>).delete(delete_key::<S>),
        )
        .merge(without_query)
        .fallback(reject::not_found)
        .method_not_allowed_fallback(reject::method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.body_bytes_max))
        .with_state(state);
    if let Some(auth) = auth {
        app = app.layer(middleware::from_fn_with_state(auth, auth::authorize));
    }
    app.layer(middleware::from_fn_with_state(limits, header_limits))
}

/// 431 with a JSON body past the header limits.
async fn header_limits(State(limits): State<ApiLimits>, request: Request, next: Next) -> Response {
    match check_headers(&request, limits.header_bytes_max, limits.headers_max) {
        Ok(()) => next.run(request).await,
        Err(detail) => reject::Rejection::HeadersTooLarge.response(Some(detail)),
    }
}

/// Refuses any query parameter on routes that take none.
async fn no_query(uri: Uri, request: Request, next: Next) -> Response {
    match Params::parse(uri.query(), &[]) {
        Ok(_) => next.run(request).await,
        Err(error) => error_response(&error, &uri),
    }
}

/// `/v1/kv/` names no key.
async fn empty_key(uri: Uri) -> Response {
    error_response(&KvError::bad_request(BadRequest::EmptyKey, ""), &uri)
}

/// The exactly-once key from the request's headers.
fn session_from(headers: &HeaderMap) -> Result<Option<crate::SessionKey>, KvError> {
    session(
        headers
            .get(IDEMPOTENCY_KEY_HEADER)
            .map(HeaderValue::as_bytes),
        headers.get(CLIENT_ID_HEADER).map(HeaderValue::as_bytes),
    )
}

async fn get_key<S: KvService>(State(state): State<ApiState<S>>, uri: Uri) -> Response {
    let result = async {
        let key = path_key(uri.path())?;
        state.limits.key(&key)?;
        let params = Params::parse(uri.query(), &["consistency"])?;
        state
            .service
            .read(ReadQuery::Get { key }, params.consistency()?)
            .await
    }
    .await;
    match result {
        Ok(ReadAnswer::Get {
            kv: Some(kv),
            revision,
        }) => {
            let mut response = kv.value.into_response();
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            set_number(headers, REVISION_HEADER, revision);
            set_number(headers, MOD_REVISION_HEADER, kv.mod_revision);
            set_number(headers, CREATE_REVISION_HEADER, kv.create_revision);
            set_number(headers, VERSION_HEADER, kv.version);
            response
        }
        Ok(ReadAnswer::Get { kv: None, revision }) => {
            let mut response = error_response(&KvError::KeyNotFound { revision }, &uri);
            set_number(response.headers_mut(), REVISION_HEADER, revision);
            response
        }
        Ok(ReadAnswer::Range(_)) => mismatched(&uri),
        Err(error) => error_response(&error, &uri),
    }
}

async fn put_key<S: KvService>(
    State(state): State<ApiState<S>>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let key = path_key(uri.path())?;
        state.limits.key(&key)?;
        Params::parse(uri.query(), &[])?;
        let value = accepted_body(body, &headers, state.limits.body_bytes_max)?;
        state.limits.value(&value)?;
        let call = WriteCall {
            request: WriteRequest::Put { key, value },
            session: session_from(&headers)?,
        };
        state.service.write(call).await
    }
    .await;
    match result {
        Ok(WriteResponse::Put(put)) => with_revision(
            put.revision,
            Json(PutResult {
                revision: put.revision,
                created: put.prev.is_none(),
            }),
        ),
        Ok(_) => mismatched(&uri),
        Err(error) => error_response(&error, &uri),
    }
}

async fn delete_key<S: KvService>(
    State(state): State<ApiState<S>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let key = path_key(uri.path())?;
        state.limits.key(&key)?;
        Params::parse(uri.query(), &[])?;
        let call = WriteCall {
            request: WriteRequest::Delete { key },
            session: session_from(&headers)?,
        };
        state.service.write(call).await
    }
    .await;
    match result {
        Ok(WriteResponse::Delete(delete)) => with_revision(
            delete.revision,
            Json(DeleteResult {
                revision: delete.revision,
                deleted: delete.prev.is_some(),
            }),
        ),
        Ok(_) => mismatched(&uri),
        Err(error) => error_response(&error, &uri),
    }
}

async fn scan<S: KvService>(State(state): State<ApiState<S>>, uri: Uri) -> Response {
    // Held until the answer is serialized: that is where the memory goes.
    let mut _slot = None;
    let result = async {
        let params = Params::parse(uri.query(), &["prefix", "start", "limit", "consistency"])?;
        let prefix = params.bytes("prefix").unwrap_or_default();
        state.limits.prefix(&prefix)?;
        let start = params.bytes("start");
        if let Some(start) = &start {
            state.limits.prefix(start)?;
        }
        let request = RangeRequest {
            prefix,
            start,
            limit: params.number("limit")?.unwrap_or(0),
        };
        let consistency = params.consistency()?;
        _slot = Some(heavy_read_slot(&state.heavy_reads).await?);
        state
            .service
            .read(ReadQuery::Range(request), consistency)
            .await
    }
    .await;
    match result {
        Ok(ReadAnswer::Range(range)) => with_revision(
            range.revision,
            Json(page(range, state.limits.scan_bytes_max)),
        ),
        Ok(_) => mismatched(&uri),
        Err(error) => error_response(&error, &uri),
    }
}

/// A slot of the heavy-read bound, or 503 `busy` after [`HEAVY_READ_WAIT`].
async fn heavy_read_slot(slots: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, KvError> {
    match tokio::time::timeout(HEAVY_READ_WAIT, Arc::clone(slots).acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(KvError::Busy {
            busy: Busy::Backpressure,
            retry_after_s: 1,
        }),
    }
}

/// The scan's answer cut at `bytes_max` of keys and values (at least one
/// key is always sent); a cut answer says `more` and where to go on.
fn page(range: RangeResponse, bytes_max: usize) -> ScanResult {
    let revision = range.revision;
    let mut more = range.more;
    let mut used = 0usize;
    let mut kept = Vec::new();
    for kv in range.kvs {
        let size = kv.key.len() + kv.value.len();
        if !kept.is_empty() && used.saturating_add(size) > bytes_max {
            more = true;
            break;
        }
        used = used.saturating_add(size);
        kept.push(kv);
    }
    let next = if more {
        kept.last().map(|kv| {
            let mut key = kv.key.to_vec();
            key.push(0);
            Blob(Bytes::from(key))
        })
    } else {
        None
    };
    let mut result = ScanResult::from(RangeResponse {
        kvs: kept,
        more,
        revision,
    });
    result.next = next;
    result
}

async fn txn<S: KvService>(
    State(state): State<ApiState<S>>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let body = accepted_body(body, &headers, state.limits.body_bytes_max)?;
        let request: TxnRequestJson = json_body(&body)?;
        let call = WriteCall {
            request: WriteRequest::Txn(state.limits.txn(request)?),
            session: session_from(&headers)?,
        };
        state.service.write(call).await
    }
    .await;
    match result {
        Ok(WriteResponse::Txn(txn)) => with_revision(txn.revision, Json(TxnResult::from(txn))),
        Ok(_) => mismatched(&uri),
        Err(error) => error_response(&error, &uri),
    }
}

/// A 200 response with the map's revision in a header.
fn with_revision(revision: u64, body: impl IntoResponse) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    set_number(response.headers_mut(), REVISION_HEADER, revision);
    response
}
