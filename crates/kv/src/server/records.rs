//! A follower's own member record (its client URL and standby flag),
//! sent to the leader over HTTP and checked there before it is proposed.
//!
//! The record is not routing data the leader takes on trust: it may only
//! describe a current member other than the leader (a leader writes its
//! own record itself, so no follower can redirect clients), it never
//! changes the peer address the cluster dials (the leader keeps the one
//! its membership holds), it must come from that member's host (the TCP
//! source address equals the host of the member's peer address), its
//! client URL must name that host too, and each member gets at most one
//! proposal per [`RECORD_INTERVAL`]. A process that can open connections
//! from a member's own host can still rewrite that member's client URL;
//! members on one shared host (a loopback test cluster) share that trust.

use super::errors::LeaderRedirect;
use super::machine::{MemberRecord, MEMBER_URL_BYTES_MAX};
use super::member_client::MemberClient;
use super::membership::is_member;
use super::service::NodeService;
use crate::api::{BadRequest, ClusterStatus, KvError, KvService, Refusal};
use axum::extract::{ConnectInfo, State};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The route a follower sends its record to on the leader.
pub const MEMBER_RECORD_PATH: &str = "/internal/v1/member-record";
/// Least time between two proposed records of one member.
pub const RECORD_INTERVAL: Duration = Duration::from_secs(1);

/// Body of [`MEMBER_RECORD_PATH`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRecordJson {
    pub id: u64,
    pub client_url: String,
    #[serde(default)]
    pub standby: bool,
}

/// Sends this follower's record to the leader at `leader_url`.
pub(crate) async fn send_record(
    client: &MemberClient,
    leader_url: &str,
    id: u64,
    record: &MemberRecord,
) -> Result<(), String> {
    let body = MemberRecordJson {
        id,
        client_url: record.client_url.clone(),
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

fn refused(detail: impl Into<String>) -> KvError {
    KvError::bad_request(BadRequest::MemberUrls, detail)
}

/// `POST /internal/v1/member-record` on the leader.
pub(crate) async fn member_record_route(
    State(service): State<Arc<NodeService>>,
    ConnectInfo(source): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let result = accept(&service, source.ip(), &body).await;
    match result {
        Ok(status) => Json(status).into_response(),
        Err(error) => (error.status(), Json(error.body())).into_response(),
    }
}

async fn accept(
    service: &NodeService,
    source: IpAddr,
    body: &[u8],
) -> Result<ClusterStatus, KvError> {
    let record: MemberRecordJson = serde_json::from_slice(body)
        .map_err(|error| KvError::bad_request(BadRequest::Json, error.to_string()))?;
    if !service.group.is_leader() {
        return Err(service.redirect().await.not_leader(None));
    }
    let status = service
        .group
        .status()
        .await
        .map_err(|_| refused("no status"))?;
    if record.id == status.node.get() || !is_member(&status.conf_state, record.id) {
        return Err(KvError::Refused {
            refusal: Refusal::NotAMember,
        });
    }
    let Some(peer_addr) = service.peers_now().get(&record.id).copied() else {
        return Err(refused("the member's peer address is not known here"));
    };
    let same_host =
        |ip: IpAddr| ip == peer_addr.ip() || (ip.is_loopback() && peer_addr.ip().is_loopback());
    if !same_host(source) {
        return Err(refused(format!(
            "a member's record must come from its own host {}",
            peer_addr.ip()
        )));
    }
    check_client_url(&record.client_url, same_host)?;
    let value = MemberRecord {
        client_url: record.client_url,
        peer_addr: peer_addr.to_string(),
        standby: record.standby,
    };
    if service.directory().await.get(&record.id) != Some(&value) && take_slot(service, record.id) {
        service.propose_record(record.id, &value).await?;
    }
    service.cluster_status().await
}

/// The client URL must be `http(s)://HOST:PORT` on the member's host.
fn check_client_url(url: &str, same_host: impl Fn(IpAddr) -> bool) -> Result<(), KvError> {
    if url.len() > MEMBER_URL_BYTES_MAX || crate::config::check_client_url(url).is_err() {
        return Err(refused("client_url must be http(s)://HOST:PORT"));
    }
    let host = url.parse::<Uri>().ok().and_then(|uri| {
        uri.host()
            .map(|host| host.trim_matches(['[', ']']).to_owned())
    });
    let on_host = host
        .and_then(|host| host.parse::<IpAddr>().ok())
        .is_some_and(same_host);
    if !on_host {
        return Err(refused(
            "client_url must name the member's own host by IP address",
        ));
    }
    Ok(())
}

/// Whether `id` may have a record proposed now; takes the slot if so.
fn take_slot(service: &NodeService, id: u64) -> bool {
    let mut last = service
        .record_slots
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    if last
        .get(&id)
        .is_some_and(|at| now.duration_since(*at) < RECORD_INTERVAL)
    {
        return false;
    }
    last.insert(id, now);
    true
}
