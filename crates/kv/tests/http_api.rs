//! The client API's router against an in-memory service, one request at a
//! time through `tower::ServiceExt::oneshot` (no sockets).

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use http_body_util::BodyExt;
use quorate_kv::api::{router, ApiLimits, Consistency, ErrorBody, KvError, ScanResult, TxnResult};
use serde_json::{json, Value};
use std::sync::Arc;
use support::FakeService;
use tower::ServiceExt;

fn app(fake: &FakeService) -> Router {
    let limits = ApiLimits {
        key_bytes_max: 16,
        value_bytes_max: 32,
        body_bytes_max: 256,
        txn_ops_max: 4,
        ..ApiLimits::default()
    };
    router(Arc::new(fake.clone()), limits)
}

async fn send(app: &Router, request: Request<Body>) -> Response {
    app.clone()
        .oneshot(request)
        .await
        .expect("router is infallible")
}

fn request(method: Method, uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(body.into())
        .expect("valid request")
}

async fn body(response: Response) -> Vec<u8> {
    let collected = response.into_body().collect().await.expect("body reads");
    collected.to_bytes().to_vec()
}

async fn json_body(response: Response) -> Value {
    serde_json::from_slice(&body(response).await).expect("JSON body")
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

#[tokio::test]
async fn put_get_delete_round_trip_with_revision_headers() {
    let fake = FakeService::new();
    let app = app(&fake);
    let put = send(&app, request(Method::PUT, "/v1/kv/dir/a%20b", "hello")).await;
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(header(&put, "quorate-revision"), Some("1"));
    assert_eq!(
        json_body(put).await,
        json!({"revision": 1, "created": true})
    );

    let get = send(
        &app,
        request(Method::GET, "/v1/kv/dir/a%20b", Body::empty()),
    )
    .await;
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(header(&get, "quorate-mod-revision"), Some("1"));
    assert_eq!(header(&get, "quorate-version"), Some("1"));
    assert_eq!(body(get).await, b"hello");
    assert_eq!(fake.consistencies(), vec![Consistency::Linearizable]);

    let delete = send(
        &app,
        request(Method::DELETE, "/v1/kv/dir/a%20b", Body::empty()),
    )
    .await;
    assert_eq!(
        json_body(delete).await,
        json!({"revision": 2, "deleted": true})
    );
    let again = send(
        &app,
        request(Method::DELETE, "/v1/kv/dir/a%20b", Body::empty()),
    )
    .await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "a resent delete is not an error"
    );
    assert_eq!(
        json_body(again).await,
        json!({"revision": 2, "deleted": false})
    );
}

#[tokio::test]
async fn get_of_absent_key_is_404_with_json_error() {
    let fake = FakeService::new();
    let app = app(&fake);
    let uri = "/v1/kv/missing?consistency=stale";
    let response = send(&app, request(Method::GET, uri, Body::empty())).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&response, "quorate-revision"), Some("0"));
    let error: ErrorBody = serde_json::from_slice(&body(response).await).expect("error JSON");
    assert_eq!(error.code, "key_not_found");
    assert_eq!(fake.consistencies(), vec![Consistency::Stale]);
}

#[tokio::test]
async fn scan_returns_prefix_page_as_json() {
    let fake = FakeService::new();
    let app = app(&fake);
    for key in ["app/a", "app/b", "app/c", "other"] {
        send(&app, request(Method::PUT, &format!("/v1/kv/{key}"), "v")).await;
    }
    let response = send(
        &app,
        request(Method::GET, "/v1/kv?prefix=app/&limit=2", Body::empty()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let scan: ScanResult = serde_json::from_slice(&body(response).await).expect("scan JSON");
    let keys: Vec<_> = scan.kvs.iter().map(|kv| kv.key.0.clone()).collect();
    assert_eq!(keys, vec![support::b("app/a"), support::b("app/b")]);
    assert!(scan.more);
    assert_eq!(scan.revision, 4);
}

#[tokio::test]
async fn txn_runs_success_or_failure_branch() {
    let fake = FakeService::new();
    let app = app(&fake);
    let create = json!({
        "compare": [{"key": "lock", "mod_revision": 0}],
        "success": [{"put": {"key": "lock", "value": "me"}}],
        "failure": [{"get": {"key": "lock"}}],
    });
    let first = send(&app, request(Method::POST, "/v1/txn", create.to_string())).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: TxnResult = serde_json::from_slice(&body(first).await).expect("txn JSON");
    assert!(first.succeeded);
    let second = send(&app, request(Method::POST, "/v1/txn", create.to_string())).await;
    let second = json_body(second).await;
    assert_eq!(second["succeeded"], false);
    assert_eq!(second["responses"][0]["range"]["kvs"][0]["value"], "me");
}

#[tokio::test]
async fn follower_redirects_to_the_leader_with_path_and_query() {
    let fake = FakeService::new();
    let app = app(&fake);
    fake.fail_next(KvError::NotLeader {
        leader_url: Some("http://10.1.1.1:2379/".into()),
    });
    let uri = "/v1/kv/k?consistency=lease";
    let response = send(&app, request(Method::GET, uri, "")).await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        header(&response, "location"),
        Some("http://10.1.1.1:2379/v1/kv/k?consistency=lease")
    );
    let error = json_body(response).await;
    assert_eq!(error["outcome"], "not_applied");
    assert_eq!(error["leader_url"], "http://10.1.1.1:2379/");
}

#[tokio::test]
async fn no_leader_is_503_with_retry_after() {
    let fake = FakeService::new();
    let app = app(&fake);
    fake.fail_next(KvError::NotLeader { leader_url: None });
    let response = send(&app, request(Method::GET, "/v1/kv/k", Body::empty())).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&response, "retry-after"), Some("1"));
    let error = json_body(response).await;
    assert_eq!(error["code"], "no_leader");
    assert_eq!(error["indeterminate"], false);
}

