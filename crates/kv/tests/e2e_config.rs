//! `quorate serve` refuses bad settings with one clear line and a
//! non-zero exit, before it starts anything.

mod e2e_support;

use e2e_support::{free_port, run_to_end, Cluster};
use std::net::TcpListener;

#[test]
fn an_unknown_flag_is_refused() {
    let (ok, stderr) = run_to_end(&["serve", "--node-idd", "1"]);
    assert!(!ok);
    assert!(
        stderr.contains("unexpected argument '--node-idd'"),
        "{stderr}"
    );
}

#[test]
fn a_port_in_use_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = TcpListener::bind("127.0.0.1:0").expect("binds");
    let taken_addr = taken.local_addr().expect("addr").to_string();
    let client = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8 path");
    let args = [
        "serve",
        "--data-dir",
        data,
        "--listen-peer",
        &taken_addr,
        "--listen-client",
        &client,
    ];
    let (ok, stderr) = run_to_end(&args);
    assert!(!ok);
    assert!(stderr.contains("is already in use"), "{stderr}");
    assert!(stderr.contains(&taken_addr), "{stderr}");
}

#[test]
fn a_data_dir_of_another_cluster_is_refused() {
    let mut cluster = Cluster::start(1);
    let server = cluster.nodes.get_mut(&1).expect("node");
    server.kill();
    let data = server.data_dir.to_str().expect("utf-8 path").to_owned();
    let (peer, client) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let args = [
        "serve",
        "--data-dir",
        &data,
        "--cluster-id",
        "another",
        "--listen-peer",
        &peer,
        "--listen-client",
        &client,
    ];
    let (ok, stderr) = run_to_end(&args);
    assert!(!ok);
    assert!(stderr.contains("belongs to cluster"), "{stderr}");
}

#[test]
fn an_unreadable_or_invalid_config_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.toml");
    let missing = missing.to_str().expect("utf-8 path");
    let (ok, stderr) = run_to_end(&["serve", "--config", missing]);
    assert!(!ok);
    assert!(stderr.contains("cannot read config file"), "{stderr}");
    let invalid = dir.path().join("invalid.toml");
    std::fs::write(&invalid, "node_idd = 3\n").expect("writes");
    let invalid = invalid.to_str().expect("utf-8 path");
    let (ok, stderr) = run_to_end(&["serve", "--config", invalid]);
    assert!(!ok);
    assert!(stderr.contains("is not valid"), "{stderr}");
}

#[test]
fn a_node_outside_its_initial_cluster_is_refused() {
    let (ok, stderr) = run_to_end(&[
        "serve",
        "--node-id",
        "4",
        "--initial-cluster",
        "1=127.0.0.1:1,2=127.0.0.1:2",
    ]);
    assert!(!ok);
    assert!(stderr.contains("not in the initial cluster"), "{stderr}");
}

/// The data directory of another node is refused, with the cause said once.
#[test]
fn a_data_dir_of_another_node_is_refused() {
    let mut cluster = Cluster::start(1);
    let server = cluster.nodes.get_mut(&1).expect("node");
    server.kill();
    let data = server.data_dir.to_str().expect("utf-8 path").to_owned();
    let (peer, client) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let args = [
        "serve",
        "--node-id",
        "2",
        "--data-dir",
        &data,
        "--listen-peer",
        &peer,
        "--listen-client",
        &client,
    ];
    let (ok, stderr) = run_to_end(&args);
    assert!(!ok);
    assert_eq!(
        stderr.matches("belongs to node n1, not n2").count(),
        1,
        "{stderr}"
    );
}
