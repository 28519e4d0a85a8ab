//! The CLI's client against real loopback servers running the in-memory
//! service: redirects to the leader, 503 retries, endpoint fail-over and
//! what the commands print.

mod support;

use quorate_kv::api::{router, ApiLimits, KvError};
use quorate_kv::cli::{
    run_cluster, run_kv, Client, ClientError, ClusterCommand, ConsistencyArg, KvCommand, Output,
    RetryPolicy,
};
use std::sync::Arc;
use std::time::Duration;
use support::FakeService;

/// Serves `fake` on an ephemeral loopback port; returns its URL.
async fn serve(fake: &FakeService) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    let app = router(Arc::new(fake.clone()), ApiLimits::default());
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// No waiting between retries: the tests check the decisions, not time.
fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts_max: 4,
        redirects_max: 2,
        backoff_initial: Duration::ZERO,
        backoff_max: Duration::ZERO,
        request_timeout: Duration::from_secs(30),
    }
}

fn client(endpoints: &[String]) -> Client {
    Client::new(endpoints, policy()).expect("valid endpoints")
}

fn put(key: &str, value: &str) -> KvCommand {
    KvCommand::Put {
        key: key.into(),
        value: Some(value.into()),
        idempotency_key: None,
    }
}

fn get(key: &str) -> KvCommand {
    KvCommand::Get {
        key: key.into(),
        consistency: ConsistencyArg::Linearizable,
    }
}

#[tokio::test]
async fn writes_to_a_follower_follow_the_redirect_to_the_leader() {
    let leader = FakeService::new();
    let follower = FakeService::new();
    let leader_url = serve(&leader).await;
    let follower_url = serve(&follower).await;
    follower.fail_next(KvError::NotLeader {
        leader_url: Some(leader_url.clone()),
    });
    let client = client(&[follower_url]);
    let printed = run_kv(&client, put("dir/a b", "v1"), Output::Table)
        .await
        .expect("put succeeds");
    assert_eq!(printed.text, "OK (revision 1)\n");
    let direct = self::client(&[leader_url]);
    let value = run_kv(&direct, get("dir/a b"), Output::Table)
        .await
        .expect("get");
    assert_eq!(value.text, "v1\n", "the write landed on the leader");
}

#[tokio::test]
async fn redirect_loops_stop_at_the_limit() {
    let node = FakeService::new();
    let url = serve(&node).await;
    for _ in 0..5 {
        node.fail_next(KvError::NotLeader {
            leader_url: Some(url.clone()),
        });
    }
    let error = run_kv(&client(&[url]), put("k", "v"), Output::Table)
        .await
        .expect_err("redirects forever");
    assert!(matches!(error, ClientError::TooManyRedirects { limit: 2 }));
}

#[tokio::test]
async fn no_leader_is_retried_until_one_is_elected() {
    let node = FakeService::new();
    let url = serve(&node).await;
    node.fail_next(KvError::NotLeader { leader_url: None });
    node.fail_next(KvError::NotLeader { leader_url: None });
    let printed = run_kv(&client(&[url]), put("k", "v"), Output::Json)
        .await
        .expect("third attempt succeeds");
    assert!(printed.text.contains("\"revision\": 1"));
    assert_eq!(node.calls(), 3);
}

#[tokio::test]
async fn no_leader_gives_up_after_attempts_max() {
    let node = FakeService::new();
    let url = serve(&node).await;
    for _ in 0..4 {
        node.fail_next(KvError::NotLeader { leader_url: None });
    }
    let error = run_kv(&client(&[url]), put("k", "v"), Output::Table)
        .await
        .expect_err("never a leader");
    assert!(matches!(error, ClientError::NoLeader { attempts: 4 }));
    assert_eq!(node.calls(), 4);
}

#[tokio::test]
async fn unreachable_endpoint_fails_over_to_the_next() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let closed_url = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let node = FakeService::new();
    let url = serve(&node).await;
    let printed = run_kv(&client(&[closed_url, url]), put("k", "v"), Output::Table)
        .await
        .expect("second endpoint answers");
    assert!(printed.succeeded);
}

#[tokio::test]
async fn api_errors_come_back_typed() {
    let node = FakeService::new();
    let url = serve(&node).await;
    let error = run_kv(
        &client(std::slice::from_ref(&url)),
        get("missing"),
        Output::Table,
    )
    .await
    .expect_err("absent");
    let ClientError::Api { status, body } = error else {
        panic!("expected an API error, got {error:?}");
    };
    assert_eq!(
        (status.as_u16(), body.code.as_str()),
        (404, "key_not_found")
    );
    node.fail_next(KvError::Indeterminate);
    let error = run_kv(&client(&[url]), put("k", "v"), Output::Table)
        .await
        .expect_err("indeterminate");
    assert!(
        matches!(&error, ClientError::Api { body, .. } if body.indeterminate),
        "{error:?}"
    );
    assert_eq!(node.calls(), 2, "an indeterminate write is not retried");
}

#[tokio::test]
async fn cas_reports_the_current_value_when_the_compare_fails() {
    let node = FakeService::new();
    let client = client(&[serve(&node).await]);
    run_kv(&client, put("k", "old"), Output::Table)
        .await
        .expect("put");
    let cas = |expect: &str| KvCommand::Cas {
        key: "k".into(),
        value: "new".into(),
        expect_value: Some(expect.into()),
        expect_mod_revision: None,
        idempotency_key: Some("cas-1".into()),
    };
    let failed = run_kv(&client, cas("wrong"), Output::Table)
        .await
        .expect("txn ran");
    assert!(!failed.succeeded);
    assert!(
        failed
            .text
            .contains("current value \"old\" at mod revision 1"),
        "{}",
        failed.text
    );
    let won = run_kv(&client, cas("old"), Output::Table).await;
    assert!(
        matches!(won, Err(ClientError::Api { ref body, .. }) if body.code == "idempotency_key_reused"),
        "the same key for another request is refused: {won:?}"
    );
}

#[tokio::test]
async fn cluster_status_prints_a_table_and_json() {
    let node = FakeService::new();
    let client = client(&[serve(&node).await]);
    let table = run_cluster(&client, ClusterCommand::Status, Output::Table)
        .await
        .expect("status");
    assert!(
        table.text.contains("| ID | ROLE  | IS LEADER |"),
        "{}",
        table.text
    );
    assert!(table.text.contains("leader 1, term 2"));
    let add = ClusterCommand::Add {
        id: 4,
        peer_url: "http://127.0.0.1:7004".into(),
        client_url: None,
    };
    let json = run_cluster(&client, add, Output::Json).await.expect("add");
    assert!(json.text.contains("\"learner\""), "{}", json.text);
    let moved = run_cluster(
        &client,
        ClusterCommand::Transfer { id: Some(4) },
        Output::Table,
    )
    .await
    .expect("transfer");
    assert_eq!(moved.text, "leader is now 4\n");
}
