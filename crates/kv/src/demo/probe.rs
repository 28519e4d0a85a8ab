//! Watching a local cluster through `GET /v1/cluster`: who leads, how long
//! an election takes, and when a restarted node has caught up.
//!
//! Every wait polls with a deadline; a node that does not answer is simply
//! asked again on the next round, since nodes come and go on purpose here.

use super::cluster::{ClusterError, LocalCluster};
use axum::http::Method;
use quorate_kv::api::ClusterStatus;
use quorate_kv::cli::{Client, ClientError, ClientRequest, RetryPolicy};
use std::time::Duration;
use tokio::time::Instant;

/// Pause between polling rounds: short next to an election timeout, so a
/// measured failover time is off by at most this much.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Limit on one status request, so a stopped node delays a round only
/// briefly.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

/// Why a wait ended without its condition.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("no leader was elected within {0:?}")]
    NoLeader(Duration),
    #[error("node {node_id} did not catch up within {waited:?} (applied {applied} of {target})")]
    CatchUp {
        node_id: u64,
        waited: Duration,
        applied: u64,
        target: u64,
    },
}

/// A leader as its own node reports it.
#[derive(Clone, Debug)]
pub struct LeaderSeen {
    pub status: ClusterStatus,
    /// When it was first seen.
    pub at: Instant,
}

impl LeaderSeen {
    pub fn leader_id(&self) -> u64 {
        self.status.node_id
    }
}

/// Asks one node for its view of the cluster, once.
pub async fn status(client_url: &str) -> Result<ClusterStatus, ClientError> {
    let policy = RetryPolicy {
        attempts_max: 1,
        redirects_max: 0,
        request_timeout: STATUS_TIMEOUT,
        ..RetryPolicy::default()
    };
    let client = Client::new(&[client_url.to_owned()], policy)?;
    let response = client
        .send(&ClientRequest::new(Method::GET, "/v1/cluster"))
        .await?;
    Ok(serde_json::from_slice(&response.body)?)
}

/// Waits until a running node other than `excluded` says it is the leader
/// in a term above `term_above`. Fails early if a node process died.
pub async fn wait_for_leader(
    cluster: &mut LocalCluster,
    excluded: Option<u64>,
    term_above: u64,
    timeout: Duration,
) -> Result<LeaderSeen, ProbeError> {
    let deadline = Instant::now() + timeout;
    loop {
        cluster.check_alive()?;
        for node in cluster.nodes() {
            if !node.is_running() || Some(node.node_id) == excluded {
                continue;
            }
            let Ok(status) = status(&node.client_url()).await else {
                continue;
            };
            if status.leader_id == Some(status.node_id) && status.term > term_above {
                return Ok(LeaderSeen {
                    status,
                    at: Instant::now(),
                });
            }
        }
        if Instant::now() >= deadline {
            return Err(ProbeError::NoLeader(timeout));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// How a restarted node caught up.
#[derive(Clone, Copy, Debug)]
pub struct CatchUp {
    /// The leader's commit index when the node first answered.
    pub target: u64,
    /// The node's applied index when it first answered.
    pub applied_first: u64,
    /// From the restart until applied reached `target`.
    pub elapsed: Duration,
}

/// Waits until node `node_id` has applied everything the leader had
/// committed when the node first answered after `restarted_at`.
/// `on_progress(applied, target)` is called on every answer.
pub async fn wait_caught_up(
    cluster: &mut LocalCluster,
    node_id: u64,
    restarted_at: Instant,
    timeout: Duration,
    mut on_progress: impl FnMut(u64, u64),
) -> Result<CatchUp, ProbeError> {
    let deadline = restarted_at + timeout;
    let node_url = cluster.node(node_id)?.client_url();
    let mut first: Option<(u64, u64)> = None;
    let mut applied = 0;
    loop {
        cluster.check_alive()?;
        if let Ok(node_status) = status(&node_url).await {
            applied = node_status.applied_index;
            if first.is_none() {
                first = leader_commit(cluster, node_id)
                    .await
                    .map(|target| (target, applied));
            }
            if let Some((target, applied_first)) = first {
                on_progress(applied, target);
                if applied >= target {
                    return Ok(CatchUp {
                        target,
                        applied_first,
                        elapsed: restarted_at.elapsed(),
                    });
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(ProbeError::CatchUp {
                node_id,
                waited: timeout,
                applied,
                target: first.map_or(0, |(target, _)| target),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The commit index of whichever other node says it leads, if any.
async fn leader_commit(cluster: &LocalCluster, excluded: u64) -> Option<u64> {
    for node in cluster.nodes() {
        if node.node_id == excluded || !node.is_running() {
            continue;
        }
        if let Ok(status) = status(&node.client_url()).await {
            if status.leader_id == Some(status.node_id) {
                return Some(status.commit_index);
            }
        }
    }
    None
}