#[tokio::test]
async fn lost_commit_is_504_indeterminate() {
    let fake = FakeService::new();
    let app = app(&fake);
    fake.fail_next(KvError::Indeterminate);
    let response = send(&app, request(Method::PUT, "/v1/kv/k", "v")).await;
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let error = json_body(response).await;
    assert_eq!(error["code"], "indeterminate");
    assert_eq!(error["outcome"], "indeterminate");
    assert_eq!(error["indeterminate"], true);
}

#[tokio::test]
async fn bad_queries_and_bodies_are_400_json() {
    let fake = FakeService::new();
    let app = app(&fake);
    let cases = [
        request(Method::GET, "/v1/kv/k?consistency=eventual", Body::empty()),
        request(Method::GET, "/v1/kv?limt=3", Body::empty()),
        request(Method::GET, "/v1/kv?limit=-1", Body::empty()),
        request(Method::POST, "/v1/txn", "{not json"),
        request(Method::POST, "/v1/txn", r#"{"compare":[{"key":"a"}]}"#),
        request(
            Method::POST,
            "/v1/txn",
            r#"{"compare":[{"key":"a","version":1,"mod_revision":2}]}"#,
        ),
        request(
            Method::POST,
            "/v1/cluster/members",
            r#"{"action":"add_learner","id":4}"#,
        ),
    ];
    for case in cases {
        let uri = case.uri().clone();
        let response = send(&app, case).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let error = json_body(response).await;
        assert_eq!(error["code"], "bad_request", "{uri}");
        assert_eq!(error["outcome"], "not_applied", "{uri}");
    }
    assert_eq!(fake.calls(), 0, "nothing invalid reached the service");
}

#[tokio::test]
async fn oversized_keys_values_and_bodies_are_413() {
    let fake = FakeService::new();
    let app = app(&fake);
    let long_key = format!("/v1/kv/{}", "k".repeat(17));
    let cases = [
        (request(Method::PUT, &long_key, "v"), "key"),
        (request(Method::GET, &long_key, Body::empty()), "key"),
        (request(Method::PUT, "/v1/kv/k", "v".repeat(33)), "value"),
        (
            request(Method::PUT, "/v1/kv/k", "v".repeat(300)),
            "request body",
        ),
    ];
    for (case, what) in cases {
        let response = send(&app, case).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{what}");
        let error = json_body(response).await;
        assert_eq!(error["code"], "too_large");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(what)),
            "{error}"
        );
    }
    let ops: Vec<_> = (0..5)
        .map(|i| json!({"delete": {"key": format!("k{i}")}}))
        .collect();
    let txn = json!({"success": ops}).to_string();
    let response = send(&app, request(Method::POST, "/v1/txn", txn)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(fake.calls(), 0);
}

#[tokio::test]
async fn idempotency_key_reaches_the_service_and_dedups() {
    let fake = FakeService::new();
    let app = app(&fake);
    let keyed = |value: &'static str| {
        Request::builder()
            .method(Method::PUT)
            .uri("/v1/kv/counter")
            .header("idempotency-key", "req-1")
            .header("quorate-client-id", "client-a")
            .body(Body::from(value))
            .expect("valid request")
    };
    let first = json_body(send(&app, keyed("1")).await).await;
    let resent = json_body(send(&app, keyed("1")).await).await;
    assert_eq!(first, resent, "a resend answers the recorded response");
    let session = fake.sessions()[0].clone().expect("session passed through");
    assert_eq!(
        (session.client_id.as_str(), session.request_id.as_str()),
        ("client-a", "req-1")
    );
    let reused = send(&app, keyed("2")).await;
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = Request::builder()
        .method(Method::PUT)
        .uri("/v1/kv/k")
        .header("idempotency-key", "has space")
        .body(Body::from("v"))
        .expect("valid request");
    assert_eq!(send(&app, bad).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admin_and_probe_routes_answer() {
    let fake = FakeService::new();
    let app = app(&fake);
    let cluster =
        json_body(send(&app, request(Method::GET, "/v1/cluster", Body::empty())).await).await;
    assert_eq!(cluster["leader_id"], 1);
    let add = r#"{"action":"add_learner","id":4,"peer_url":"http://127.0.0.1:7004"}"#;
    let added =
        json_body(send(&app, request(Method::POST, "/v1/cluster/members", add)).await).await;
    assert_eq!(added["members"][1]["role"], "learner");
    let moved = send(
        &app,
        request(Method::POST, "/v1/cluster/leader", r#"{"target":4}"#),
    )
    .await;
    assert_eq!(json_body(moved).await, json!({"leader_id": 4}));
    let snapshot = send(&app, request(Method::POST, "/v1/snapshot", Body::empty())).await;
    assert_eq!(snapshot.status(), StatusCode::OK);
    let metrics = send(&app, request(Method::GET, "/metrics", Body::empty())).await;
    assert!(header(&metrics, "content-type").is_some_and(|t| t.starts_with("text/plain")));
    for probe in ["/health", "/ready"] {
        let response = send(&app, request(Method::GET, probe, Body::empty())).await;
        assert_eq!(response.status(), StatusCode::OK, "{probe}");
    }
}
