//! Why `quorate serve` refuses to start, each with the next step.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where a setting came from, so an error can point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Env(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "flag --{flag}"),
            Origin::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// Which listener an address belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Peer,
    Client,
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Listener::Peer => "peer",
            Listener::Client => "client",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{origin}: invalid value {value:?} for {name}: {reason}")]
    InvalidValue {
        origin: Origin,
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot read config file {}: {source}", path.display())]
    FileUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {} is not valid: {message}", path.display())]
    FileInvalid { path: PathBuf, message: String },
    #[error("node id must be greater than zero")]
    ZeroNodeId,
    #[error("initial cluster entry {entry:?} is not ID=HOST:PORT (e.g. 1=127.0.0.1:7001)")]
    InitialClusterEntry { entry: String },
    #[error("node {node_id} appears twice in the initial cluster")]
    DuplicateMember { node_id: u64 },
    #[error("node {node_id} is not in the initial cluster; add it, or use --join to join a running cluster")]
    NotInInitialCluster { node_id: u64 },
    #[error("--join and --initial-cluster exclude each other: a new cluster is bootstrapped from --initial-cluster, a running one is joined with --join")]
    JoinAndInitialCluster,
    #[error("--join {url:?} must be a client URL such as http://10.0.0.1:7000")]
    JoinUrl { url: String },
    #[error("election timeout {election_ms} ms must be at least 2x the heartbeat interval {heartbeat_ms} ms (5-10x recommended)")]
    Timeouts { election_ms: u64, heartbeat_ms: u64 },
    #[error("{field} must be greater than zero")]
    Zero { field: &'static str },
    #[error("{field} must be at least {min}, got {value}")]
    TooSmall {
        field: &'static str,
        min: u64,
        value: u64,
    },
    #[error("{listener} TLS needs both a certificate and a key file")]
    TlsIncomplete { listener: Listener },
    #[error("cannot read {listener} TLS file {}: {source}", path.display())]
    TlsFileUnreadable {
        listener: Listener,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the peer and client listeners both use {address}; give them different ports")]
    SameAddress { address: SocketAddr },
    #[error("data directory {} belongs to cluster {found:?}, not {expected:?}; pick another --data-dir or the right --cluster-id", dir.display())]
    ForeignDataDir {
        dir: PathBuf,
        found: String,
        expected: String,
    },
    #[error("cannot use data directory {}: {source}", dir.display())]
    DataDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{listener} address {address} is already in use; stop the other process or pick another port")]
    PortInUse {
        listener: Listener,
        address: SocketAddr,
    },
    #[error("cannot listen on {listener} address {address}: {source}")]
    Listen {
        listener: Listener,
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("client URL {url:?} must be http(s)://HOST:PORT, e.g. http://10.0.0.1:7000")]
    ClientUrl { url: String },
    #[error("nodes {first} and {second} share peer address {address} in the initial cluster; give each its own")]
    SharedPeerAddress {
        address: String,
        first: u64,
        second: u64,
    },
    #[error("--listen-peer {listen_peer} is not node {node_id}'s initial cluster entry {entry}; make them the same")]
    ListenPeerMismatch {
        node_id: u64,
        listen_peer: SocketAddr,
        entry: String,
    },
}
