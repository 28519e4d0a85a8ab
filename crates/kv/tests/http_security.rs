//! Issue 11 at the router: inputs (item 6), bounded answers (item 5),
//! client tokens (item 3) and a property test of arbitrary requests
//! (item 8), against an in-memory service (no sockets).

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::Router;
use http_body_util::BodyExt;
use proptest::prelude::*;
use quorate_kv::api::{router, secured_router, token_hash, ApiLimits, Authenticator};
use serde_json::Value;
use std::sync::Arc;
use support::FakeService;
use tower::ServiceExt;

fn limits() -> ApiLimits {
    ApiLimits {
        scan_bytes_max: 64,
        header_bytes_max: 1024,
        headers_max: 8,
        ..ApiLimits::default()
    }
}

fn open_app(fake: &FakeService) -> Router {
    router(Arc::new(fake.clone()), limits())
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Body::from(body.to_owned()))
        .expect("valid request")
}

async fn send(app: &Router, request: Request<Body>) -> Response {
    app.clone().oneshot(request).await.expect("infallible")
}

/// Status and JSON body; panics when the body is not JSON.
async fn call(app: &Router, request: Request<Body>) -> (u16, Value) {
    let response = send(app, request).await;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{status}: not JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, json)
}

/// Item 6: an unknown parameter is refused on every route, never ignored
/// (`PUT ?ttl=1` and `DELETE ?prefix=true` used to answer 200).
#[tokio::test]
async fn unknown_query_parameters_are_400_on_every_route() {
    let fake = FakeService::new();
    let app = open_app(&fake);
    let routes = [
        ("GET", "/v1/kv?prefx=a"),
        ("GET", "/v1/kv/k?consistency=stale&x=1"),
        ("PUT", "/v1/kv/k?ttl=1"),
        ("DELETE", "/v1/kv/k?prefix=true"),
        ("POST", "/v1/txn?dry_run=1"),
        ("GET", "/v1/cluster?verbose"),
        ("POST", "/v1/cluster/members?force=1"),
        ("POST", "/v1/cluster/leader?x"),
        ("POST", "/v1/snapshot?x=1"),
        ("GET", "/metrics?x=1"),
        ("GET", "/health?x=1"),
        ("GET", "/ready?x=1"),
    ];
    for (method, uri) in routes {
        let (status, body) = call(&app, request(method, uri, &[], "{}")).await;
        assert_eq!(status, 400, "{method} {uri}: {body}");
        assert_eq!(body["code"], "bad_request", "{method} {uri}");
    }
    assert_eq!(fake.calls(), 0, "no refused request reached the service");
}

/// Item 6: 404, 405, 431 and an empty key answer the documented JSON body.
#[tokio::test]
async fn every_refusal_has_a_json_body() {
    let fake = FakeService::new();
    let app = open_app(&fake);
    let long = "x".repeat(2000);
    let cases: Vec<(Request<Body>, u16, &str)> = vec![
        (request("GET", "/nope", &[], ""), 404, "not_found"),
        (
            request("PATCH", "/v1/kv/k", &[], ""),
            405,
            "method_not_allowed",
        ),
        (
            request("GET", "/v1/snapshot", &[], ""),
            405,
            "method_not_allowed",
        ),
        (request("PUT", "/v1/kv/", &[], "v"), 400, "bad_request"),
        (request("GET", "/v1/kv/", &[], ""), 400, "bad_request"),
        (
            request("GET", "/v1/kv/k", &[("x-big", long.as_str())], ""),
            431,
            "headers_too_large",
        ),
    ];
    for (request, status, code) in cases {
        let label = format!("{} {}", request.method(), request.uri());
        let (got, body) = call(&app, request).await;
        assert_eq!(got, status, "{label}: {body}");
        assert_eq!(body["code"], code, "{label}");
        assert_eq!(body["outcome"], "not_applied", "{label}");
    }
}

/// Item 6: URL keys are bytes, like the transaction's hex keys.
#[tokio::test]
async fn a_percent_encoded_binary_key_round_trips() {
    let fake = FakeService::new();
    let app = open_app(&fake);
    let put = send(&app, request("PUT", "/v1/kv/a%FF%00b", &[], "v")).await;
    assert_eq!(put.status(), StatusCode::OK);
    let got = send(&app, request("GET", "/v1/kv/a%ff%00b", &[], "")).await;
    assert_eq!(got.status(), StatusCode::OK);
    let (_, scan) = call(&app, request("GET", "/v1/kv?prefix=a%FF", &[], "")).await;
    assert_eq!(scan["kvs"][0]["key"]["hex"], "61ff0062");
}

/// Item 5: a scan stops at its byte limit with `more` and the key to go
/// on from, and following `next` reads every key exactly once.
#[tokio::test]
async fn a_scan_stops_at_its_byte_limit_with_a_continuation_key() {
    let fake = FakeService::new();
    let app = open_app(&fake);
    let value = "v".repeat(20);
    for index in 0..10 {
        let uri = format!("/v1/kv/k{index}");
        let put = send(&app, request("PUT", &uri, &[], &value)).await;
        assert_eq!(put.status(), StatusCode::OK);
    }
    let mut seen = Vec::new();
    let mut uri = "/v1/kv?prefix=k".to_owned();
    for _ in 0..10 {
        let (status, page) = call(&app, request("GET", &uri, &[], "")).await;
        assert_eq!(status, 200, "{page}");
        let kvs = page["kvs"].as_array().expect("kvs");
        assert!(kvs.len() <= 3, "64 bytes hold at most 3 keys of 22: {page}");
        seen.extend(
            kvs.iter()
                .map(|kv| kv["key"].as_str().expect("key").to_owned()),
        );
        if page["more"] == false {
            assert!(page.get("next").is_none());
            break;
        }
        let next = page["next"].as_str().expect("the last key and a zero byte");
        assert!(next.ends_with('\0'), "{next:?}");
        let encoded: String = next.bytes().map(|byte| format!("%{byte:02X}")).collect();
        uri = format!("/v1/kv?prefix=k&start={encoded}");
    }
    let expected: Vec<String> = (0..10).map(|index| format!("k{index}")).collect();
    assert_eq!(seen, expected);
}

