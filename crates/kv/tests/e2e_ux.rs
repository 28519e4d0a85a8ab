//! What a new user meets first, against real `quorate serve` processes:
//! plain log files, the CLI's commands and output, `quorate bench`
//! leaving a cluster as it found it, the leader's view of a learner that
//! never started, the message for garbage on the peer port, a restart
//! without `--cluster-id`, and a refused peer logging on both sides.

mod e2e_support;

use e2e_support::{free_port, http, http_until_accepted, quorate, wait_for, Cluster, Server};
use std::io::Write;
use std::process::{Output, Stdio};

/// Runs the CLI against `endpoints` with `stdin` piped in.
fn cli(endpoints: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = quorate()
        .arg("--endpoints")
        .arg(endpoints)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs quorate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("writes stdin");
    child.wait_with_output().expect("quorate exits")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "quorate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The members of a `--output json` status, by id.
fn member(status: &serde_json::Value, id: u64) -> serde_json::Value {
    status["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("member {id} in {status}"))
}

#[test]
fn the_cli_bench_and_logs_behave_for_a_new_user() {
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    let follower_url = cluster.url(cluster.follower(leader)).to_owned();
    check_kv_commands(&cluster, leader, &follower_url);
    check_cluster_status(&follower_url);
    check_bench_cleanup(cluster.url(leader));
    check_learner_never_heard_from(&cluster, leader);
    check_peer_port_garbage(&cluster, leader);
    check_removed_member_readiness(&cluster, leader);
    // Logs written to a file carry no colour codes.
    for server in cluster.nodes.values() {
        assert!(
            !server.logs().contains('\u{1b}'),
            "ANSI codes in node {}",
            server.id
        );
    }
}

fn check_kv_commands(cluster: &Cluster, leader: u64, follower_url: &str) {
    // A value from stdin, byte for byte, with `-` and with no value.
    stdout(&cli(follower_url, &["kv", "put", "piped", "-"], b"line\n"));
    stdout(&cli(follower_url, &["kv", "put", "implicit"], b"v2"));
    assert_eq!(
        http("GET", cluster.url(leader), "/v1/kv/piped", b"").body,
        b"line\n"
    );
    assert_eq!(
        http("GET", cluster.url(leader), "/v1/kv/implicit", b"").body,
        b"v2"
    );
    // `del` deletes.
    let deleted = stdout(&cli(follower_url, &["kv", "del", "implicit"], b""));
    assert!(deleted.starts_with("1 deleted"), "{deleted}");

    // A binary key and a text key that reads like its hex differ in scan.
    let txn = br#"{"success":[{"put":{"key":{"hex":"62696e00ff"},"value":"b"}}]}"#;
    let binary = http_until_accepted("POST", cluster.url(leader), "/v1/txn", txn);
    assert_eq!(binary.status, 200, "{}", binary.text());
    stdout(&cli(follower_url, &["kv", "put", "bin0x00ff", "t"], b""));
    let scan = stdout(&cli(follower_url, &["kv", "scan", "bin"], b""));
    assert!(scan.contains("| 0x62696e00ff "), "{scan}");
    assert!(scan.contains("| bin0x00ff "), "{scan}");
}

fn check_cluster_status(follower_url: &str) {
    // Asked through a follower, status still shows the leader's progress:
    // the leader answers (whichever node leads by then).
    let table = stdout(&cli(follower_url, &["cluster", "status"], b""));
    let header = table.lines().next().unwrap_or_default();
    let answered = header
        .split("(answered by ")
        .nth(1)
        .and_then(|rest| rest.split(')').next());
    let leads = header
        .split(": leader ")
        .nth(1)
        .and_then(|rest| rest.split(',').next());
    assert!(answered.is_some() && answered == leads, "{table}");
    assert!(
        table.contains("| LAG |") || table.contains(" LAG "),
        "{table}"
    );
    let json = stdout(&cli(
        follower_url,
        &["-o", "json", "cluster", "status"],
        b"",
    ));
    let status: serde_json::Value = serde_json::from_str(&json).expect("json");
    for id in 1..=3 {
        assert!(member(&status, id)["lag_entries"].is_u64(), "{status}");
    }
    assert!(status["leader_changes"][0]["at_ms"].is_u64(), "{status}");
}

fn check_bench_cleanup(leader_url: &str) {
    // bench against the cluster deletes what it wrote, unless asked not to.
    let bench = [
        "bench",
        "--duration",
        "0.3",
        "--clients",
        "2",
        "--keys",
        "20",
    ];
    stdout(&cli(leader_url, &bench, b""));
    let left = http("GET", leader_url, "/v1/kv?prefix=bench/", b"").json();
    assert_eq!(left["kvs"].as_array().map(Vec::len), Some(0), "{left}");
    let keep = [&bench[..], &["--keep-keys"]].concat();
    stdout(&cli(leader_url, &keep, b""));
    let kept = http("GET", leader_url, "/v1/kv?prefix=bench/", b"").json();
    assert!(
        kept["kvs"].as_array().is_some_and(|kvs| !kvs.is_empty()),
        "{kept}"
    );
}

fn check_learner_never_heard_from(cluster: &Cluster, leader: u64) {
    // A learner that never started was never heard from. Adding it waits
    // for a catch-up that cannot happen, so the answer is not awaited.
    let add = format!(
        r#"{{"action":"add_learner","id":9,"peer_url":"127.0.0.1:{}"}}"#,
        free_port()
    );
    let leader_url = cluster.url(leader).to_owned();
    std::thread::spawn(move || {
        e2e_support::try_http(
            "POST",
            &leader_url,
            "/v1/cluster/members",
            &[],
            add.as_bytes(),
        )
    });
    let learner = wait_for("learner 9 in the leader's status", || {
        let status = http("GET", cluster.url(leader), "/v1/cluster", b"").json();
        let members = status["members"].as_array()?.clone();
        members
            .into_iter()
            .find(|m| m["id"] == 9 && m["match_index"].is_u64())
    });
    assert!(learner["last_contact_ms"].is_null(), "{learner}");
}

fn check_peer_port_garbage(cluster: &Cluster, leader: u64) {
    // Garbage on the peer port is not mistaken for a large frame.
    let peer = &cluster.nodes[&leader].peer_addr;
    let mut stream = std::net::TcpStream::connect(peer).expect("connects");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("writes");
    drop(stream);
    let server = &cluster.nodes[&leader];
    let logs = wait_for("the refused connection in the log", || {
        let logs = server.logs();
        logs.contains("refused inbound connection").then_some(logs)
    });
    assert!(logs.contains("not a quorate peer"), "{logs}");
    assert!(!logs.contains("raise frame_bytes_max"), "{logs}");
}

fn check_removed_member_readiness(cluster: &Cluster, leader: u64) {
    // A removed member's /ready does not say it is "not a member yet".
    let removed = cluster.follower(leader);
    let remove = format!(r#"{{"action":"remove","id":{removed}}}"#);
    let reply = http_until_accepted(
        "POST",
        cluster.url(leader),
        "/v1/cluster/members",
        remove.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reason = wait_for("the removed member to be unready", || {
        let ready = http("GET", cluster.url(removed), "/ready", b"");
        (ready.status == 503).then(|| ready.json()["reason"].to_string())
    });
    assert!(reason.contains("removed"), "{reason}");
    assert!(!reason.contains("yet"), "{reason}");
}

#[test]
fn a_restart_needs_no_cluster_id_and_a_refused_peer_logs_why() {
    let root = tempfile::tempdir().expect("tempdir");
    let (peer_a, peer_b) = (free_port(), free_port());
    let initial = format!("1=127.0.0.1:{peer_a},2=127.0.0.1:{peer_b}");
    let flags = |cluster: &'static str| {
        vec![
            "--initial-cluster".to_owned(),
            initial.clone(),
            "--cluster-id".to_owned(),
            cluster.to_owned(),
        ]
    };
    let alpha = flags("alpha");
    let alpha: Vec<&str> = alpha.iter().map(String::as_str).collect();
    let mut node_a = Server::start(1, root.path(), peer_a, free_port(), &alpha);
    let beta = flags("beta");
    let beta: Vec<&str> = beta.iter().map(String::as_str).collect();
    let node_b = Server::start(2, root.path(), peer_b, free_port(), &beta);
    for server in [&node_a, &node_b] {
        wait_for("a refused handshake logged by the dialling side", || {
            server
                .logs()
                .contains("peer refused the connection")
                .then_some(())
        });
    }
    drop(node_b);

    // Restart as a single-node cluster id "alpha" without --cluster-id: the
    // data directory's id wins, so it starts (and still refuses "beta").
    let single = format!("1=127.0.0.1:{peer_a}");
    node_a.restart(&["--initial-cluster", &single, "--log-format", "json"]);
    let status = wait_for("node 1 to answer after the restart", || {
        let reply = e2e_support::try_http("GET", &node_a.client_url, "/v1/cluster", &[], b"")?;
        (reply.status == 200).then(|| reply.json())
    });
    assert_eq!(status["cluster_id"], "alpha", "{status}");
    let logs = node_a.logs();
    let line = logs.lines().last().expect("a log line");
    let parsed: serde_json::Value = serde_json::from_str(line).expect("JSON log lines");
    assert!(parsed["level"].is_string(), "{line}");
}

#[test]
fn bench_places_its_temporary_cluster_at_the_base_port() {
    // Six consecutive free ports are likely but not certain: a taken one
    // is refused up front, so another base is tried.
    let (base, output) = wait_for("a bench run on six free ports", || {
        let base = free_port();
        let output = quorate()
            .args(["bench", "--base-port", &base.to_string()])
            .args(["--duration", "0.1", "--clients", "1", "--keys", "5"])
            .output()
            .expect("runs quorate bench");
        let refused = String::from_utf8_lossy(&output.stderr).contains("--base-port");
        (!refused).then_some((base, output))
    });
    let text = stdout(&output);
    for port in [base + 1, base + 3, base + 5] {
        assert!(text.contains(&format!("http://127.0.0.1:{port}")), "{text}");
    }
}
