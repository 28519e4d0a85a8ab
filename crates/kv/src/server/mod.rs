//! `quorate serve`: one member of a replicated key-value cluster.
//!
//! - `machine`: the runtime's state machine over [`crate::KvStateMachine`],
//!   with the replicated member directory (client URLs, peer addresses).
//! - `service`: the client API's [`crate::api::KvService`] over a
//!   `quorate::Group`; `errors` maps runtime errors onto API errors;
//!   `status` builds `GET /v1/cluster`.
//! - `housekeeping`: readiness and publication of this node's addresses.
//! - `boot`, `peers`: start-up (checks, transport, node, group, join) and
//!   the local peer address book.
//! - `member_client`: HTTP(S) calls between members (join, publishing a
//!   member record), following redirects to the leader.
//! - `http`: the HTTP listener (plain or TLS) and the status page;
//!   `leader_history` records the leader changes the page lists.

mod boot;
mod errors;
mod housekeeping;
mod http;
mod leader_history;
mod listener;
mod machine;
mod member_client;
mod membership;
mod peers;
mod raft_runtime;
mod records;
mod service;
mod status;

pub use boot::{cluster_id_hash, ServeError, KV_GROUP, PEER_TLS_SERVER_NAME};
pub use listener::{ConnectionLimits, HEADER_READ_TIMEOUT, IDLE_TIMEOUT};
pub use machine::{Applied, MemberRecord, ReplicatedKv};
pub use service::{Identity, NodeService};

use crate::config::{ClusterStart, Listener, ServeConfig};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use raft_runtime::RaftSide;
use std::future::Future;
use std::sync::Arc;

/// Installs the Prometheus recorder as the process's global `metrics`
/// recorder, so the runtime's counters show at `/metrics`. `None` when a
/// recorder is already installed.
pub fn install_metrics() -> Option<PrometheusHandle> {
    match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => Some(handle),
        Err(error) => {
            tracing::warn!(%error, "metrics recorder not installed; /metrics stays empty");
            None
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown requested");
}

/// Runs one member until `shutdown` resolves, then stops the HTTP
/// server, the node (pending writes end "outcome unknown") and the
/// transport, in that order.
pub async fn serve(
    mut config: ServeConfig,
    metrics: Option<PrometheusHandle>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.check_tls_files()?;
    config.check_data_dir()?;
    config.check_ports()?;
    let client_tls = http::client_tls(&config)?;
    let auth = client_auth(&config)?;
    let cluster_id = cluster_id_hash(&config.cluster_id);
    let member_client = member_client::MemberClient::new(&config)?;
    let peers = boot::peer_book(&config, &member_client).await?;
    let listener = tokio::net::TcpListener::bind(config.listen_client)
        .await
        .map_err(|error| {
            crate::config::bind_error(Listener::Client, config.listen_client, error)
        })?;
    let raft = raft_runtime::RaftRuntime::new()?;
    let RaftSide {
        transport,
        node,
        group,
    } = raft.start(&config, cluster_id, &peers).await?;
    let identity = identity(&config, &peers);
    let service = Arc::new(NodeService::new(
        group,
        identity,
        transport.clone(),
        peers,
        metrics,
        member_client.clone(),
    ));
    let history = tokio::spawn(leader_history::run(Arc::clone(&service)));
    let housekeeping = tokio::spawn(housekeeping::run(Arc::clone(&service)));
    let joining = match &config.start {
        ClusterStart::Join { client_url } if !is_member(&service).await => {
            let (config, url) = (config.clone(), client_url.clone());
            Some(tokio::spawn(async move {
                boot::request_join(&config, &member_client, &url).await
            }))
        }
        _ => None,
    };
    tracing::info!(
        node = config.node_id,
        client = %config.listen_client,
        peer = %config.listen_peer,
        "serving"
    );
    let limits = ConnectionLimits {
        connections_max: config.security.max_client_connections,
        ..ConnectionLimits::default()
    };
    let app = http::app(Arc::clone(&service), auth);
    let served = http::serve(listener, client_tls, app, limits, shutdown, joining).await;
    housekeeping.abort();
    history.abort();
    drop(service);
    raft.stop(node, transport).await;
    served
}

/// The client token checker, when `--auth-token-file` is given.
fn client_auth(config: &ServeConfig) -> Result<Option<Arc<crate::api::Authenticator>>, ServeError> {
    let Some(path) = &config.security.auth_token_file else {
        tracing::info!("client authentication is off: every client may read, write and administer");
        return Ok(None);
    };
    let mut auth = crate::api::Authenticator::from_file(path)?;
    if let Some(paths) = &config.security.auth_open_paths {
        auth = auth.with_open_paths(paths.clone());
    }
    Ok(Some(Arc::new(auth)))
}

/// This node as the member directory records it: the peer address the
/// cluster dials (from the address book; the listen address may be a
/// wildcard) and the advertised client URL.
fn identity(
    config: &ServeConfig,
    peers: &std::collections::BTreeMap<u64, std::net::SocketAddr>,
) -> Identity {
    Identity {
        node_id: config.node_id,
        cluster_id: config.cluster_id.clone(),
        client_url: config.advertise_client_url.clone(),
        peer_addr: peers
            .get(&config.node_id)
            .copied()
            .unwrap_or(config.listen_peer)
            .to_string(),
        standby: config.standby,
    }
}

async fn is_member(service: &NodeService) -> bool {
    let Ok(status) = service.group.status().await else {
        return false;
    };
    let me = status.node;
    status.conf_state.voters.contains(&me) || status.conf_state.learners.contains(&me)
}
