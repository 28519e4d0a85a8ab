//! One simulated run from one seed, and its verdict.

use crate::cluster::Cluster;
use crate::faults::{current_leader, leave_explicit_joint};
use crate::linearizability::{self, CheckConfig, Verdict};
use crate::liveness::{Figures, Liveness};
use crate::options::{RunOptions, MS};
use quorate_core::NodeId;

/// Events one run may process before it is declared runaway.
const STEPS_MAX: u64 = 1_000_000;

/// What one seed produced.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    pub seed: u64,
    pub steps: u64,
    pub ops: u64,
    /// Messages the nodes refused (hostile or malformed).
    pub refused: u64,
    pub liveness: Figures,
    pub violations: Vec<String>,
    /// The command that replays this seed, flags included.
    pub replay: String,
}

/// Runs one seed to completion and checks it. Panics inside the protocol
/// (its own assertions) are caught by the caller.
pub fn run_seed(options: RunOptions) -> SeedReport {
    let seed = options.seed;
    let replay = options.replay_command();
    let heal_at = options.fault_phase_us;
    let end = heal_at + options.heal_phase_us;
    let mut cluster = Cluster::new(options);
    let mut next_check = heal_at + 800 * MS;
    let mut converged = Err(String::from("not checked"));
    while cluster.steps < STEPS_MAX {
        let target = next_check.min(end);
        if cluster.step_until(target) {
            continue;
        }
        leave_explicit_joint(&mut cluster);
        converged = converges(&cluster);
        if converged.is_ok() || cluster.now >= end {
            break;
        }
        next_check += 100 * MS;
    }
    let now = cluster.now;
    if cluster.options.trace {
        print_final_state(&cluster);
    }
    let figures = cluster.liveness.figures(now);
    if let Some(leader) = current_leader(&cluster) {
        let acked = std::mem::take(&mut cluster.clients.acked);
        cluster
            .checker
            .check_acked_writes(&cluster.nodes[&leader], &acked);
    }
    let mut violations = std::mem::take(&mut cluster.checker.violations);
    if cluster.steps >= STEPS_MAX {
        violations.push(format!("runaway: {STEPS_MAX} steps without finishing"));
    } else if let Err(why) = converged {
        violations.push(format!(
            "no convergence {} ms after healing: {why}",
            (end - heal_at) / MS
        ));
    }
    violations.extend(Liveness::verdict(&figures));
    match linearizability::check(&cluster.history, &CheckConfig::default()) {
        Verdict::Linearizable | Verdict::Unknown(_) => {}
        Verdict::NotLinearizable(violation) => {
            violations.push(format!("history is not linearizable:\n{violation}"))
        }
    }
    SeedReport {
        seed,
        steps: cluster.steps,
        ops: cluster.history.len() as u64,
        refused: cluster.refused,
        liveness: figures,
        violations,
        replay,
    }
}

/// Liveness and convergence: a leader exists, its configuration is not
/// joint, and every member of it is up and has applied exactly the
/// leader's committed log.
fn converges(cluster: &Cluster) -> Result<(), String> {
    let leader = current_leader(cluster).ok_or("no leader")?;
    let lead = &cluster.nodes[&leader];
    let raw = lead.raw.as_ref().ok_or("leader down")?;
    let commit = raw.commit_index();
    if raw.conf_state().is_joint() {
        return Err(format!(
            "leader {leader} is still in joint configuration {:?}",
            raw.conf_state()
        ));
    }
    if lead.kv_applied != commit {
        return Err(format!(
            "leader {leader} applied {} of {commit}",
            lead.kv_applied
        ));
    }
    let members: Vec<NodeId> = raw.conf_state().members().into_iter().collect();
    for id in members {
        let node = &cluster.nodes[&id];
        if !node.is_up() {
            return Err(format!("member {id} is down"));
        }
        if node.kv_applied != commit {
            return Err(format!(
                "member {id} applied {} of {commit}",
                node.kv_applied
            ));
        }
        if node.kv != lead.kv {
            return Err(format!("member {id} state differs from leader {leader}"));
        }
    }
    Ok(())
}

/// With `--trace`: every node's status at the end, for reading a failure.
fn print_final_state(cluster: &Cluster) {
    for node in cluster.nodes.values() {
        match node.raw.as_ref() {
            Some(raw) => println!(
                "final {}: applied {} {:?}",
                node.id,
                node.kv_applied,
                raw.status()
            ),
            None => println!("final {}: down", node.id),
        }
    }
}
