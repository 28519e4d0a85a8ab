//! Membership, leadership and restarts of a real `quorate serve` cluster,
//! all through the HTTP API.

mod e2e_support;

use e2e_support::{free_port, http, http_until_accepted, try_http, wait_for, Cluster, Server};

fn member_roles(url: &str) -> Vec<(u64, String)> {
    let status = http("GET", url, "/v1/cluster", b"").json();
    status["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let id = m["id"].as_u64().expect("id");
            (id, m["role"].as_str().expect("role").to_owned())
        })
        .collect()
}

/// A fourth node joins with `--join` as a learner, is promoted, takes
/// over leadership by transfer, and an old voter is removed; the data
/// written before is on the newcomer.
#[test]
fn a_node_joins_is_promoted_takes_over_and_an_old_member_is_removed() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.leader();
    let leader_url = cluster.url(leader).to_owned();
    assert_eq!(http("PUT", &leader_url, "/v1/kv/before", b"1").status, 200);

    let root = cluster.root.path().to_owned();
    // Joining through a follower exercises the redirect to the leader.
    let follower_url = cluster.url(cluster.follower(leader)).to_owned();
    let join = ["--join", follower_url.as_str()];
    let newcomer = Server::start(4, &root, free_port(), free_port(), &join);
    wait_for("node 4 to join and catch up", || {
        newcomer.is_ready().then_some(())
    });
    assert!(member_roles(&leader_url).contains(&(4, "learner".into())));
    let stale = http(
        "GET",
        &newcomer.client_url,
        "/v1/kv/before?consistency=stale",
        b"",
    );
    assert_eq!(stale.text(), "1");
    cluster.nodes.insert(4, newcomer);

    let promote = br#"{"action":"promote","id":4}"#;
    let promoted = http_until_accepted("POST", &leader_url, "/v1/cluster/members", promote);
    assert_eq!(promoted.status, 200, "{}", promoted.text());
    assert!(member_roles(&leader_url).contains(&(4, "voter".into())));

    let moved = http(
        "POST",
        &leader_url,
        "/v1/cluster/leader",
        br#"{"target":4}"#,
    );
    assert_eq!(moved.status, 200, "{}", moved.text());
    assert_eq!(moved.json()["leader_id"], 4);
    assert_eq!(cluster.leader(), 4);

    let new_leader = cluster.url(4).to_owned();
    let remove = format!(r#"{{"action":"remove","id":{leader}}}"#);
    let removed = http_until_accepted(
        "POST",
        &new_leader,
        "/v1/cluster/members",
        remove.as_bytes(),
    );
    assert_eq!(removed.status, 200, "{}", removed.text());
    let roles = member_roles(&new_leader);
    assert!(roles.iter().all(|(id, _)| *id != leader), "{roles:?}");
    cluster.nodes.get_mut(&leader).expect("old leader").kill();
    assert_eq!(http("PUT", &new_leader, "/v1/kv/after", b"2").status, 200);

    let snapshot = http("POST", &new_leader, "/v1/snapshot", b"");
    assert_eq!(snapshot.status, 200, "{}", snapshot.text());
    assert!(snapshot.json()["index"].as_u64() > Some(0));
}

/// Every node stopped at once and restarted with only its data directory
/// (no --initial-cluster): the cluster elects a leader and serves every
/// acknowledged write.
#[test]
fn the_whole_cluster_restarts_with_its_data() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.url(cluster.leader()).to_owned();
    for index in 0..20 {
        let path = format!("/v1/kv/key-{index:02}");
        assert_eq!(http("PUT", &leader, &path, b"v").status, 200);
    }
    for server in cluster.nodes.values_mut() {
        server.kill();
    }
    for server in cluster.nodes.values_mut() {
        server.restart(&[]);
    }
    cluster.wait_ready();
    let leader = cluster.url(cluster.leader()).to_owned();
    let scan = wait_for("a linearizable scan after the restart", || {
        let reply = try_http("GET", &leader, "/v1/kv?prefix=key-", &[], b"")?;
        (reply.status == 200).then_some(reply)
    });
    assert_eq!(scan.json()["kvs"].as_array().map(Vec::len), Some(20));
}

/// A leadership transfer asked of a follower is redirected to the leader;
/// a transfer to a node that is not a voter is refused with 409.
#[test]
fn transfers_go_through_the_leader_and_need_a_voter() {
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    let follower = cluster.follower(leader);
    let asked = http("POST", cluster.url(follower), "/v1/cluster/leader", b"");
    assert_eq!(asked.status, 307);
    let refused = http(
        "POST",
        cluster.url(leader),
        "/v1/cluster/leader",
        br#"{"target":42}"#,
    );
    assert_eq!(refused.status, 409, "{}", refused.text());
    let moved = http_until_accepted("POST", cluster.url(leader), "/v1/cluster/leader", b"");
    assert_eq!(moved.status, 200, "{}", moved.text());
    assert_ne!(moved.json()["leader_id"], leader);
}

/// A standby voter (`--standby`) counts towards quorums but never
/// campaigns, and the cluster reports it as `standby`.
#[test]
fn a_standby_voter_is_reported_and_never_leads() {
    let cluster = Cluster::start_with(3, &|id| {
        if id == 3 {
            vec!["--standby".to_owned()]
        } else {
            Vec::new()
        }
    });
    let leader = cluster.leader();
    assert_ne!(leader, 3);
    let url = cluster.url(leader).to_owned();
    let roles = wait_for("node 3 reported as standby", || {
        let roles = member_roles(&url);
        roles.contains(&(3, "standby".into())).then_some(roles)
    });
    assert!(roles.contains(&(1, "voter".into())), "{roles:?}");
}

/// SIGTERM stops a node gracefully (exit status 0, node and transport
/// shut down), and the node restarts from its data directory alone.
#[test]
fn sigterm_stops_a_node_gracefully_and_it_restarts() {
    let mut cluster = Cluster::start(1);
    let url = cluster.url(1).to_owned();
    assert_eq!(http("PUT", &url, "/v1/kv/kept", b"yes").status, 200);
    let server = cluster.nodes.get_mut(&1).expect("node");
    assert!(server.terminate(), "{}", server.logs());
    assert!(server.logs().contains("node stopped"), "{}", server.logs());
    server.restart(&[]);
    cluster.wait_ready();
    assert_eq!(http("GET", &url, "/v1/kv/kept", b"").text(), "yes");
}
