//! The scripted Figure 8 nemesis (§5.4.2): in some seeds it builds the
//! sequence that only the "commit only current-term entries" rule stops.
//!
//! 1. The leader A of term T appends an entry at index i and is cut off
//!    before anyone else has it (leader messages are held cluster-wide).
//! 2. The others elect a rival B in a later term; B appends its own entry
//!    at i, makes it durable, and is cut off before it spreads.
//! 3. A comes back, wins a later term, and replicates its term-T entry at
//!    i to a majority, but nothing after it. A correct A cannot commit it;
//!    with the planted `commit-prev-term` bug, A commits and applies it.
//! 4. A is cut off and B returns: B's log is more up to date than the
//!    majority's, so B wins and overwrites i, applying a different entry
//!    at i than A applied (state machine safety, §5.4.3).
//!
//! The script runs alone: in its seeds no random faults are planned.

use crate::cluster::{Cluster, Event};
use crate::faults::{current_leader, Fault};
use crate::options::{RunOptions, MS};
use bytes::Bytes;
use quorate_core::{Index, LogStore, Message, MessageBody, NodeId, Role, Term};

/// How long a step may wait for the cluster before the script gives up.
const STEP_TIMEOUT_US: u64 = 900 * MS;
/// How often the script looks at the cluster.
const POLL_US: u64 = 2 * MS;

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Waiting for a leader whose whole log is committed everywhere.
    Waiting,
    /// Step 1: A is cut off holding `index`; leader messages are held.
    Isolated {
        old: NodeId,
        term: Term,
        index: Index,
    },
    /// Step 3: B is cut off; A is back and may send entries up to `index`.
    Rejoined {
        old: NodeId,
        index: Index,
        rival: NodeId,
        rival_term: Term,
    },
    Done,
}

#[derive(Clone, Debug)]
pub struct Figure8 {
    phase: Phase,
    /// When the current step began.
    since: u64,
}

impl Figure8 {
    /// The script for a quarter of the seeds that allow crashes and
    /// partitions.
    pub fn maybe_new(rng: &mut fastrand::Rng, options: &RunOptions) -> Option<Figure8> {
        let allowed = options.faults.network && options.faults.crash && options.nodes >= 3;
        (allowed && rng.u32(0..4) == 0).then_some(Figure8 {
            phase: Phase::Waiting,
            since: 0,
        })
    }
}

/// Starts the script's polling.
pub fn schedule(cluster: &mut Cluster) {
    cluster.schedule(300 * MS, Event::Fault(Fault::Figure8Step));
}

/// One poll: moves the script on when the cluster is ready for it.
pub fn step(cluster: &mut Cluster) {
    let Some(script) = cluster.figure8.clone() else {
        return;
    };
    if matches!(script.phase, Phase::Done) {
        return;
    }
    let timed_out =
        !matches!(script.phase, Phase::Waiting) && cluster.now > script.since + STEP_TIMEOUT_US;
    let next = if timed_out {
        cluster.net.cut.clear();
        Some(Phase::Done)
    } else {
        match script.phase {
            Phase::Waiting => isolate_old_leader(cluster),
            Phase::Isolated { old, term, index } => cut_rival(cluster, old, term, index),
            Phase::Rejoined {
                old,
                index,
                rival,
                rival_term,
            } => overwrite(cluster, old, index, rival, rival_term),
            Phase::Done => None,
        }
    };
    if let (Some(phase), Some(script)) = (next, cluster.figure8.as_mut()) {
        script.phase = phase;
        script.since = cluster.now;
    }
    cluster.schedule(POLL_US, Event::Fault(Fault::Figure8Step));
}

fn cut_both_ways(cluster: &mut Cluster, id: NodeId) {
    let others: Vec<NodeId> = cluster.nodes.keys().copied().filter(|&o| o != id).collect();
    for other in others {
        cluster.net.cut.extend([(id, other), (other, id)]);
    }
}

