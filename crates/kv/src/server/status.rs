//! `GET /v1/cluster`: the runtime's group status joined with the member
//! directory, so one answer names every member's role, addresses and
//! replication progress.

use super::errors::not_ready;
use super::machine::MemberRecord;
use super::service::NodeService;
use crate::api::{ClusterStatus, KvError, MemberRole, MemberStatus};
use quorate::{ConfState, GroupStatus, NodeId};
use std::collections::BTreeMap;
use std::net::SocketAddr;

pub(crate) async fn cluster_status(service: &NodeService) -> Result<ClusterStatus, KvError> {
    let status = service.group.status().await.map_err(|_| not_ready())?;
    let (directory, revision, applied) = service
        .group
        .read(quorate::Consistency::Stale, |sm| {
            (
                sm.members().clone(),
                sm.kv().store().revision(),
                sm.kv().applied_index(),
            )
        })
        .await
        .map_err(|_| not_ready())?;
    let peers = service.peers_now();
    let members = members(&status, &directory, &peers, &service.identity.peer_addr);
    Ok(ClusterStatus {
        cluster_id: service.identity.cluster_id.clone(),
        node_id: status.node.get(),
        leader_id: status.leader.map(NodeId::get),
        term: status.term.get(),
        commit_index: status.commit_index.get(),
        applied_index: applied,
        revision,
        members,
        leader_changes: service.leader_history.recent(),
    })
}

/// Every voter and learner, in id order.
fn members(
    status: &GroupStatus,
    directory: &BTreeMap<u64, MemberRecord>,
    peers: &BTreeMap<u64, SocketAddr>,
    own_peer_addr: &str,
) -> Vec<MemberStatus> {
    let roles = roles(&status.conf_state);
    roles
        .into_iter()
        .map(|(id, role)| {
            let record = directory.get(&id.get());
            let role = match (role, record) {
                (MemberRole::Voter, Some(record)) if record.standby => MemberRole::Standby,
                (role, _) => role,
            };
            let progress = status.peers.iter().find(|peer| peer.id == id);
            // The leader reports no progress for itself: it holds its whole log.
            let leads = id == status.node && status.role == quorate::Role::Leader;
            let peer_addr = match record {
                Some(record) if !record.peer_addr.is_empty() => record.peer_addr.clone(),
                _ if id == status.node => own_peer_addr.to_owned(),
                _ => peers
                    .get(&id.get())
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            };
            MemberStatus {
                id: id.get(),
                role,
                peer_url: peer_addr,
                client_url: record
                    .map(|record| record.client_url.clone())
                    .filter(|url| !url.is_empty()),
                is_leader: status.leader == Some(id),
                match_index: progress
                    .map(|p| p.match_index.get())
                    .or(leads.then_some(status.last_index.get())),
                lag_entries: progress.map(|p| p.lag_entries).or(leads.then_some(0)),
                // A member that never acknowledged an entry (match 0) was
                // never heard from: its contact time would only count
                // from this leader's start.
                last_contact_ms: progress
                    .filter(|p| p.match_index.get() > 0)
                    .map(|p| u64::try_from(p.last_contact.as_millis()).unwrap_or(u64::MAX))
                    .or(leads.then_some(0)),
            }
        })
        .collect()
}

/// Voters (incoming and outgoing) and learners (current and next).
fn roles(conf: &ConfState) -> BTreeMap<NodeId, MemberRole> {
    let mut roles = BTreeMap::new();
    for &id in conf.learners.iter().chain(&conf.learners_next) {
        roles.insert(id, MemberRole::Learner);
    }
    for &id in conf.voters.iter().chain(&conf.voters_outgoing) {
        roles.insert(id, MemberRole::Voter);
    }
    roles
}
