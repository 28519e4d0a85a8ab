//! The axum router of the client API (docs/http-api.md), generic over the
//! [`KvService`] that does the work.

use super::admin;
use super::error::{BadRequest, KvError};
use super::response::{
    accepted_body, error_response, mismatched, set_number, CLIENT_ID_HEADER,
    CREATE_REVISION_HEADER, IDEMPOTENCY_KEY_HEADER, MOD_REVISION_HEADER, REVISION_HEADER,
    VERSION_HEADER,
};
use super::service::{Consistency, KvService, ReadAnswer, ReadQuery, WriteCall};
use super::types::{DeleteResult, PutResult, ScanResult, TxnRequestJson, TxnResult};
use super::validate::{json_body, session, ApiLimits};
use crate::store::RangeRequest;
use crate::wire::{WriteRequest, WriteResponse};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use std::sync::Arc;

/// What every handler shares.
pub(crate) struct ApiState<S> {
    pub(crate) service: Arc<S>,
    pub(crate) limits: ApiLimits,
}

impl<S> Clone for ApiState<S> {
    fn clone(&self) -> Self {
        ApiState {
            service: Arc::clone(&self.service),
            limits: self.limits,
        }
    }
}

/// The client API over `service`. Bodies over `limits.body_bytes_max`
/// are refused with 413 before they are read whole.
pub fn router<S: KvService>(service: Arc<S>, limits: ApiLimits) -> Router {
    let state = ApiState { service, limits };
    Router::new()
        .route("/v1/kv", get(scan::<S>))
        .route(
            "/v1/kv/{*key}",
            get(get_key::<S>).put(put_key::<S>).delete(delete_key::<S>),
        )
        .route("/v1/txn", post(txn::<S>))
        .route("/v1/cluster", get(admin::cluster::<S>))
        .route("/v1/cluster/members", post(admin::members::<S>))
        .route("/v1/cluster/leader", post(admin::leader::<S>))
        .route("/v1/snapshot", post(admin::snapshot::<S>))
        .route("/metrics", get(admin::metrics::<S>))
        .route("/health", get(admin::health::<S>))
        .route("/ready", get(admin::ready::<S>))
        .layer(DefaultBodyLimit::max(limits.body_bytes_max))
        .with_state(state)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadParams {
    #[serde(default)]
    consistency: Consistency,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanParams {
    #[serde(default)]
    prefix: String,
    start: Option<String>,
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    consistency: Consistency,
}

fn query_error(rejection: &QueryRejection) -> KvError {
    KvError::bad_request(BadRequest::Query, rejection.body_text())
}

fn path_key(path: Result<Path<String>, PathRejection>) -> Result<Bytes, KvError> {
    match path {
        Ok(Path(key)) => Ok(Bytes::from(key)),
        Err(rejection) => Err(KvError::bad_request(
            BadRequest::Query,
            rejection.body_text(),
        )),
    }
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

async fn get_key<S: KvService>(
    State(state): State<ApiState<S>>,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<ReadParams>, QueryRejection>,
) -> Response {
    let result = async {
        let key = path_key(path)?;
        state.limits.key(&key)?;
        let Query(params) = params.map_err(|rejection| query_error(&rejection))?;
        state
            .service
            .read(ReadQuery::Get { key }, params.consistency)
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
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let key = path_key(path)?;
        state.limits.key(&key)?;
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
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let result = async {
        let key = path_key(path)?;
        state.limits.key(&key)?;
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

async fn scan<S: KvService>(
    State(state): State<ApiState<S>>,
    uri: Uri,
    params: Result<Query<ScanParams>, QueryRejection>,
) -> Response {
    let result = async {
        let Query(params) = params.map_err(|rejection| query_error(&rejection))?;
        state.limits.prefix(params.prefix.as_bytes())?;
        if let Some(start) = &params.start {
            state.limits.prefix(start.as_bytes())?;
        }
        let request = RangeRequest {
            prefix: Bytes::from(params.prefix),
            start: params.start.map(Bytes::from),
            limit: params.limit,
        };
        state
            .service
            .read(ReadQuery::Range(request), params.consistency)
            .await
    }
    .await;
    match result {
        Ok(ReadAnswer::Range(range)) => {
            with_revision(range.revision, Json(ScanResult::from(range)))
        }
        Ok(_) => mismatched(&uri),
        Err(error) => error_response(&error, &uri),
    }
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
