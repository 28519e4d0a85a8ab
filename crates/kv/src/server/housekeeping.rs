//! The background task of a serving node: keeps `/ready` current and
//! makes sure the member directory holds this node's addresses.
//!
//! A member record is routing data (clients are redirected to the
//! leader's client URL, peers dial recorded addresses), so only the
//! member it describes writes it: a leader proposes its own record, a
//! follower sends its own to the leader, which checks it before it
//! proposes it (`records`); an admin's `add_learner` records a new
//! member. A record is sent only when missing or changed, at most once
//! per [`PUBLISH_INTERVAL`], so a stable cluster writes nothing.

use super::records::send_record;
use super::service::NodeService;
use crate::api::Health;
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// How often the task looks at the group.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(100);
/// Least time between two attempts to publish this node's record.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);
/// What readiness is measured against: the commit index seen once a
/// leader was first known.
struct Readiness {
    commit_at_start: Option<u64>,
    caught_up: bool,
    /// This node was seen in the configuration: leaving it means removal.
    was_member: bool,
}

/// Runs until aborted.
pub async fn run(service: Arc<NodeService>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    let mut readiness = Readiness {
        commit_at_start: None,
        caught_up: false,
        was_member: false,
    };
    let mut last_publish: Option<Instant> = None;
    // Seen in the configuration since start: leaving it means removal.
    let mut seen_member = false;
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
        learn_peers(&service, &status.conf_state).await;
        let member = super::membership::is_member(&status.conf_state, status.node.get());
        seen_member |= member;
        service
            .removed
            .store(seen_member && !member, std::sync::atomic::Ordering::Relaxed);
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
        if !member && self.was_member {
            return not_ready("removed from the cluster; this node serves no more requests");
        }
        if !member {
            return not_ready("not a member of the cluster (not added yet, or removed)");
        }
        self.was_member = true;
        if status.disk_full {
            return not_ready(
                "disk_full: the data directory's disk is full; this node acknowledges no writes until space is freed, then resumes by itself",
            );
        }
        if status.leader.is_none() {
            // A removed member is not told so: it only stops hearing
            // from the leader.
            return not_ready(
                "no leader known: an election is under way, a quorum is unreachable, or this node was removed from the cluster",
            );
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

/// Hands replicated peer addresses of current members this node has no
/// address for to the transport (a record of a failed or removed member
/// is never dialed). A known address is never replaced from the
/// directory: the runtime's own log entries and the local book win.
async fn learn_peers(service: &NodeService, conf: &quorate::ConfState) {
    let directory = service.directory().await;
    let me = service.identity.node_id;
    for (id, record) in directory {
        if id == me || record.peer_addr.is_empty() || !super::membership::is_member(conf, id) {
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
/// A leader proposes its own; a follower sends its own to the leader,
/// which checks it (see `records`).
async fn publish(service: &NodeService, leader: Option<quorate::NodeId>) -> bool {
    let Some(leader) = leader else {
        return false;
    };
    let mine = service.identity.record();
    let me = service.identity.node_id;
    let directory = service.directory().await;
    if leader == service.group.node_id() {
        if directory.get(&me) == Some(&mine) {
            return false;
        }
        if let Err(error) = service.propose_record(me, &mine).await {
            tracing::debug!(%error, "publishing this node's record failed; will retry");
        }
        return true;
    }
    // The leader keeps the peer address it dials, so only the rest counts.
    let current = directory.get(&me).is_some_and(|record| {
        record.client_url == mine.client_url && record.standby == mine.standby
    });
    let leader_url = directory
        .get(&leader.get())
        .map(|record| record.client_url.clone())
        .filter(|url| !url.is_empty());
    let (false, Some(leader_url)) = (current, leader_url) else {
        return false;
    };
    let sent = send_record(&service.member_client, &leader_url, me, &mine).await;
    if let Err(error) = sent {
        tracing::debug!(%error, %leader_url, "sending this node's record to the leader failed");
    }
    true
}
