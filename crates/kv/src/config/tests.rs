use super::*;
use clap::Parser;
use std::collections::HashMap;

#[derive(Parser, Debug)]
struct Serve {
    #[command(flatten)]
    args: ServeArgs,
}

fn args(flags: &[&str]) -> ServeArgs {
    let argv = std::iter::once("serve").chain(flags.iter().copied());
    Serve::try_parse_from(argv).expect("flags parse").args
}

fn resolve(flags: &[&str], env: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    ServeConfig::resolve(&args(flags), &|name| env.get(name).cloned())
}

#[test]
fn defaults_make_a_single_node_cluster() {
    let config = resolve(&[], &[]).expect("defaults are valid");
    assert_eq!(config.node_id, 1);
    assert_eq!(config.listen_client.to_string(), LISTEN_CLIENT_DEFAULT);
    assert_eq!(config.advertise_client_url, "http://127.0.0.1:7000");
    assert_eq!(config.data_dir, PathBuf::from("quorate-1.data"));
    assert_eq!(
        config.start,
        ClusterStart::Initial {
            members: BTreeMap::from([(1, LISTEN_PEER_DEFAULT.to_owned())])
        }
    );
    assert_eq!(config.election_timeout, Duration::from_millis(150));
}

#[test]
fn flags_win_over_environment_which_wins_over_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("quorate.toml");
    let toml = "node_id = 3\ncluster_id = \"from-file\"\nsnapshot_entries = 7\n\
                initial_cluster = \"2=10.0.0.2:7001,3=10.0.0.3:7001\"\n";
    std::fs::write(&path, toml).expect("write config");
    let file = path.to_str().expect("utf-8 path");
    let config = resolve(
        &[
            "--config",
            file,
            "--node-id",
            "2",
            "--listen-peer",
            "0.0.0.0:7001",
        ],
        &[("QUORATE_NODE_ID", "9"), ("QUORATE_CLUSTER_ID", "from-env")],
    )
    .expect("valid");
    assert_eq!(config.node_id, 2, "flag beats env and file");
    assert_eq!(config.cluster_id, "from-env", "env beats file");
    assert_eq!(config.snapshot_entries, 7, "file beats default");
}

#[test]
fn config_file_can_come_from_the_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("q.toml");
    std::fs::write(&path, "heartbeat_interval_ms = 20\n").expect("write");
    let config = resolve(&[], &[("QUORATE_CONFIG", path.to_str().expect("utf-8"))]).expect("ok");
    assert_eq!(config.heartbeat_interval, Duration::from_millis(20));
}

#[test]
fn unreadable_or_invalid_config_files_are_named() {
    let error = resolve(&["--config", "/nonexistent/quorate.toml"], &[]).expect_err("missing");
    assert!(matches!(error, ConfigError::FileUnreadable { .. }));
    assert!(error.to_string().contains("/nonexistent/quorate.toml"));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "node_idd = 1\n").expect("write");
    let error = resolve(&["--config", path.to_str().expect("utf-8")], &[]).expect_err("typo");
    assert!(matches!(error, ConfigError::FileInvalid { .. }));
    assert!(error.to_string().contains("node_idd"), "{error}");
}

#[test]
fn bad_flags_are_refused_by_the_parser() {
    let parse = |flags: &[&str]| {
        Serve::try_parse_from(std::iter::once("serve").chain(flags.iter().copied()))
    };
    assert!(parse(&["--node-id", "abc"]).is_err());
    assert!(parse(&["--listen-peer", "localhost"]).is_err());
    assert!(parse(&["--no-such-flag"]).is_err());
}

#[test]
fn invalid_environment_values_name_the_variable() {
    let error = resolve(&[], &[("QUORATE_ELECTION_TIMEOUT_MS", "soon")]).expect_err("bad");
    assert!(
        error.to_string().contains("QUORATE_ELECTION_TIMEOUT_MS"),
        "{error}"
    );
}

/// A check that an error is the expected variant.
type Expected = fn(&ConfigError) -> bool;

