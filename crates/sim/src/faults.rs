//! Fault injection: a random plan of network, crash, pause, slow-node,
//! clock-jump, membership and leadership-transfer events during the fault
//! phase, then a full heal. Restart-shaped faults live in
//! [`crate::restarts`]; the scripted Figure 8 nemesis in [`crate::figure8`].

use crate::cluster::{Cluster, Event};
use crate::options::MS;
use quorate_core::{ConfChange, ConfChangeOp, ConfChangeTransition, NodeId, Role};

#[derive(Clone, Debug)]
pub enum Fault {
    /// Cut the given directed links.
    Partition(Vec<(NodeId, NodeId)>),
    /// Restore every link.
    HealNetwork,
    /// Change drop / duplicate / delay rates (per mille).
    Weather(u32, u32, u32),
    Crash(NodeId),
    Restart(NodeId),
    Pause(NodeId, u64),
    Resume(NodeId),
    Slow(NodeId),
    Membership,
    Transfer,
    /// Cut the current leader off from its followers (clients still reach
    /// it, so a stale leader keeps being asked).
    IsolateLeader,
    /// The node's clock jumps forward (ticks at once) or back (its next
    /// ticks do not come), by at most the lease's spare drift allowance.
    ClockJump(NodeId, i64),
    /// Crash-restart a follower that vouched for the leader's lease, then
    /// campaign at once from the far side of a partition.
    LeaseVoucherRestart,
    /// The second half of [`Fault::LeaseVoucherRestart`].
    LeaseVoucherStrike(NodeId),
    /// A joint configuration entered with auto-leave, then a leader change
    /// before it is left; nothing but the new leader leaves it.
    JointLeaderChange,
    /// One poll of the scripted Figure 8 nemesis.
    Figure8Step,
    /// End of the fault phase: heal everything, restart everyone.
    HealAll,
}

pub fn schedule_plan(cluster: &mut Cluster) {
    let faults = cluster.options.faults;
    let phase = cluster.options.fault_phase_us;
    if cluster.figure8.is_some() {
        crate::figure8::schedule(cluster);
    } else if faults.any() {
        let count = cluster.rng.u64(10..40);
        for _ in 0..count {
            let at = cluster.rng.u64(150 * MS..phase);
            if let Some(fault) = pick(cluster) {
                cluster.schedule(at, Event::Fault(fault));
            }
        }
    }
    cluster.schedule(phase, Event::Fault(Fault::HealAll));
}

fn random_node(cluster: &mut Cluster) -> NodeId {
    NodeId::new(cluster.rng.u64(1..=cluster.options.nodes + 1))
}

fn pick(cluster: &mut Cluster) -> Option<Fault> {
    let faults = cluster.options.faults;
    let mut menu: Vec<u8> = Vec::new();
    if faults.network {
        menu.extend([0, 0, 1, 7, 7, 7, 7]);
    }
    if faults.crash {
        menu.extend([2, 2, 3, 4, 9, 9]);
    }
    if faults.membership {
        menu.extend([5, 5, 6, 10]);
    }
    if faults.clock && cluster.clock_slack_ticks > 1 {
        menu.extend([8, 8]);
    }
    if menu.is_empty() {
        return None;
    }
    let node = random_node(cluster);
    let fault = match menu[cluster.rng.usize(0..menu.len())] {
        0 => Fault::Partition(partition(cluster)),
        1 => Fault::Weather(
            cluster.rng.u32(0..150),
            cluster.rng.u32(0..100),
            cluster.rng.u32(0..300),
        ),
        2 => Fault::Crash(node),
        3 => Fault::Pause(node, cluster.rng.u64(50 * MS..500 * MS)),
        4 => Fault::Slow(node),
        5 => Fault::Membership,
        6 => Fault::Transfer,
        8 => {
            let size = cluster.rng.u64(1..=cluster.clock_slack_ticks / 2) as i64;
            Fault::ClockJump(node, if cluster.rng.bool() { size } else { -size })
        }
        9 => Fault::LeaseVoucherRestart,
        10 => Fault::JointLeaderChange,
        _ => Fault::IsolateLeader,
    };
    Some(fault)
}

