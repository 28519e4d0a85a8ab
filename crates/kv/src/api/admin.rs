//! Cluster administration, snapshots, metrics and probes.

use super::error::{BadRequest, KvError};
use super::response::{accepted_body, error_response};
use super::router::ApiState;
use super::service::KvService;
use super::types::{MemberAction, MemberChange, TransferLeader};
use super::validate::json_body;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Serialize;

/// The Prometheus text exposition format's content type.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn respond<T: Serialize>(result: Result<T, KvError>, uri: &Uri) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error_response(&error, uri),
    }
}

pub(crate) async fn cluster<S: KvService>(State(state): State<ApiState<S>>, uri: Uri) -> Response {
    respond(state.service.cluster_status().await, &uri)
}

pub(crate) async fn members<S: KvService>(
    State(state): State<ApiState<S>>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let body = accepted_body(body, &headers, state.limits.body_bytes_max)?;
        let change: MemberChange = json_body(&body)?;
        if change.action == MemberAction::AddLearner && change.peer_url.is_none() {
            return Err(KvError::bad_request(BadRequest::MemberUrls, ""));
        }
        state.service.change_member(change).await
    }
    .await;
    respond(result, &uri)
}

pub(crate) async fn leader<S: KvService>(
    State(state): State<ApiState<S>>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let body = accepted_body(body, &headers, state.limits.body_bytes_max)?;
        let request: TransferLeader = if body.is_empty() {
            TransferLeader::default()
        } else {
            json_body(&body)?
        };
        state.service.transfer_leader(request).await
    }
    .await;
    respond(result, &uri)
}

pub(crate) async fn snapshot<S: KvService>(State(state): State<ApiState<S>>, uri: Uri) -> Response {
    respond(state.service.snapshot().await, &uri)
}

pub(crate) async fn metrics<S: KvService>(State(state): State<ApiState<S>>) -> Response {
    let mut response = state.service.metrics().into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
    response
}

/// 200 while the process serves HTTP; orchestrators restart it otherwise.
pub(crate) async fn health<S: KvService>(State(state): State<ApiState<S>>) -> Response {
    let health = state.service.health();
    let status = if health.live {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}

/// 200 once the node can serve reads and writes; load balancers route to
/// it only then.
pub(crate) async fn ready<S: KvService>(State(state): State<ApiState<S>>) -> Response {
    let health = state.service.health();
    let status = if health.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}
