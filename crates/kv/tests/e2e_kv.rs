//! Reads and writes against a real 3-node `quorate serve` cluster:
//! every consistency level, leader redirects, 503 without a leader,
//! compare-and-swap and transactions, exactly-once retries, bad requests.

mod e2e_support;

use e2e_support::{http, try_http, wait_for, Cluster};

/// Writes go to the leader; a follower redirects writes and linearizable
/// or lease reads there (307 + Location) and serves stale reads itself.
#[test]
fn reads_at_every_consistency_level_and_followers_redirect_to_the_leader() {
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    let follower = cluster.follower(leader);
    let (leader_url, follower_url) = (cluster.url(leader), cluster.url(follower));

    let put = http("PUT", leader_url, "/v1/kv/greeting", b"hello");
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.json()["created"], true);
    for consistency in ["linearizable", "lease", "stale"] {
        let path = format!("/v1/kv/greeting?consistency={consistency}");
        let read = http("GET", leader_url, &path, b"");
        assert_eq!((read.status, read.text()), (200, "hello".into()), "{path}");
    }
    let default = http("GET", leader_url, "/v1/kv/greeting", b"");
    assert_eq!(default.text(), "hello");

    let redirected = http("PUT", follower_url, "/v1/kv/other", b"x");
    assert_eq!(redirected.status, 307);
    assert_eq!(
        redirected.header("location"),
        Some(format!("{leader_url}/v1/kv/other").as_str())
    );
    assert_eq!(redirected.json()["outcome"], "not_applied");
    for consistency in ["linearizable", "lease"] {
        let path = format!("/v1/kv/greeting?consistency={consistency}");
        let read = http("GET", follower_url, &path, b"");
        assert_eq!(read.status, 307, "{path}");
        let location = read.header("location").expect("Location");
        assert_eq!(location, format!("{leader_url}{path}"));
    }
    let stale = wait_for("the follower to apply the write", || {
        let read = http(
            "GET",
            follower_url,
            "/v1/kv/greeting?consistency=stale",
            b"",
        );
        (read.status == 200).then_some(read)
    });
    assert_eq!(stale.text(), "hello");

    http("PUT", leader_url, "/v1/kv/greetings/2", b"hi");
    let scan = http("GET", leader_url, "/v1/kv?prefix=greeting&limit=1", b"");
    assert_eq!(scan.status, 200);
    let scan = scan.json();
    assert_eq!(scan["kvs"].as_array().map(Vec::len), Some(1));
    assert_eq!(scan["more"], true);
}

/// Compare-and-swap is a transaction: the first create-if-absent wins,
/// the second sees the current value on its failure branch.
#[test]
fn compare_and_swap_and_transactions_are_atomic() {
    let cluster = Cluster::start(3);
    let leader = cluster.url(cluster.leader()).to_owned();
    let claim = |owner: &str| {
        format!(
            r#"{{"compare":[{{"key":"lock","mod_revision":0}}],
                "success":[{{"put":{{"key":"lock","value":"{owner}"}}}}],
                "failure":[{{"get":{{"key":"lock"}}}}]}}"#
        )
    };
    let first = http("POST", &leader, "/v1/txn", claim("a").as_bytes());
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["succeeded"], true);
    let second = http("POST", &leader, "/v1/txn", claim("b").as_bytes()).json();
    assert_eq!(second["succeeded"], false);
    assert_eq!(second["responses"][0]["range"]["kvs"][0]["value"], "a");
    let swap = r#"{"compare":[{"key":"lock","value":"a"}],
        "success":[{"put":{"key":"lock","value":"c"}},{"delete":{"key":"gone"}}]}"#;
    let swapped = http("POST", &leader, "/v1/txn", swap.as_bytes()).json();
    assert_eq!(swapped["succeeded"], true);
    assert_eq!(swapped["responses"].as_array().map(Vec::len), Some(2));
    assert_eq!(http("GET", &leader, "/v1/kv/lock", b"").text(), "c");
}

/// A resent write with the same Idempotency-Key is applied once and
/// answered with the first answer; the key reused for another write is 422.
#[test]
fn idempotent_retries_are_applied_once() {
    let cluster = Cluster::start(3);
    let leader = cluster.url(cluster.leader()).to_owned();
    let key = [("Idempotency-Key", "req-1")];
    let first = try_http("PUT", &leader, "/v1/kv/counter", &key, b"1").expect("answer");
    let again = try_http("PUT", &leader, "/v1/kv/counter", &key, b"1").expect("answer");
    assert_eq!(first.status, 200);
    assert_eq!(first.json(), again.json());
    let read = http("GET", &leader, "/v1/kv/counter", b"");
    assert_eq!(read.header("quorate-version"), Some("1"));
    let reused = try_http("PUT", &leader, "/v1/kv/counter", &key, b"2").expect("answer");
    assert_eq!(reused.status, 422, "{}", reused.text());
    assert_eq!(reused.json()["code"], "idempotency_key_reused");
}

/// Malformed requests get 400/404 with a JSON error saying nothing was
/// applied.
#[test]
fn bad_requests_get_clear_errors() {
    let cluster = Cluster::start(1);
    let node = cluster.url(1).to_owned();
    let unknown = http("GET", &node, "/v1/kv/a?consistancy=stale", b"");
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["code"], "bad_request");
    let broken = http("POST", &node, "/v1/txn", b"{not json");
    assert_eq!(broken.status, 400);
    assert_eq!(broken.json()["outcome"], "not_applied");
    let missing = http("GET", &node, "/v1/kv/absent", b"");
    assert_eq!(missing.status, 404);
    let member = http(
        "POST",
        &node,
        "/v1/cluster/members",
        br#"{"action":"add_learner","id":9}"#,
    );
    assert_eq!(member.status, 400);
    let page = http("GET", &node, "/", b"");
    assert!(page.text().contains("/v1/cluster"));
    let metrics = http("GET", &node, "/metrics", b"").text();
    assert!(
        metrics.contains("quorate_leader_changes_total"),
        "{metrics}"
    );
    let counted = r#"quorate_kv_http_requests_total{route="/v1/txn",method="POST",status="400"} 1"#;
    assert!(metrics.contains(counted), "{metrics}");
}

/// A node that lost its quorum answers 503 with Retry-After: the request
/// was refused before it was proposed, so a retry is safe.
#[test]
fn without_a_quorum_writes_get_503_and_retry_after() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.leader();
    let survivor = cluster.follower(leader);
    for id in [1, 2, 3] {
        if id != survivor {
            cluster.nodes.get_mut(&id).expect("node").kill();
        }
    }
    let url = cluster.url(survivor).to_owned();
    let refused = wait_for("the survivor to refuse writes with 503", || {
        let reply = http("PUT", &url, "/v1/kv/k", b"v");
        (reply.status == 503).then_some(reply)
    });
    assert!(refused.header("retry-after").is_some());
    assert_eq!(refused.json()["outcome"], "not_applied");
    let not_ready = wait_for("/ready to turn 503", || {
        let reply = http("GET", &url, "/ready", b"");
        (reply.status == 503).then_some(reply)
    });
    assert_eq!(not_ready.json()["live"], true);
    assert_eq!(http("GET", &url, "/health", b"").status, 200);
}
