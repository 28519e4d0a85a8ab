//! Issue 11 against real `quorate serve` processes: the control plane is
//! closed to clients (item 1), membership changes are checked (item 4),
//! tokens gate the API (item 3), and misconfigurations stop start-up with
//! one line (item 7).

mod e2e_support;

use e2e_support::{free_port, http, run_to_end, try_http, wait_for, Cluster, Server};

fn post(url: &str, path: &str, body: &str) -> e2e_support::Reply {
    http("POST", url, path, body.as_bytes())
}

fn roles(url: &str) -> Vec<(u64, String)> {
    let status = http("GET", url, "/v1/cluster", b"").json();
    status["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["id"].as_u64().expect("id"),
                m["role"].as_str().expect("role").to_owned(),
            )
        })
        .collect()
}

/// Item 1 and item 4 on one 3-node cluster: forged records are refused
/// and redirects still name the leader; re-adding a voter, a taken peer address and a change without
/// a reachable quorum are refused with their reasons, and nothing moved.
#[test]
fn a_hostile_client_changes_no_membership_or_routing_data() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.leader();
    let leader_url = cluster.url(leader).to_owned();
    let follower = cluster.follower(leader);
    let before = roles(&leader_url);

    let record = |id: u64, url: &str| format!(r#"{{"id":{id},"client_url":"{url}"}}"#);
    let attacker = "http://203.0.113.9:80";
    let forged = [
        (record(leader, attacker), 409, "not_a_member"),
        (record(99, "http://127.0.0.1:1"), 409, "not_a_member"),
        (record(follower, attacker), 400, "bad_request"),
        (
            r#"{"id":2,"client_url":"http://127.0.0.1:1","peer_addr":"203.0.113.9:80"}"#.to_owned(),
            400,
            "bad_request",
        ),
    ];
    for (body, status, code) in forged {
        let answer = post(&leader_url, "/internal/v1/member-record", &body);
        assert_eq!(answer.status, status, "{body}: {}", answer.text());
        assert_eq!(answer.json()["code"], code, "{body}");
    }
    let redirect = http("PUT", cluster.url(follower), "/v1/kv/x", b"1");
    assert_eq!(redirect.status, 307, "{}", redirect.text());
    let location = redirect.header("location").unwrap_or_default();
    assert!(location.starts_with(&leader_url), "{location}");

    let readd = format!(r#"{{"action":"add_learner","id":{follower},"peer_url":"127.0.0.1:1"}}"#);
    let answer = post(&leader_url, "/v1/cluster/members", &readd);
    assert_eq!(answer.status, 409, "{}", answer.text());
    assert_eq!(answer.json()["code"], "already_a_member");

    let taken = &cluster.nodes[&follower].peer_addr;
    let twin = format!(r#"{{"action":"add_learner","id":9,"peer_url":"{taken}"}}"#);
    let answer = post(&leader_url, "/v1/cluster/members", &twin);
    assert_eq!(answer.status, 409, "{}", answer.text());
    assert_eq!(answer.json()["code"], "peer_address_in_use");

    let unknown = post(
        &leader_url,
        "/v1/cluster/members",
        r#"{"action":"remove","id":42}"#,
    );
    assert_eq!(unknown.status, 409, "{}", unknown.text());
    assert_eq!(unknown.json()["code"], "not_a_member");
    assert_eq!(roles(&leader_url), before, "no refused change applied");

    // With one follower down, removing the other one would leave the
    // leader and a dead voter: no quorum.
    cluster.nodes.get_mut(&follower).expect("follower").kill();
    let other = cluster
        .nodes
        .keys()
        .copied()
        .find(|&id| id != leader && id != follower)
        .expect("a third node");
    let remove = format!(r#"{{"action":"remove","id":{other}}}"#);
    wait_for("the leader to count the follower unreachable", || {
        let status = http("GET", &leader_url, "/v1/cluster", b"").json();
        let members = status["members"].as_array().cloned().unwrap_or_default();
        members
            .iter()
            .find(|m| m["id"] == follower)
            .and_then(|m| m["last_contact_ms"].as_u64())
            .filter(|&ms| ms > 2_500)
    });
    let refused = post(&leader_url, "/v1/cluster/members", &remove);
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert_eq!(refused.json()["code"], "quorum_unreachable");
    assert_eq!(roles(&leader_url), before);
    assert_eq!(cluster.leader(), leader, "the leader did not step down");
}

/// Item 3 over a real listener: probes open, the rest needs a token of
/// a strong enough role.
#[test]
fn a_node_with_a_token_file_refuses_anonymous_and_weak_clients() {
    let root = tempfile::tempdir().expect("tempdir");
    let tokens = root.path().join("tokens");
    let file = format!(
        "read {}\nadmin {}\n",
        quorate_kv::api::token_hash("viewer"),
        quorate_kv::api::token_hash("root")
    );
    std::fs::write(&tokens, file).expect("token file");
    let flags = ["--auth-token-file", tokens.to_str().expect("utf-8")];
    let node = Server::start(1, root.path(), free_port(), free_port(), &flags);
    wait_for("the node to be ready", || node.is_ready().then_some(()));
    let url = node.client_url.as_str();
    let anonymous = http("PUT", url, "/v1/kv/a", b"1");
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    assert_eq!(anonymous.json()["code"], "unauthorized");
    let call = |method: &str, path: &str, token: &str| {
        let bearer = format!("Bearer {token}");
        try_http(method, url, path, &[("Authorization", &bearer)], b"1").expect("answers")
    };
    let weak = call("PUT", "/v1/kv/a", "viewer");
    assert_eq!(weak.status, 403, "{}", weak.text());
    assert_eq!(weak.json()["code"], "forbidden");
    assert_eq!(call("POST", "/v1/snapshot", "viewer").status, 403);
    assert_eq!(call("PUT", "/v1/kv/a", "root").status, 200);
    assert_eq!(call("GET", "/v1/kv/a", "viewer").text(), "1");
    assert_eq!(http("GET", url, "/health", b"").status, 200);
}

/// Item 7: each of these used to start silently; now each stops with a
/// non-zero exit and one line naming the problem.
#[test]
fn misconfigurations_exit_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8");
    let (peer, client) = (free_port(), free_port());
    let listen_peer = format!("127.0.0.1:{peer}");
    let listen_client = format!("127.0.0.1:{client}");
    let base = [
        "serve",
        "--data-dir",
        data,
        "--listen-peer",
        &listen_peer,
        "--listen-client",
        &listen_client,
    ];
    let shared = format!("1={listen_peer},2={listen_peer}");
    let elsewhere = format!("1=127.0.0.1:{},2=127.0.0.1:1", free_port());
    let missing = dir.path().join("no-such-file");
    let missing = missing.to_str().expect("utf-8");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--advertise-client-url", "not a url"],
            "must be http(s)://HOST:PORT",
        ),
        (&["--initial-cluster", &shared], "share peer address"),
        (
            &["--initial-cluster", &elsewhere],
            "is not node 1's initial cluster entry",
        ),
        (&["--auth-token-file", missing], "cannot read token file"),
        (
            &["--max-client-connections", "0"],
            "max_client_connections must be greater than zero",
        ),
    ];
    for (flags, expected) in cases {
        let args: Vec<&str> = base.iter().chain(flags).copied().collect();
        let (ok, stderr) = run_to_end(&args);
        assert!(!ok, "{flags:?} started");
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
        let lines = stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .count();
        assert_eq!(lines, 1, "{flags:?}: {stderr}");
    }
}