#[test]
fn cluster_membership_settings_are_validated() {
    let cases: &[(&[&str], Expected)] = &[
        (&["--node-id", "0"], |e| {
            matches!(e, ConfigError::ZeroNodeId)
        }),
        (&["--initial-cluster", "1=a"], |e| {
            matches!(e, ConfigError::InitialClusterEntry { .. })
        }),
        (&["--initial-cluster", "1=h:1,1=h:2"], |e| {
            matches!(e, ConfigError::DuplicateMember { node_id: 1 })
        }),
        (&["--initial-cluster", "2=h:1"], |e| {
            matches!(e, ConfigError::NotInInitialCluster { node_id: 1 })
        }),
        (
            &["--join", "http://h:7000", "--initial-cluster", "1=h:1"],
            |e| matches!(e, ConfigError::JoinAndInitialCluster),
        ),
        (&["--join", "h:7000"], |e| {
            matches!(e, ConfigError::JoinUrl { .. })
        }),
        (
            &[
                "--election-timeout-ms",
                "90",
                "--heartbeat-interval-ms",
                "50",
            ],
            |e| matches!(e, ConfigError::Timeouts { .. }),
        ),
        (&["--peer-cert-file", "c.pem"], |e| {
            matches!(
                e,
                ConfigError::TlsIncomplete {
                    listener: Listener::Peer
                }
            )
        }),
        (
            &[
                "--listen-peer",
                "127.0.0.1:9",
                "--listen-client",
                "127.0.0.1:9",
            ],
            |e| matches!(e, ConfigError::SameAddress { .. }),
        ),
        (&["--snapshot-entries", "0"], |e| {
            matches!(e, ConfigError::Zero { .. })
        }),
    ];
    for (flags, expected) in cases {
        let error = resolve(flags, &[]).expect_err("invalid");
        assert!(expected(&error), "{flags:?} gave {error:?}");
    }
    let joined = resolve(&["--join", "http://10.0.0.1:7000"], &[]).expect("valid join");
    assert!(matches!(joined.start, ClusterStart::Join { .. }));
}

#[test]
fn data_dir_of_another_cluster_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("node1");
    let data_dir = data.to_str().expect("utf-8");
    let mut first = resolve(&["--data-dir", data_dir, "--cluster-id", "alpha"], &[]).expect("ok");
    first.check_data_dir().expect("new directory is claimed");
    first.check_data_dir().expect("same cluster again");
    let mut other = resolve(&["--data-dir", data_dir, "--cluster-id", "beta"], &[]).expect("ok");
    let error = other.check_data_dir().expect_err("foreign");
    assert!(
        matches!(&error, ConfigError::ForeignDataDir { found, .. } if found == "alpha"),
        "{error:?}"
    );
}

#[test]
fn a_restart_without_cluster_id_takes_the_data_directorys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("node1");
    let data_dir = data.to_str().expect("utf-8");
    let mut first = resolve(&["--data-dir", data_dir, "--cluster-id", "alpha"], &[]).expect("ok");
    first.check_data_dir().expect("new directory is claimed");
    let mut restart = resolve(&["--data-dir", data_dir], &[]).expect("ok");
    assert_eq!(
        restart.cluster_id, "quorate",
        "the default before the check"
    );
    restart.check_data_dir().expect("the recorded id wins");
    assert_eq!(restart.cluster_id, "alpha");
}

#[test]
fn port_in_use_is_reported_with_the_listener() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = taken.local_addr().expect("address").to_string();
    let config = resolve(
        &["--listen-client", &address, "--listen-peer", "127.0.0.1:0"],
        &[],
    )
    .expect("valid");
    let error = config.check_ports().expect_err("in use");
    assert!(
        matches!(
            error,
            ConfigError::PortInUse {
                listener: Listener::Client,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn missing_tls_files_are_named() {
    let config = resolve(
        &[
            "--client-cert-file",
            "/nonexistent/c.pem",
            "--client-key-file",
            "/nonexistent/k.pem",
        ],
        &[],
    )
    .expect("valid");
    let error = config.check_tls_files().expect_err("missing");
    assert!(error.to_string().contains("/nonexistent/c.pem"), "{error}");
}

#[test]
fn wal_segment_size_is_a_setting_with_a_floor() {
    let config = resolve(&[], &[]).expect("defaults are valid");
    assert_eq!(config.wal_segment_bytes, quorate::WAL_SEGMENT_BYTES_DEFAULT);
    let config = resolve(&["--wal-segment-bytes", "2097152"], &[]).expect("2 MiB is valid");
    assert_eq!(config.wal_segment_bytes, 2 << 20);
    let config = resolve(&[], &[("QUORATE_WAL_SEGMENT_BYTES", "4194304")]).expect("from env");
    assert_eq!(config.wal_segment_bytes, 4 << 20);
    let error = resolve(&["--wal-segment-bytes", "4096"], &[]).expect_err("too small");
    assert!(
        matches!(
            error,
            ConfigError::TooSmall {
                field: "wal_segment_bytes",
                ..
            }
        ),
        "{error}"
    );
}