fn secured(fake: &FakeService) -> Router {
    let file = format!(
        "read {}\nreadwrite {}\nadmin {}\n",
        token_hash("r-token"),
        token_hash("rw-token"),
        token_hash("admin-token")
    );
    let auth = Authenticator::parse(&file).expect("token file");
    secured_router(Arc::new(fake.clone()), limits(), Some(Arc::new(auth)))
}

/// Item 3: no token is 401, a weak role 403, both with JSON bodies; the
/// probes stay open.
#[tokio::test]
async fn requests_need_a_token_with_a_strong_enough_role() {
    let fake = FakeService::new();
    let app = secured(&fake);
    let member = r#"{"action":"remove","id":1}"#;
    let cases = [
        ("GET", "/v1/kv/k", None, 401, "unauthorized"),
        ("PUT", "/v1/kv/k", Some("wrong"), 401, "unauthorized"),
        ("PUT", "/v1/kv/k", Some("r-token"), 403, "forbidden"),
        (
            "POST",
            "/v1/cluster/members",
            Some("rw-token"),
            403,
            "forbidden",
        ),
        ("POST", "/v1/snapshot", Some("rw-token"), 403, "forbidden"),
        ("POST", "/v1/cluster/leader", None, 401, "unauthorized"),
        ("GET", "/nope", None, 401, "unauthorized"),
    ];
    for (method, uri, token, status, code) in cases {
        let header = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = header
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        let (got, body) = call(&app, request(method, uri, &headers, member)).await;
        assert_eq!(got, status, "{method} {uri} {token:?}: {body}");
        assert_eq!(body["code"], code, "{method} {uri}");
    }
    assert_eq!(fake.calls(), 0, "nothing refused reached the service");
    let put = request(
        "PUT",
        "/v1/kv/k",
        &[("authorization", "Bearer rw-token")],
        "v",
    );
    assert_eq!(send(&app, put).await.status(), StatusCode::OK);
    let read = request(
        "GET",
        "/v1/kv/k",
        &[("authorization", "bearer r-token")],
        "",
    );
    assert_eq!(send(&app, read).await.status(), StatusCode::OK);
    let admin = request(
        "POST",
        "/v1/snapshot",
        &[("authorization", "Bearer admin-token")],
        "",
    );
    assert_eq!(send(&app, admin).await.status(), StatusCode::OK);
    for probe in ["/health", "/ready", "/metrics"] {
        let response = send(&app, request("GET", probe, &[], "")).await;
        assert_ne!(response.status(), StatusCode::UNAUTHORIZED, "{probe}");
    }
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("PUT".to_owned()),
        Just("POST".to_owned()),
        Just("DELETE".to_owned()),
        Just("HEAD".to_owned()),
        Just("OPTIONS".to_owned()),
        "[A-Z]{1,8}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![
        Just("/v1/kv/"),
        Just("/v1/kv"),
        Just("/v1/txn"),
        Just("/v1/cluster"),
        Just("/v1/cluster/members"),
        Just("/v1/cluster/leader"),
        Just("/v1/snapshot"),
        Just("/health"),
        Just("/"),
    ];
    let tail = "([a-zA-Z0-9/._~-]|%[0-9A-Fa-f]{2}|%){0,12}";
    let query = proptest::option::of("[a-z=&%0-9+]{0,24}");
    (prefix, tail, query).prop_map(|(prefix, tail, query)| match query {
        Some(query) => format!("{prefix}{tail}?{query}"),
        None => format!("{prefix}{tail}"),
    })
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("idempotency-key".to_owned()),
        Just("quorate-client-id".to_owned()),
        Just("content-type".to_owned()),
        Just("authorization".to_owned()),
        "x-[a-z]{1,6}",
    ];
    proptest::collection::vec((name, "[ -~]{0,40}"), 0..5)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        Just(br#"{"action":"add_learner","id":2,"peer_url":"127.0.0.1:1"}"#.to_vec()),
        Just(br#"{"compare":[],"success":[{"put":{"key":"a","value":"b"}}]}"#.to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Item 8: any request gets an answer, never a panic, and never a 5xx
    /// other than 503 or 504; the node stays healthy afterwards.
    #[test]
    fn arbitrary_requests_never_break_the_router(
        method in method(),
        path in path(),
        headers in headers(),
        body in body(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let fake = FakeService::new();
            let app = open_app(&fake);
            let mut builder = Request::builder().method(method.as_str()).uri(path.as_str());
            for (name, value) in &headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let Ok(request) = builder.body(Body::from(body.clone())) else {
                return Ok(());
            };
            let status = send(&app, request).await.status();
            prop_assert!(
                !status.is_server_error() || status == 503 || status == 504,
                "{method} {path}: {status}"
            );
            let health = send(&app, self::request("GET", "/health", &[], "")).await;
            prop_assert_eq!(health.status(), StatusCode::OK);
            Ok(())
        })?;
    }
}
