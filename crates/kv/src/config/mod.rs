//! Settings of `quorate serve`: command-line flags, `QUORATE_*`
//! environment variables and a TOML file, in that order of precedence
//! (a flag wins over the environment, which wins over the file), then
//! defaults. [`ServeConfig::resolve`] validates the result once; the
//! checks that touch the machine (TLS files, data directory, ports) are
//! in `checks`.

mod addresses;
mod checks;
mod error;
mod resolve;
mod security;

pub use addresses::{check_client_url, check_initial_cluster};
pub use checks::{bind_error, CLUSTER_ID_FILE};
pub use error::{ConfigError, Listener, Origin};
pub use security::{SecuritySettings, MAX_CLIENT_CONNECTIONS_DEFAULT};

use clap::Args;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub const LISTEN_PEER_DEFAULT: &str = "127.0.0.1:7001";
pub const LISTEN_CLIENT_DEFAULT: &str = "127.0.0.1:7000";
pub const CLUSTER_ID_DEFAULT: &str = "quorate";
/// Election timeout and heartbeat defaults follow the Raft paper's 150–300 ms
/// range: the election timeout is randomized in [1x, 2x) of this value.
pub const ELECTION_TIMEOUT_MS_DEFAULT: u64 = 150;
pub const HEARTBEAT_INTERVAL_MS_DEFAULT: u64 = 50;
/// Snapshot after this many applied entries since the last snapshot.
pub const SNAPSHOT_ENTRIES_DEFAULT: u64 = 10_000;
/// Smallest `--wal-segment-bytes`: room for entries of a quarter of it.
pub const WAL_SEGMENT_BYTES_MIN: u64 = 1 << 20;

/// The flags of `quorate serve`. Every field is optional so that unset
/// flags fall through to the environment, the file and the defaults.
#[derive(Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct ServeArgs {
    /// TOML config file; flags and QUORATE_* variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// This node's id, unique in the cluster, greater than zero [default: 1].
    #[arg(long)]
    pub node_id: Option<u64>,
    /// Where the log, snapshots and cluster id live [default: ./quorate-<node-id>.data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address peers connect to [default: 127.0.0.1:7001].
    #[arg(long, value_name = "HOST:PORT")]
    pub listen_peer: Option<SocketAddr>,
    /// Address of the HTTP client API [default: 127.0.0.1:7000].
    #[arg(long, value_name = "HOST:PORT")]
    pub listen_client: Option<SocketAddr>,
    /// Client URL other nodes redirect to [default: http://<listen-client>].
    #[arg(long, value_name = "URL")]
    pub advertise_client_url: Option<String>,
    /// Members of a new cluster: ID=HOST:PORT,... (peer addresses)
    /// [default: this node alone].
    #[arg(long, value_name = "ID=HOST:PORT,...")]
    pub initial_cluster: Option<String>,
    /// Name shared by all members; peers of another cluster are refused [default: quorate].
    #[arg(long)]
    pub cluster_id: Option<String>,
    /// `new` bootstraps a new cluster from --initial-cluster when the data
    /// directory is empty; `existing` says this member belongs to a running
    /// cluster (its disk was replaced or wiped): it starts empty, votes for
    /// no one and waits for the leader's snapshot instead [default: new].
    #[arg(long, value_name = "new|existing")]
    pub initial_cluster_state: Option<InitialClusterState>,
    /// Join a running cluster through a member's client URL, as a learner.
    #[arg(long, value_name = "CLIENT_URL")]
    pub join: Option<String>,
    /// This node's certificate (PEM) for TLS between peers.
    #[arg(long, value_name = "FILE")]
    pub peer_cert_file: Option<PathBuf>,
    /// Private key (PEM) of --peer-cert-file.
    #[arg(long, value_name = "FILE")]
    pub peer_key_file: Option<PathBuf>,
    /// CA that peer certificates must chain to (mutual TLS).
    #[arg(long, value_name = "FILE")]
    pub peer_ca_file: Option<PathBuf>,
    /// Server certificate (PEM) of the client API: serve HTTPS.
    #[arg(long, value_name = "FILE")]
    pub client_cert_file: Option<PathBuf>,
    /// Private key (PEM) of --client-cert-file.
    #[arg(long, value_name = "FILE")]
    pub client_key_file: Option<PathBuf>,
    /// CA that client certificates must chain to; none accepts any client.
    #[arg(long, value_name = "FILE")]
    pub client_ca_file: Option<PathBuf>,
    /// Base election timeout in milliseconds [default: 150].
    #[arg(long, value_name = "MS")]
    pub election_timeout_ms: Option<u64>,
    /// Leader heartbeat interval in milliseconds [default: 50].
    #[arg(long, value_name = "MS")]
    pub heartbeat_interval_ms: Option<u64>,
    /// Take a snapshot after this many applied entries [default: 10000].
    #[arg(long, value_name = "N")]
    pub snapshot_entries: Option<u64>,
    /// Size of each WAL segment file, preallocated whole (an empty node
    /// takes this much disk at once); at least 1 MiB, and the largest
    /// write is limited to a quarter of it [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    pub wal_segment_bytes: Option<u64>,
    /// Vote and count towards quorums but never campaign: a standby voter
    /// (e.g. in a far data center) that should not become leader.
    #[arg(long)]
    pub standby: bool,
    /// Client tokens with roles, one `ROLE sha256:HEX [NAME]` a line
    /// (docs/security.md); turns on client authentication [default: off].
    #[arg(long, value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Token this node sends when it asks the cluster to add it (--join)
    /// where the cluster checks tokens; needs the admin role.
    #[arg(long, value_name = "FILE")]
    pub join_token_file: Option<PathBuf>,
    /// Open client connections at most; more get 503 [default: 1024].
    #[arg(long, value_name = "N")]
    pub max_client_connections: Option<usize>,
    /// Paths answered without credentials when tokens are on,
    /// comma-separated; empty for none [default: /health,/ready,/metrics].
    #[arg(long, value_name = "PATH,...")]
    pub auth_open_paths: Option<String>,
}