/// One of: isolate a node, split into two sides, cut links one way, or
/// cut one node from some of the others only (a partial partition).
fn partition(cluster: &mut Cluster) -> Vec<(NodeId, NodeId)> {
    let ids: Vec<NodeId> = cluster.nodes.keys().copied().collect();
    let mut side: Vec<bool> = ids.iter().map(|_| cluster.rng.bool()).collect();
    let shape = cluster.rng.u32(0..4);
    if shape == 3 {
        return partial_partition(cluster, &ids);
    }
    if shape == 0 {
        let lone = cluster.rng.usize(0..ids.len());
        side = (0..ids.len()).map(|k| k == lone).collect();
    }
    let mut links = Vec::new();
    for (a, &x) in ids.iter().enumerate() {
        for (b, &y) in ids.iter().enumerate() {
            if a != b && side[a] && !side[b] {
                links.push((x, y));
                if shape != 2 {
                    links.push((y, x));
                }
            }
        }
    }
    links
}

/// One node loses its links to some, not all, of the others: it still
/// hears a quorum's members that cannot hear the leader, the shape that
/// makes terms grow without pre-vote and check-quorum.
fn partial_partition(cluster: &mut Cluster, ids: &[NodeId]) -> Vec<(NodeId, NodeId)> {
    let lone = ids[cluster.rng.usize(0..ids.len())];
    let mut links = Vec::new();
    for &other in ids.iter().filter(|&&o| o != lone) {
        if cluster.rng.bool() {
            links.extend([(lone, other), (other, lone)]);
        }
    }
    if links.len() + 2 < 2 * (ids.len() - 1) && !links.is_empty() {
        cluster.liveness.on_partial_partition();
    }
    links
}

pub fn apply(cluster: &mut Cluster, fault: Fault) {
    match fault {
        Fault::Partition(links) => {
            cluster.net.cut.extend(links);
            let heal = cluster.rng.u64(50 * MS..600 * MS);
            cluster.schedule(heal, Event::Fault(Fault::HealNetwork));
        }
        Fault::HealNetwork => {
            cluster.net.cut.clear();
            cluster.liveness.on_partition_healed();
        }
        Fault::Weather(drop, duplicate, delay) => {
            cluster.net.drop_per_mille = drop;
            cluster.net.duplicate_per_mille = duplicate;
            cluster.net.delay_per_mille = delay;
        }
        Fault::Crash(id) => crash(cluster, id),
        Fault::Restart(id) => restart(cluster, id),
        Fault::Pause(id, us) => {
            if !cluster.is_paused(id) {
                cluster.paused_until.insert(id, cluster.now + us);
                cluster.schedule(us, Event::Fault(Fault::Resume(id)));
            }
        }
        // Only the pause that scheduled this resume (healing may have
        // resumed the node already).
        Fault::Resume(id) => {
            if cluster.paused_until.get(&id) == Some(&cluster.now) {
                cluster.resume(id);
            }
        }
        Fault::Slow(id) => {
            if !cluster.slow.remove(&id) {
                cluster.slow.insert(id);
            }
        }
        Fault::Membership => change_membership(cluster),
        Fault::Transfer => transfer(cluster),
        Fault::ClockJump(id, ticks) => clock_jump(cluster, id, ticks),
        Fault::LeaseVoucherRestart => crate::restarts::lease_voucher_restart(cluster),
        Fault::LeaseVoucherStrike(candidate) => crate::restarts::voucher_strike(cluster, candidate),
        Fault::JointLeaderChange => joint_leader_change(cluster),
        Fault::Figure8Step => crate::figure8::step(cluster),
        Fault::HealAll => heal_all(cluster),
        Fault::IsolateLeader => {
            if let Some(leader) = current_leader(cluster) {
                let links = isolate(cluster, leader);
                apply(cluster, Fault::Partition(links));
            }
        }
    }
}

pub fn crash(cluster: &mut Cluster, id: NodeId) {
    if !cluster.nodes[&id].is_up() {
        return;
    }
    cluster.node(id).crash();
    on_crashed(cluster, id);
    let down = cluster.rng.u64(10 * MS..400 * MS);
    cluster.schedule(down, Event::Fault(Fault::Restart(id)));
}

/// Bookkeeping after `id` went down by any crash.
pub fn on_crashed(cluster: &mut Cluster, id: NodeId) {
    let now = cluster.now;
    cluster.liveness.on_down(now, id);
    // A crashed process is no longer paused; its clock restarts with it.
    cluster.paused_until.remove(&id);
    cluster.missed_ticks.remove(&id);
    crate::clients::on_crash(cluster, id);
}