fn heal(cluster: &mut Cluster, id: NodeId) {
    cluster.net.cut.retain(|&(a, b)| a != id && b != id);
}

/// Step 1, once every voter holds exactly the leader's committed log.
fn isolate_old_leader(cluster: &mut Cluster) -> Option<Phase> {
    let old = current_leader(cluster)?;
    let raw = cluster.nodes[&old].raw.as_ref()?;
    let (last, term) = (raw.last_index(), raw.term());
    let conf = raw.conf_state().clone();
    let settled = raw.commit_index() == last
        && !conf.is_joint()
        && conf.voters.len() >= 3
        && conf.voters.iter().all(|id| {
            let node = &cluster.nodes[id];
            node.outstanding.is_none()
                && node.raw.as_ref().is_some_and(|r| {
                    r.last_index() == last && LogStore::last_index(r.store()) == last
                })
        });
    if !settled {
        return None;
    }
    cut_both_ways(cluster, old);
    let entry = cluster.node(old).raw().propose(Bytes::new()).ok()?;
    cluster.after_input(old);
    Some(Phase::Isolated {
        old,
        term,
        index: entry.index,
    })
}

/// Step 2: a rival leads a later term with its own entry durable at
/// `index`; cut it off and let the old leader back.
fn cut_rival(cluster: &mut Cluster, old: NodeId, term: Term, index: Index) -> Option<Phase> {
    let rival = cluster.nodes.values().find_map(|node| {
        let raw = node.raw.as_ref()?;
        let durable = LogStore::last_index(raw.store()) >= index;
        let own = raw.term_at(index) == Some(raw.term());
        (node.id != old && raw.role() == Role::Leader && raw.term() > term && durable && own)
            .then_some((node.id, raw.term()))
    })?;
    let (rival, rival_term) = rival;
    cut_both_ways(cluster, rival);
    heal(cluster, old);
    cluster
        .net
        .cut
        .retain(|&(a, b)| (a, b) != (old, rival) && (a, b) != (rival, old));
    cluster.net.cut.extend([(old, rival), (rival, old)]);
    Some(Phase::Rejoined {
        old,
        index,
        rival,
        rival_term,
    })
}

/// Step 4, once the old leader (in a later term) committed and applied
/// its old entry, or the step timed out waiting for that.
fn overwrite(
    cluster: &mut Cluster,
    old: NodeId,
    index: Index,
    rival: NodeId,
    rival_term: Term,
) -> Option<Phase> {
    let node = &cluster.nodes[&old];
    let raw = node.raw.as_ref()?;
    let committed = raw.role() == Role::Leader
        && raw.term() > rival_term
        && raw.commit_index() >= index
        && node.kv_applied >= index;
    let waited = cluster.now > cluster.figure8.as_ref()?.since + STEP_TIMEOUT_US / 2;
    if !committed && !waited {
        return None;
    }
    heal(cluster, rival);
    cut_both_ways(cluster, old);
    Some(Phase::Done)
}

/// The script's hold on leader messages: `false` drops `m`. While A is
/// cut off, no leader's entries spread; once A is back, only A's entries
/// up to its old one do.
pub fn filter(cluster: &mut Cluster, m: &mut Message) -> bool {
    let Some(script) = &cluster.figure8 else {
        return true;
    };
    let leader_message = matches!(
        m.body,
        MessageBody::AppendRequest(_) | MessageBody::Heartbeat(_) | MessageBody::InstallSnapshot(_)
    );
    match script.phase {
        Phase::Isolated { .. } => !leader_message,
        Phase::Rejoined { old, index, .. } if m.from == old => {
            if let MessageBody::AppendRequest(req) = &mut m.body {
                req.entries.retain(|e| e.index <= index);
            }
            true
        }
        Phase::Rejoined { .. } => !leader_message,
        Phase::Waiting | Phase::Done => true,
    }
}