/// The TOML file: the same names as the flags, with underscores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node_id: Option<u64>,
    data_dir: Option<PathBuf>,
    listen_peer: Option<SocketAddr>,
    listen_client: Option<SocketAddr>,
    advertise_client_url: Option<String>,
    initial_cluster: Option<String>,
    cluster_id: Option<String>,
    join: Option<String>,
    initial_cluster_state: Option<InitialClusterState>,
    peer_cert_file: Option<PathBuf>,
    peer_key_file: Option<PathBuf>,
    peer_ca_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    election_timeout_ms: Option<u64>,
    heartbeat_interval_ms: Option<u64>,
    snapshot_entries: Option<u64>,
    wal_segment_bytes: Option<u64>,
    standby: Option<bool>,
    auth_token_file: Option<PathBuf>,
    join_token_file: Option<PathBuf>,
    max_client_connections: Option<usize>,
    auth_open_paths: Option<String>,
}

/// Certificate, key and optional CA of one listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, the other side must present a certificate from this CA.
    pub ca: Option<PathBuf>,
}

/// How this node finds its cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterStart {
    /// Bootstrap a new cluster with these voters (id → peer address), or
    /// restart a member of one (the data directory then wins).
    Initial { members: BTreeMap<u64, String> },
    /// Ask the cluster at this client URL to add this node as a learner.
    Join { client_url: String },
}

/// What an empty data directory means for a member of `--initial-cluster`
/// (etcd's flag of the same name).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialClusterState {
    /// Bootstrap a new cluster.
    #[default]
    New,
    /// Rejoin a running cluster empty: never bootstrap again, which would
    /// make a voter with an empty log and a forgotten vote.
    Existing,
}

impl FromStr for InitialClusterState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "new" => Ok(InitialClusterState::New),
            "existing" => Ok(InitialClusterState::Existing),
            other => Err(format!("expected new or existing, got {other:?}")),
        }
    }
}

/// The validated settings of `quorate serve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeConfig {
    pub node_id: u64,
    pub data_dir: PathBuf,
    pub listen_peer: SocketAddr,
    pub listen_client: SocketAddr,
    pub advertise_client_url: String,
    pub cluster_id: String,
    /// Whether `cluster_id` was given (flag, environment or file). A
    /// defaulted one yields to the id recorded in the data directory, so a
    /// restart needs no `--cluster-id`.
    pub cluster_id_given: bool,
    pub start: ClusterStart,
    /// With `ClusterStart::Initial` and an empty data directory.
    pub initial_cluster_state: InitialClusterState,
    pub peer_tls: Option<TlsFiles>,
    pub client_tls: Option<TlsFiles>,
    pub election_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub snapshot_entries: u64,
    /// Size of each WAL segment file.
    pub wal_segment_bytes: u64,
    /// Never campaign (a standby voter).
    pub standby: bool,
    pub security: SecuritySettings,
}

/// Reads one setting from flag, environment and file, in that order.
struct Layers<'a> {
    args: &'a ServeArgs,
    env: &'a dyn Fn(&str) -> Option<String>,
    file: FileConfig,
}

impl Layers<'_> {
    /// The first of flag, `QUORATE_<NAME>` and file value that is set.
    fn pick<T: FromStr>(
        &self,
        name: &'static str,
        flag: Option<T>,
        file: Option<T>,
    ) -> Result<Option<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        if flag.is_some() {
            return Ok(flag);
        }
        let variable = format!("QUORATE_{}", name.to_ascii_uppercase());
        if let Some(value) = (self.env)(&variable) {
            return value
                .parse()
                .map(Some)
                .map_err(|error: T::Err| ConfigError::InvalidValue {
                    origin: Origin::Env(variable),
                    name,
                    reason: error.to_string(),
                    value,
                });
        }
        Ok(file)
    }
}

impl ServeConfig {
    /// Merges flags, the environment (read through `env`, e.g.
    /// `|name| std::env::var(name).ok()`) and the config file, then
    /// validates. Touches nothing on disk but the config file.
    pub fn resolve(
        args: &ServeArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ServeConfig, ConfigError> {
        let file_path = match &args.config {
            Some(path) => Some(path.clone()),
            None => env("QUORATE_CONFIG").map(PathBuf::from),
        };
        let file = match &file_path {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let layers = Layers { args, env, file };
        layers.resolve()
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::FileUnreadable {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|error| ConfigError::FileInvalid {
        path: path.to_owned(),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests;
