//! One simulated run from one seed, and its verdict.

use crate::cluster::Cluster;
use crate::faults::current_leader;
use crate::linearizability::{self, CheckConfig, Verdict};
use crate::options::{RunOptions, MS};
use quorate_core::NodeId;

/// Events one run may process before it is declared runaway.
const STEPS_MAX: u64 = 5_000_000;

/// What one seed produced.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    pub seed: u64,
    pub steps: u64,
    pub ops: u64,
    pub violations: Vec<String>,
}

/// Runs one seed to completion and checks it. Panics inside the protocol
/// (its own assertions) are caught by the caller.
pub fn run_seed(options: RunOptions) -> SeedReport {
    let seed = options.seed;
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
        converged = converges(&cluster);
        if converged.is_ok() || cluster.now >= end {
            break;
        }
        next_check += 100 * MS;
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
        violations,
    }
}

/// Liveness and convergence: a leader exists, and every member of its
/// configuration is up and has applied exactly the leader's committed log.
fn converges(cluster: &Cluster) -> Result<(), String> {
    let leader = current_leader(cluster).ok_or("no leader")?;
    let lead = &cluster.nodes[&leader];
    let raw = lead.raw.as_ref().ok_or("leader down")?;
    let commit = raw.commit_index();
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
