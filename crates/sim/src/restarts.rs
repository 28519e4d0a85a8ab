//! Restart-shaped faults: a crash at every point of snapshot creation and
//! installation, a restarted lease voucher facing an immediate election
//! (thesis §6.4.1), and a whole-cluster power cut when the faults heal.

use crate::cluster::{Cluster, Event};
use crate::faults::{self, current_leader, Fault};
use crate::node::InstallCrash;
use crate::options::{ELECTION_TICKS, MS, TICK_PERIOD_US};
use quorate_core::NodeId;

/// True while crash faults may strike.
fn crashes_allowed(cluster: &Cluster) -> bool {
    cluster.options.faults.crash
        && cluster.now < cluster.options.fault_phase_us
        && cluster.figure8.is_none()
}

/// Compaction, sometimes interrupted by a crash: before the snapshot is
/// durable (it is lost) or right after the log was compacted.
pub fn compact(cluster: &mut Cluster, id: NodeId) {
    let threshold = cluster.compact_threshold;
    let strike = crashes_allowed(cluster) && cluster.chance(50);
    if strike && cluster.rng.bool() {
        faults::crash(cluster, id);
        return;
    }
    let compacted = cluster.node(id).maybe_compact(threshold);
    if strike && compacted {
        faults::crash(cluster, id);
    }
}

/// Before a Ready that installs a snapshot is made durable: sometimes
/// crash part way. Returns true if the node crashed.
pub fn maybe_crash_installing(cluster: &mut Cluster, id: NodeId) -> bool {
    if !crashes_allowed(cluster) || !cluster.nodes[&id].installs_snapshot() || !cluster.chance(250)
    {
        return false;
    }
    let point = if cluster.rng.bool() {
        InstallCrash::ImageWritten
    } else {
        InstallCrash::SnapshotRecorded
    };
    cluster.node(id).crash_installing_snapshot(point);
    faults::on_crashed(cluster, id);
    let down = cluster.rng.u64(MS..200 * MS);
    cluster.schedule(down, Event::Fault(Fault::Restart(id)));
    true
}

/// Cuts a largest minority of followers off from a leasing leader; once
/// their election timers have run out, [`voucher_strike`] restarts a
/// follower that vouched for the lease and campaigns at once.
pub fn lease_voucher_restart(cluster: &mut Cluster) {
    let Some(leader) = current_leader(cluster) else {
        return;
    };
    let raw = cluster.node(leader).raw();
    if !raw.lease_valid() {
        return;
    }
    let mut followers: Vec<NodeId> = raw
        .conf_state()
        .voters
        .iter()
        .copied()
        .filter(|&id| id != leader)
        .collect();
    if followers.len() < 2 {
        return;
    }
    cluster.rng.shuffle(&mut followers);
    let far_side = &followers[..followers.len() / 2];
    for &id in far_side {
        cluster.net.cut.extend([(leader, id), (id, leader)]);
    }
    let wait = (u64::from(ELECTION_TICKS) + 1) * TICK_PERIOD_US;
    cluster.schedule(wait, Event::Fault(Fault::LeaseVoucherStrike(far_side[0])));
    let heal = wait + cluster.rng.u64(100 * MS..300 * MS);
    cluster.schedule(heal, Event::Fault(Fault::HealNetwork));
}

/// Restarts a voucher of the lease and has a voter on the far side of the
/// cut (`candidate`, or another one there) campaign at once.
pub fn voucher_strike(cluster: &mut Cluster, candidate: NodeId) {
    let Some(leader) = current_leader(cluster) else {
        return;
    };
    let up = |c: &Cluster, id: NodeId| c.nodes[&id].is_up() && !c.is_paused(id);
    let voters = faults::leader_voters(cluster, leader);
    let voters = voters
        .into_iter()
        .filter(|&id| id != leader && up(cluster, id));
    let (far, near): (Vec<NodeId>, Vec<NodeId>) =
        voters.partition(|&id| cluster.net.cut.contains(&(leader, id)));
    let candidate = if far.contains(&candidate) {
        Some(candidate)
    } else {
        far.first().copied()
    };
    let (Some(candidate), Some(&voucher)) = (candidate, near.first()) else {
        return;
    };
    cluster.node(voucher).crash();
    faults::on_crashed(cluster, voucher);
    faults::restart(cluster, voucher);
    // The leader stops hearing the voucher too, so it does not learn of a
    // new term from it; its lease must simply run out.
    cluster.net.cut.insert((voucher, leader));
    cluster.node(candidate).raw().campaign();
    cluster.after_input(candidate);
}

/// A power cut as the faults heal: every node stops and starts together.
pub fn restart_everyone(cluster: &mut Cluster, ids: &[NodeId]) {
    for &id in ids {
        if cluster.nodes[&id].is_up() {
            cluster.node(id).crash();
            faults::on_crashed(cluster, id);
        }
    }
    for &id in ids {
        faults::restart(cluster, id);
    }
}
