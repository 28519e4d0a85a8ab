//! Starting a serving node: checks, transport, node, group, join.

use super::machine::ReplicatedKv;
use super::member_client::MemberClient;
use super::peers::{self, PeersFileError};
use crate::api::ClusterStatus;
use crate::config::{ClusterStart, ConfigError, InitialClusterState, ServeConfig};
use crate::SessionsConfig;
use axum::http::Method;
use quorate::transport::{BindError, Inbound, TcpConfig, TcpTransport, TlsConfig, TlsConfigError};
use quorate::{Group, GroupError, GroupId, Node, NodeConfig, NodeId, StartError};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The one Raft group a `quorate serve` cluster runs.
pub const KV_GROUP: GroupId = GroupId::new(1);
/// Inbound peer batches queued for the driver; a full queue makes the
/// transport wait, which backs off the sending peers.
pub const INBOUND_QUEUE_MAX: usize = 4096;
/// The name every peer certificate carries as a subject alternative name;
/// node identity is checked by the quorate handshake, not the certificate.
pub const PEER_TLS_SERVER_NAME: &str = "quorate";
/// How long `--join` keeps asking the cluster to add this node.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why `quorate serve` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    PeersFile(#[from] PeersFileError),
    #[error("peer address {addr:?} of node {id} does not resolve; use HOST:PORT")]
    PeerAddress { id: u64, addr: String },
    #[error("peer TLS needs --peer-ca-file: peers must prove they belong to the cluster")]
    PeerCaMissing,
    #[error("cannot read TLS or token file {}: {source}", path.display())]
    TlsFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid peer TLS settings: {0}")]
    PeerTls(#[from] TlsConfigError),
    #[error("invalid client TLS settings: {detail}")]
    ClientTls { detail: String },
    #[error("cannot start the peer transport: {0}")]
    Transport(#[from] BindError),
    #[error("cannot start the node: {0}")]
    Start(#[from] StartError),
    #[error("cannot open the cluster state: {0}")]
    Group(#[from] GroupError),
    #[error("cannot join the cluster at {url}: {detail}")]
    Join { url: String, detail: String },
    #[error(transparent)]
    TokenFile(#[from] crate::api::TokenFileError),
    #[error("join token file {} is empty; put the admin token on its first line", path.display())]
    JoinToken { path: PathBuf },
    #[error("node {id} is already a member of the cluster at {url}; restart that member with its own --data-dir, or join with an unused --node-id")]
    AlreadyMember { id: u64, url: String },
    #[error("cannot start the Raft runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("the HTTP server failed: {0}")]
    Http(#[source] std::io::Error),
}

/// The node-wide 64-bit cluster id the WAL and the transport handshake
/// check: FNV-1a of the configured name, stable across builds.
pub fn cluster_id_hash(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The peer address book: from the data directory on restart, from
/// `--initial-cluster` on first start, or from the cluster being joined.
pub async fn peer_book(
    config: &ServeConfig,
    client: &MemberClient,
) -> Result<BTreeMap<u64, SocketAddr>, ServeError> {
    if let Some(book) = peers::load(&config.data_dir)? {
        return Ok(book);
    }
    let mut book = BTreeMap::new();
    match &config.start {
        ClusterStart::Initial { members } => {
            for (&id, addr) in members {
                book.insert(id, resolve(id, addr).await?);
            }
        }
        ClusterStart::Join { client_url } => {
            let status = fetch_status(client, client_url).await?;
            // A new data directory with a member's id would serve that
            // member's log from scratch: empty, stale, never ready.
            if status.members.iter().any(|m| m.id == config.node_id) {
                return Err(ServeError::AlreadyMember {
                    id: config.node_id,
                    url: client_url.clone(),
                });
            }
            for member in status.members {
                book.insert(member.id, resolve(member.id, &member.peer_url).await?);
            }
        }
    }
    // Peers dial the address the cluster knows; the listen address may be
    // a wildcard.
    book.entry(config.node_id).or_insert(config.listen_peer);
    peers::save(&config.data_dir, &book)?;
    Ok(book)
}

async fn resolve(id: u64, addr: &str) -> Result<SocketAddr, ServeError> {
    super::service::resolve_peer(addr)
        .await
        .map_err(|_| ServeError::PeerAddress {
            id,
            addr: addr.to_owned(),
        })
}

fn join_error(url: &str, detail: impl ToString) -> ServeError {
    ServeError::Join {
        url: url.to_owned(),
        detail: detail.to_string(),
    }
}

/// The cluster's status as the member at `client_url` sees it, retried
/// until [`JOIN_TIMEOUT`] while the cluster is unreachable or electing.
pub(crate) async fn fetch_status(
    client: &MemberClient,
    client_url: &str,
) -> Result<ClusterStatus, ServeError> {
    let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    loop {
        poll.tick().await;
        let error = match client
            .send(client_url, Method::GET, "/v1/cluster", None)
            .await
        {
            Ok(answer) if answer.status.is_success() => {
                return serde_json::from_slice(&answer.body)
                    .map_err(|error| join_error(client_url, error));
            }
            Ok(answer) if [401, 403].contains(&answer.status.as_u16()) => {
                let body = String::from_utf8_lossy(&answer.body);
                let hint = "the cluster checks client tokens: pass --join-token-file";
                return Err(join_error(
                    client_url,
                    format!("{}: {body}; {hint}", answer.status),
                ));
            }
            Ok(answer) => format!(
                "{}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ),
            Err(error) => error,
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(join_error(client_url, error));
        }
        tracing::warn!(%error, %client_url, left_s = left.as_secs(), "cannot reach the cluster to join; retrying");
    }
}

fn read_file(path: &PathBuf) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|source| ServeError::TlsFile {
        path: path.clone(),
        source,
    })
}

/// Binds the peer transport (mutual TLS when configured).
pub async fn start_transport(
    config: &ServeConfig,
    cluster_id: u64,
    peers: &BTreeMap<u64, SocketAddr>,
) -> Result<(Arc<TcpTransport>, mpsc::Receiver<Inbound>), ServeError> {
    let node = NodeId::new(config.node_id);
    let spool = config.data_dir.join("spool");
    let mut tcp = TcpConfig::new(node, cluster_id, config.listen_peer, spool);
    if let Some(files) = &config.peer_tls {
        let ca = files.ca.as_ref().ok_or(ServeError::PeerCaMissing)?;
        tcp.tls = Some(TlsConfig::from_pem(
            &read_file(&files.cert)?,
            &read_file(&files.key)?,
            &read_file(ca)?,
            PEER_TLS_SERVER_NAME,
        )?);
    }
    let (tx, rx) = mpsc::channel(INBOUND_QUEUE_MAX);
    let transport =
        TcpTransport::bind(tcp, tx)
            .await
            .map_err(|error| match error {
                BindError::Listen { addr, source } => ServeError::Config(
                    crate::config::bind_error(crate::config::Listener::Peer, addr, source),
                ),
                other => ServeError::Transport(other),
            })?;
    // Known peers at once, so that their first connections are not refused
    // while the node is still opening its log.
    for (&id, &addr) in peers {
        if id != config.node_id {
            quorate::transport::Transport::set_peer(&transport, NodeId::new(id), addr);
        }
    }
    Ok((Arc::new(transport), rx))
}

/// The runtime's settings from the server's.
pub fn node_config(
    config: &ServeConfig,
    cluster_id: u64,
    peers: &BTreeMap<u64, SocketAddr>,
) -> NodeConfig {
    let mut node = NodeConfig::new(NodeId::new(config.node_id), cluster_id, &config.data_dir);
    node.peers = peers
        .iter()
        .map(|(&id, &addr)| (NodeId::new(id), addr))
        .collect();
    let tick = node.tick_interval.as_millis().max(1);
    let ticks = |interval: Duration| {
        u32::try_from((interval.as_millis() / tick).max(1)).unwrap_or(u32::MAX)
    };
    node.election_ticks = ticks(config.election_timeout);
    node.heartbeat_ticks = ticks(config.heartbeat_interval);
    node.snapshot_policy.entries_since_last = config.snapshot_entries;
    node.wal_segment_bytes = config.wal_segment_bytes;
    // An entry must fit in one WAL batch (half a segment): small segments
    // lower the largest write accordingly.
    node.raft.proposal_bytes_max = node
        .raft
        .proposal_bytes_max
        .min(config.wal_segment_bytes / 4);
    node.raft.standby = config.standby;
    node
}

/// Opens the group: recovered from the data directory when it is there,
/// otherwise bootstrapped from the initial cluster or joined empty.
pub async fn open_group(
    node: &Node,
    config: &ServeConfig,
) -> Result<Group<ReplicatedKv>, ServeError> {
    let machine = ReplicatedKv::new(SessionsConfig::default());
    if node.groups_on_disk().contains(&KV_GROUP) {
        tracing::info!("recovering the cluster state from the data directory");
        return Ok(node.open_group(KV_GROUP, machine).await?);
    }
    match &config.start {
        ClusterStart::Initial { .. }
            if config.initial_cluster_state == InitialClusterState::Existing =>
        {
            tracing::warn!("empty data directory of an existing member: rejoining; this node votes for no one until the leader's snapshot arrives");
            Ok(node.join_group(KV_GROUP, machine).await?)
        }
        ClusterStart::Initial { members } => {
            let voters = members.keys().map(|&id| NodeId::new(id));
            tracing::info!(members = members.len(), "bootstrapping a new cluster");
            Ok(node.create_group(KV_GROUP, voters, machine).await?)
        }
        ClusterStart::Join { client_url } => {
            tracing::info!(%client_url, "joining a running cluster as a learner");
            Ok(node.join_group(KV_GROUP, machine).await?)
        }
    }
}

/// Asks the cluster at `client_url` to add this node as a learner, until
/// it lists this node as a member.
pub async fn request_join(
    config: &ServeConfig,
    client: &MemberClient,
    client_url: &str,
) -> Result<(), ServeError> {
    let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
    let body = serde_json::json!({
        "action": "add_learner",
        "id": config.node_id,
        "peer_url": config.listen_peer.to_string(),
        "client_url": config.advertise_client_url,
    });
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    loop {
        poll.tick().await;
        let status = fetch_status(client, client_url).await?;
        if status.members.iter().any(|m| m.id == config.node_id) {
            tracing::info!(
                node = config.node_id,
                "this node is a member of the cluster"
            );
            return Ok(());
        }
        let path = "/v1/cluster/members";
        let sent = client
            .send(
                client_url,
                Method::POST,
                path,
                Some(body.to_string().into_bytes()),
            )
            .await;
        let error = match sent {
            Ok(answer) if answer.status.is_success() => return Ok(()),
            // A refusal (409) or missing credentials (401, 403) will not
            // change by asking again.
            Ok(answer) if [401, 403, 409].contains(&answer.status.as_u16()) => {
                let body = String::from_utf8_lossy(&answer.body);
                return Err(join_error(client_url, format!("{}: {body}", answer.status)));
            }
            Ok(answer) => format!(
                "{}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ),
            Err(error) => error,
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(join_error(client_url, error));
        }
        tracing::warn!(%error, left_s = left.as_secs(), "the cluster did not add this node yet; retrying");
    }
}