pub fn restart(cluster: &mut Cluster, id: NodeId) {
    if cluster.nodes[&id].is_up() {
        return;
    }
    cluster.node(id).restart();
    crate::hostile::replay_read_answers(cluster, id);
    cluster.after_input(id);
}

/// A clock jump within the lease's spare allowance: forward runs the
/// ticks at once, back swallows the next ones. One jump per node per two
/// election timeouts, so jumps never add up past the allowance.
fn clock_jump(cluster: &mut Cluster, id: NodeId, ticks: i64) {
    let cooldown = 2 * u64::from(crate::options::ELECTION_TICKS) * crate::options::TICK_PERIOD_US;
    let last = cluster.last_clock_jump.get(&id).copied();
    if last.is_some_and(|t| t + cooldown > cluster.now) || !cluster.nodes[&id].is_up() {
        return;
    }
    cluster.last_clock_jump.insert(id, cluster.now);
    if ticks < 0 {
        cluster.swallowed_ticks.insert(id, ticks.unsigned_abs());
        return;
    }
    if cluster.is_paused(id) {
        return;
    }
    for _ in 0..ticks {
        cluster.node(id).raw().tick();
    }
    cluster.after_input(id);
}

/// Crashes land where they hurt most: sometimes between a Ready being
/// handed out and its fsync completing.
pub fn maybe_crash_in_fsync_window(cluster: &mut Cluster, id: NodeId) {
    if !cluster.options.faults.crash
        || cluster.now >= cluster.options.fault_phase_us
        || cluster.figure8.is_some()
    {
        return;
    }
    if cluster.chance(3) {
        crash(cluster, id);
    }
}

/// The nemesis picks on fresh leaders: crashing or isolating one before its
/// first entries spread is what builds Figure 8's logs.
pub fn on_new_leader(cluster: &mut Cluster, id: NodeId) {
    if cluster.now >= cluster.options.fault_phase_us
        || cluster.figure8.is_some()
        || !cluster.chance(cluster.nemesis_per_mille)
    {
        return;
    }
    strike(cluster, id, 4 * MS);
}

/// The nemesis also strikes right after a leader commits, before the news
/// (and its next entries) spread: the moment Figure 8 is about.
pub fn on_leader_commit(cluster: &mut Cluster, id: NodeId) {
    if cluster.now >= cluster.options.fault_phase_us
        || cluster.figure8.is_some()
        || !cluster.chance(cluster.nemesis_per_mille / 8)
    {
        return;
    }
    strike(cluster, id, 1_500);
}

/// Crashes or isolates `id` within `within_us`.
fn strike(cluster: &mut Cluster, id: NodeId, within_us: u64) {
    let faults = cluster.options.faults;
    let delay = cluster.rng.u64(0..within_us);
    if faults.crash && (!faults.network || cluster.rng.bool()) {
        cluster.schedule(delay, Event::Fault(Fault::Crash(id)));
    } else if faults.network {
        cluster.schedule(delay, Event::Fault(Fault::Partition(isolate(cluster, id))));
    }
}

/// Links that cut `id` off from every other node (clients still reach it).
fn isolate(cluster: &Cluster, id: NodeId) -> Vec<(NodeId, NodeId)> {
    let others: Vec<NodeId> = cluster.nodes.keys().copied().filter(|&o| o != id).collect();
    others
        .into_iter()
        .flat_map(|o| [(id, o), (o, id)])
        .collect()
}

fn heal_all(cluster: &mut Cluster) {
    cluster.net = Default::default();
    cluster.slow.clear();
    cluster.figure8 = None;
    let ids: Vec<NodeId> = cluster.nodes.keys().copied().collect();
    for &id in &ids {
        if cluster.paused_until.contains_key(&id) {
            cluster.resume(id);
        }
        restart(cluster, id);
    }
    if cluster.options.faults.crash && cluster.full_restart_at_heal {
        crate::restarts::restart_everyone(cluster, &ids);
    }
    let now = cluster.now;
    cluster.liveness.on_heal(now);
}

/// The operator's part of an explicit joint change: once the faults are
/// healed, ask the leader to leave the joint configuration.
pub fn leave_explicit_joint(cluster: &mut Cluster) {
    let Some(leader) = current_leader(cluster) else {
        return;
    };
    let conf = cluster.node(leader).raw().conf_state().clone();
    if conf.is_joint() && !conf.auto_leave {
        let _ = cluster
            .node(leader)
            .raw()
            .propose_conf_change(&ConfChange::leave_joint());
        cluster.after_input(leader);
    }
}

