//! The background task of a serving node: keeps `/ready` current and
//! makes sure the member directory holds this node's addresses.
//!
//! Only the leader can propose, so the leader writes its own record
//! itself, and a follower sends its record to the leader over HTTP
//! (`POST /internal/v1/member-record`). Either way a record is proposed
//! only when missing or changed, and at most once per
//! [`PUBLISH_INTERVAL`], so a stable cluster writes nothing.

use super::machine::{MemberRecord, MEMBER_URL_BYTES_MAX};
use super::member_client::MemberClient;
use super::service::{resolve_peer, NodeService};
use crate::api::{BadRequest, Health, KvError, KvService};
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// How often the task looks at the group.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(100);
/// Least time between two attempts to publish this node's record.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);
/// The internal route a follower publishes its record through.
pub const MEMBER_RECORD_PATH: &str = "/internal/v1/member-record";

/// Body of [`MEMBER_RECORD_PATH`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRecordJson {
    pub id: u64,
    pub client_url: String,
    pub peer_addr: String,
    #[serde(default)]
    pub standby: bool,
}

/// What readiness is measured against: the commit index seen once a
/// leader was first known.
struct Readiness {
    commit_at_start: Option<u64>,
    caught_up: bool,
}

/// Runs until aborted.
pub async fn run(service: Arc<NodeService>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    let mut readiness = Readiness {
        commit_at_start: None,
        caught_up: false,
    };
    let mut last_publish: Option<Instant> = None;
    loop {
        tick.tick().await;
        let Ok(status) = service.group.status().await else {
            continue;
        };
        let health = readiness.update(&service, &status);
        *service
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = health;
        learn_peers(&service).await;
        if last_publish.is_some_and(|at| at.elapsed() < PUBLISH_INTERVAL) {
            continue;
        }
        if publish(&service, status.leader).await {
            last_publish = Some(Instant::now());
        }
    }
}

impl Readiness {
    fn update(&mut self, service: &NodeService, status: &quorate::GroupStatus) -> Health {
        let me = status.node;
        let conf = &status.conf_state;
        let member = conf.voters.contains(&me)
            || conf.learners.contains(&me)
            || conf.voters_outgoing.contains(&me);
        let not_ready = |reason: &str| Health {
            live: true,
            ready: false,
            reason: Some(reason.to_owned()),
        };
        if !member {
            return not_ready("not a member of the cluster yet");
        }
        if status.leader.is_none() {
            return not_ready("no leader known");
        }
        let target = *self
            .commit_at_start
            .get_or_insert(status.commit_index.get());
        if !self.caught_up {
            self.caught_up = service.group.applied_index().get() >= target;
        }
        if !self.caught_up {
            return not_ready("catching up with the log");
        }
        Health {
            live: true,
            ready: true,
            reason: None,
        }
    }
}

/// Hands replicated peer addresses of members this node has no address
/// for to the transport. A known address is never replaced from the
/// directory: the runtime's own log entries and the local book win.
async fn learn_peers(service: &NodeService) {
    let directory = service.directory().await;
    let me = service.identity.node_id;
    for (id, record) in directory {
        if id == me || record.peer_addr.is_empty() {
            continue;
        }
        let Ok(addr) = record.peer_addr.parse() else {
            continue;
        };
        let mut peers = service.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if let std::collections::btree_map::Entry::Vacant(slot) = peers.entry(id) {
            slot.insert(addr);
            service.transport.set_peer(quorate::NodeId::new(id), addr);
        }
    }
}

/// Makes sure the directory holds this node's record; true when it tried.
async fn publish(service: &NodeService, leader: Option<quorate::NodeId>) -> bool {
    let Some(leader) = leader else {
        return false;
    };
    let mine = service.identity.record();
    let directory = service.directory().await;
    let me = service.identity.node_id;
    // The leader may keep the peer address it already knows for this node
    // (see `member_record_route`), so only the rest must match.
    let current = directory.get(&me).is_some_and(|record| {
        record.client_url == mine.client_url
            && record.standby == mine.standby
            && !record.peer_addr.is_empty()
    });
    if current {
        return false;
    }
    if leader == service.group.node_id() {
        if let Err(error) = service.propose_record(me, &mine).await {
            tracing::debug!(%error, "publishing this node's record failed; will retry");
        }
        return true;
    }
    let Some(leader_url) = directory
        .get(&leader.get())
        .map(|record| record.client_url.clone())
        .filter(|url| !url.is_empty())
    else {
        return false;
    };
    if let Err(error) = send_record(&service.member_client, &leader_url, me, &mine).await {
        tracing::debug!(%error, %leader_url, "sending this node's record to the leader failed");
    }
    true
}

async fn send_record(
    client: &MemberClient,
    leader_url: &str,
    id: u64,
    record: &MemberRecord,
) -> Result<(), String> {
    let body = MemberRecordJson {
        id,
        client_url: record.client_url.clone(),
        peer_addr: record.peer_addr.clone(),
        standby: record.standby,
    };
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let answer = client
        .send(leader_url, Method::POST, MEMBER_RECORD_PATH, Some(body))
        .await?;
    if answer.status.is_success() {
        return Ok(());
    }
    Err(format!(
        "{}: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    ))
}

/// `POST /internal/v1/member-record` on the leader: proposes the record.
pub async fn member_record_route(State(service): State<Arc<NodeService>>, body: Bytes) -> Response {
    let result = async {
        let record: MemberRecordJson = serde_json::from_slice(&body)
            .map_err(|error| KvError::bad_request(BadRequest::Json, error.to_string()))?;
        if record.id == 0
            || record.client_url.len() > MEMBER_URL_BYTES_MAX
            || record.peer_addr.len() > MEMBER_URL_BYTES_MAX
        {
            return Err(KvError::bad_request(
                BadRequest::MemberUrls,
                "invalid record",
            ));
        }
        let addr = resolve_peer(&record.peer_addr).await?;
        // A record may fill in a member's client URL, not move a member the
        // cluster already reaches elsewhere (a node listening on 0.0.0.0
        // reports that, not the address its peers dial).
        let addr = service.peers_now().get(&record.id).copied().unwrap_or(addr);
        let value = MemberRecord {
            client_url: record.client_url,
            peer_addr: addr.to_string(),
            standby: record.standby,
        };
        service.propose_record(record.id, &value).await?;
        service.cluster_status().await
    }
    .await;
    match result {
        Ok(status) => Json(status).into_response(),
        Err(error) => (error.status(), Json(error.body())).into_response(),
    }
}
