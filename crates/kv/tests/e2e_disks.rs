//! Disks fail: a member whose disk was replaced rejoins with
//! `--initial-cluster-state existing` and never costs an acknowledged
//! write (the nats-server#7038 sequence, on real processes).

mod e2e_support;

use e2e_support::{http, http_until_accepted, try_http, wait_for, Cluster};

const KEYS: usize = 40;

/// Leader L and follower Y acknowledge writes while X is down; Y's disk is
/// wiped and L dies; X (stale) and Y (empty) restart. Were Y to bootstrap
/// again it would vote X, missing the writes, into leadership, and L's log
/// would be overwritten when it returns. Rejoining as an existing member,
/// Y votes for no one until a leader's snapshot arrives, so only L can
/// lead again, and every write survives.
#[test]
fn wiped_follower_rejoining_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.leader();
    let stale = cluster.follower(leader);
    let wiped = *cluster
        .nodes
        .keys()
        .find(|&&id| id != leader && id != stale)
        .expect("a third node");
    let initial = cluster
        .nodes
        .values()
        .map(|s| format!("{}={}", s.id, s.peer_addr))
        .collect::<Vec<_>>()
        .join(",");
    let flags = ["--initial-cluster", initial.as_str()];

    cluster.nodes.get_mut(&stale).expect("stale").kill();
    let leader_url = cluster.url(leader).to_owned();
    for key in 0..KEYS {
        let put = http_until_accepted("PUT", &leader_url, &format!("/v1/kv/k{key}"), b"v");
        assert_eq!(put.status, 200, "write {key} acknowledged");
    }

    let wiped_server = cluster.nodes.get_mut(&wiped).expect("wiped");
    wiped_server.kill();
    std::fs::remove_dir_all(&wiped_server.data_dir).expect("wipe the disk");
    cluster.nodes.get_mut(&leader).expect("leader").kill();
    cluster
        .nodes
        .get_mut(&stale)
        .expect("stale")
        .restart(&flags);
    let mut rejoin = flags.to_vec();
    rejoin.extend(["--initial-cluster-state", "existing"]);
    cluster
        .nodes
        .get_mut(&wiped)
        .expect("wiped")
        .restart(&rejoin);

    assert_leaderless_for_a_while(&cluster, &[stale, wiped]);

    cluster
        .nodes
        .get_mut(&leader)
        .expect("leader")
        .restart(&flags);
    let new_leader = cluster.leader();
    let url = cluster.url(new_leader).to_owned();
    for key in 0..KEYS {
        let read = http_until_accepted("GET", &url, &format!("/v1/kv/k{key}"), b"");
        assert_eq!(read.status, 200, "write {key} survived");
    }
    wait_for("the wiped node catches up", || {
        let read = http(
            "GET",
            cluster.url(wiped),
            &format!("/v1/kv/k{}?consistency=stale", KEYS - 1),
            b"",
        );
        (read.status == 200).then_some(())
    });
}

/// For several election timeouts, none of `ids` may lead or follow a
/// leader: none of them holds the acknowledged writes.
#[allow(clippy::disallowed_methods)] // Real processes for a wall-clock while.
fn assert_leaderless_for_a_while(cluster: &Cluster, ids: &[u64]) {
    let watch_until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < watch_until {
        for &id in ids {
            let Some(status) = try_http("GET", cluster.url(id), "/v1/cluster", &[], b"") else {
                continue; // still starting
            };
            let status = status.json();
            assert!(
                status["leader_id"].as_u64().is_none(),
                "node {id} follows a leader without the writes: {status}"
            );
        }
        std::thread::park_timeout(std::time::Duration::from_millis(50));
    }
}