/// Enters a joint configuration with auto-leave, then changes leader
/// before the leader can leave it: the next leader must leave it alone.
fn joint_leader_change(cluster: &mut Cluster) {
    let Some(leader) = current_leader(cluster) else {
        return;
    };
    let conf = cluster.node(leader).raw().conf_state().clone();
    let outsider = cluster.nodes.keys().copied().find(|&id| !conf.is_voter(id));
    let (Some(newcomer), false) = (outsider, conf.is_joint()) else {
        return;
    };
    let voters: Vec<NodeId> = conf.voters.iter().copied().collect();
    let victim = voters[cluster.rng.usize(0..voters.len())];
    let change = ConfChange {
        ops: vec![
            ConfChangeOp::AddVoter(newcomer),
            ConfChangeOp::Remove(victim),
        ],
        transition: ConfChangeTransition::Auto,
    };
    if cluster
        .node(leader)
        .raw()
        .propose_conf_change(&change)
        .is_err()
    {
        return;
    }
    cluster.after_input(leader);
    let delay = cluster.rng.u64(2 * MS..20 * MS);
    let strike = if cluster.rng.bool() {
        Fault::Crash(leader)
    } else {
        Fault::IsolateLeader
    };
    cluster.schedule(delay, Event::Fault(strike));
}

/// The up node that leads the highest term, if any.
pub fn current_leader(cluster: &Cluster) -> Option<NodeId> {
    cluster
        .nodes
        .values()
        .filter_map(|n| n.raw.as_ref().map(|r| (n.id, r)))
        .filter(|(_, r)| r.role() == Role::Leader)
        .max_by_key(|(_, r)| r.term())
        .map(|(id, _)| id)
}

/// The voters of `leader`'s configuration (its incoming half when joint).
pub fn leader_voters(cluster: &mut Cluster, leader: NodeId) -> Vec<NodeId> {
    let raw = cluster.node(leader).raw();
    raw.conf_state().voters.iter().copied().collect()
}

fn change_membership(cluster: &mut Cluster) {
    let Some(leader) = current_leader(cluster) else {
        return;
    };
    if cluster.is_paused(leader) {
        return;
    }
    let conf = cluster.node(leader).raw().conf_state().clone();
    let all: Vec<NodeId> = cluster.nodes.keys().copied().collect();
    let outsiders: Vec<NodeId> = all
        .iter()
        .copied()
        .filter(|id| !conf.contains(*id))
        .collect();
    let learners: Vec<NodeId> = conf.learners.iter().copied().collect();
    let voters: Vec<NodeId> = conf.voters.iter().copied().collect();
    let nominal = cluster.options.nodes as usize;
    let change = if conf.is_joint() {
        if conf.auto_leave {
            // Leaving is the leader's job alone.
            return;
        }
        ConfChange::leave_joint()
    } else if let (Some(&learner), true) = (learners.first(), cluster.rng.bool()) {
        if voters.len() >= nominal && cluster.rng.bool() {
            let victim = voters[cluster.rng.usize(0..voters.len())];
            let transition = if cluster.rng.bool() {
                ConfChangeTransition::Auto
            } else {
                ConfChangeTransition::JointExplicit
            };
            ConfChange {
                ops: vec![
                    ConfChangeOp::AddVoter(learner),
                    ConfChangeOp::Remove(victim),
                ],
                transition,
            }
        } else {
            ConfChange::single(ConfChangeOp::AddVoter(learner))
        }
    } else if let (Some(&outsider), true) = (outsiders.first(), cluster.rng.bool()) {
        ConfChange::single(ConfChangeOp::AddLearner(outsider))
    } else if voters.len() > nominal.saturating_sub(1).max(1) {
        let victim = voters[cluster.rng.usize(0..voters.len())];
        ConfChange::single(ConfChangeOp::Remove(victim))
    } else {
        return;
    };
    let _ = cluster.node(leader).raw().propose_conf_change(&change);
    cluster.after_input(leader);
}

fn transfer(cluster: &mut Cluster) {
    let Some(leader) = current_leader(cluster) else {
        return;
    };
    if cluster.is_paused(leader) {
        return;
    }
    let voters = leader_voters(cluster, leader);
    let target = voters[cluster.rng.usize(0..voters.len())];
    let _ = cluster.node(leader).raw().transfer_leadership(target);
    cluster.after_input(leader);
}