/// Item 7: `--join` with the id of a running voter and a fresh data
/// directory would serve an empty log and never be ready; it is refused.
#[test]
fn joining_with_the_id_of_a_member_is_refused() {
    let cluster = Cluster::start(1);
    let url = cluster.url(1).to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("impostor");
    let (peer, client) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let args = [
        "serve",
        "--node-id",
        "1",
        "--data-dir",
        data.to_str().expect("utf-8"),
        "--listen-peer",
        &peer,
        "--listen-client",
        &client,
        "--join",
        &url,
    ];
    let (ok, stderr) = run_to_end(&args);
    assert!(!ok);
    assert!(stderr.contains("node 1 is already a member"), "{stderr}");
    assert_eq!(roles(&url), vec![(1, "voter".to_owned())]);
}

/// Item 4: a member that applied its own removal stops serving: reads
/// and writes are 410 `removed`, and `/ready` is not ready.
#[test]
fn a_removed_member_refuses_reads_and_writes_with_410() {
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    let url = cluster.url(leader).to_owned();
    assert_eq!(http("PUT", &url, "/v1/kv/a", b"1").status, 200);
    let remove = format!(r#"{{"action":"remove","id":{leader}}}"#);
    let removed =
        e2e_support::http_until_accepted("POST", &url, "/v1/cluster/members", remove.as_bytes());
    assert_eq!(removed.status, 200, "{}", removed.text());
    let refused = wait_for("the removed node to refuse reads", || {
        let read = http("GET", &url, "/v1/kv/a?consistency=stale", b"");
        (read.status == 410).then_some(read)
    });
    assert_eq!(refused.json()["code"], "removed");
    assert_eq!(http("PUT", &url, "/v1/kv/a", b"2").status, 410);
    assert_eq!(http("GET", &url, "/ready", b"").status, 503);
}

/// Item 5: eight clients running full scans of 16 MiB against the leader
/// for three seconds do not make it step down: scans are cut at their
/// byte limit, at most four run at once, and the Raft driver has its own
/// threads. Heavy (writes 16 MiB, keeps the CPUs busy), so run on its own:
/// `cargo test -p quorate-kv --test e2e_security -- --ignored`.
#[test]
#[ignore = "heavy: run with --ignored"]
#[allow(clippy::disallowed_methods)] // Real processes under load for a wall-clock while.
fn full_scans_under_load_do_not_make_the_leader_step_down() {
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    let url = cluster.url(leader).to_owned();
    let value = vec![b'v'; 64 * 1024];
    for index in 0..256 {
        let put = http("PUT", &url, &format!("/v1/kv/big{index:03}"), &value);
        assert_eq!(put.status, 200, "{}", put.text());
    }
    let term_before = http("GET", &url, "/v1/cluster", b"").json()["term"].clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let scans: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut answered = 0u32;
                while std::time::Instant::now() < deadline {
                    let page = http("GET", &url, "/v1/kv?prefix=big", b"");
                    assert!(page.status == 200 || page.status == 503, "{}", page.status);
                    answered += u32::from(page.status == 200);
                }
                answered
            })
        })
        .collect();
    let answered: u32 = scans
        .into_iter()
        .map(|scan| scan.join().expect("scanner"))
        .sum();
    assert!(answered > 0, "no scan was served");
    let status = http("GET", &url, "/v1/cluster", b"").json();
    assert_eq!(status["leader_id"], leader, "{status}");
    assert_eq!(status["term"], term_before, "an election ran: {status}");
}
