//! Building a [`GroupStatus`] from the core's status and the apply worker's
//! progress.

use crate::config::NodeConfig;
use crate::node::slot::GroupSlot;
use crate::status::{GroupStatus, PeerProgress};
use quorate_core::Role;

pub(crate) fn report(slot: &GroupSlot, config: &NodeConfig, disk_full: bool) -> GroupStatus {
    let status = slot.raw.status();
    let applied = *slot.shared.applied.borrow();
    let election_ticks = u64::from(config.election_ticks);
    let peers: Vec<PeerProgress> = status
        .peers
        .iter()
        .filter(|peer| peer.id != status.id)
        .map(|peer| PeerProgress {
            id: peer.id,
            match_index: peer.match_index,
            lag_entries: peer.match_index.distance_to(status.last_index),
            last_contact: config.tick_interval
                * u32::try_from(peer.last_contact_ticks).unwrap_or(u32::MAX),
            state: peer.state,
        })
        .collect();
    let voters = &status.conf_state.voters;
    let heard = voters
        .iter()
        .filter(|&&id| {
            id == status.id
                || status
                    .peers
                    .iter()
                    .any(|p| p.id == id && p.last_contact_ticks < election_ticks)
        })
        .count();
    let quorum_heard = heard * 2 > voters.len();
    GroupStatus {
        group: slot.id,
        node: status.id,
        role: status.role,
        term: status.term,
        leader: status.leader,
        commit_index: status.commit_index,
        applied_index: applied,
        last_index: status.last_index,
        first_index: status.first_index,
        conf_state: status.conf_state.clone(),
        peers,
        lease_valid: status.lease_valid,
        is_current: status.leader.is_some() && applied >= status.commit_index,
        is_healthy: status.leader.is_some()
            && (status.role != Role::Leader || quorum_heard)
            && !disk_full,
        disk_full,
    }
}
